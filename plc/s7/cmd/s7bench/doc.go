// Command s7bench measures the S7 driver's request planner against the
// naive way of reading tags (one gos7 AGReadDB per tag), on a simulated
// PLC over loopback, and prints a table:
//
//	go run ./plc/s7/cmd/s7bench -tags 1000 -dbs 10 -pdu 480 -scans 50
package main
