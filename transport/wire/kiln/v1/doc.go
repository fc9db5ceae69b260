// Package kilnv1 holds the Go types generated from batch.proto, the v1
// schema of kiln's sample batches. Other languages generate theirs from
// the same file. Go code normally uses package wire, whose encoder and
// decoder write and read this schema without these types' allocations.
package kilnv1
