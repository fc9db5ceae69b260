// Command s7bench measures the S7 driver's request planner against the
// naive way of reading tags (one gos7 AGReadDB per tag), on a simulated
// PLC over loopback, and prints a table:
//
//	go run ./plc/s7/cmd/s7bench -tags 1000 -dbs 10 -pdu 480 -scans 50
//
// With -latency 2ms -jobs 3 the simulated PLC answers each job after 2 ms
// and grants 3 jobs in flight, as an S7-1500 does; the planner then runs
// against it and against one granting a single job.
package main
