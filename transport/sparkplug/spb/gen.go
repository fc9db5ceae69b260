package spb

// Regenerate sparkplug_b.pb.go from the schema. Needs protoc (Debian:
// protobuf-compiler); protoc-gen-go is built from the module's pinned
// google.golang.org/protobuf, as for transport/wire.
//go:generate go build -o protoc-gen-go.bin google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --plugin=protoc-gen-go=protoc-gen-go.bin --go_out=. --go_opt=paths=source_relative sparkplug_b.proto
//go:generate rm -f protoc-gen-go.bin
