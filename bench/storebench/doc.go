//go:build linux

// Command storebench measures how fast samples go into PostgreSQL: kiln's
// exactly-once write path (pgstore.WriteBatches, each batch with its
// identity) against a raw COPY into a plain table
// (the ceiling) and batched multi-row INSERT … ON CONFLICT DO NOTHING (the
// usual alternative), with the same rows, in one run, on one throwaway
// server. It prints a table of rows/s.
//
//	go run ./bench/storebench -n 1000000 -tags 100000 -batch 1000
//
// With -queries it measures the trend queries instead (Aggregate and
// LatestOf on pgstore and sqlitestore, among 100,000 other tags) and
// prints their latency percentiles:
//
//	go run ./bench/storebench -queries -runs 50
package main
