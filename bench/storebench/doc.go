// Command storebench measures how fast samples go into PostgreSQL: kiln's
// idempotent write path (pgstore) against a raw COPY into a plain table
// (the ceiling) and batched multi-row INSERT … ON CONFLICT DO NOTHING (the
// usual alternative), with the same rows, in one run, on one throwaway
// server. It prints a table of rows/s.
//
//	go run ./bench/storebench -n 1000000
package main
