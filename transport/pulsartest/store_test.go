package pulsartest

import (
	"bufio"
	"bytes"
	"testing"
	"time"
)

// FuzzLogRecords reads arbitrary bytes as a topic log: whole records
// decode and encode back to the same bytes, anything else ends the log,
// and nothing panics.
func FuzzLogRecords(f *testing.F) {
	e := entry{id: 7, data: payload("gw", 3, []byte("hello")), numMessages: 1, key: "k", publishTime: time.UnixMilli(1_700_000_000_000)}
	rec := encodeEntry(e, "gw", 3)
	f.Add(rec)
	f.Add(append(append([]byte(nil), rec...), rec[:11]...)) // torn tail
	f.Add(encodeEntry(entry{}, "", 0))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			body, err := readRecord(r)
			if err != nil {
				return
			}
			e, producer, seq, err := decodeEntry(body)
			if err != nil {
				return
			}
			if again := encodeEntry(e, producer, seq); !bytes.Equal(again[8:], body) {
				t.Fatalf("record %x re-encodes as %x", body, again[8:])
			}
		}
	})
}
