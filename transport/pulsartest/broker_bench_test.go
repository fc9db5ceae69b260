package pulsartest

import (
	"bufio"
	"net"
	"testing"
)

// BenchmarkBrokerPath measures the broker alone: a raw producer
// connection sends unbatched 200-byte messages (pre-encoded frames) and
// reads their receipts, while a raw consumer connection receives every
// message and acknowledges cumulatively. ns/op is the broker's cost per
// message for the whole path (parse, checksum, store, receipt, dispatch,
// ack).
//
//	go test -run '^$' -bench BrokerPath -benchtime 200000x ./transport/pulsartest/
func BenchmarkBrokerPath(b *testing.B) {
	// Without deduplication: the pre-encoded frames repeat their sequence ids.
	br, err := New(Config{DisableDeduplication: true})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	const topic = "persistent://bench/ns/raw"
	dial := func() (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", br.Addr())
		if err != nil {
			b.Fatal(err)
		}
		r := bufio.NewReaderSize(nc, 64<<10)
		_, _ = nc.Write(connectFrame())
		if c, _, err := readFrame(r, nil, 1<<20); err != nil || c.typ != cmdConnected {
			b.Fatalf("handshake: %v", err)
		}
		return nc, r
	}
	pc, pr := dial()
	defer pc.Close()
	cc, cr := dial()
	defer cc.Close()
	_, _ = cc.Write(frame(cmdSubscribe, enc(nil).s(1, topic).s(2, "s").u(3, subExclusive).u(4, 1).u(5, 1), nil))
	if c, _, _ := readFrame(cr, nil, 1<<20); c.typ != cmdSuccess {
		b.Fatalf("subscribe answered %d", c.typ)
	}
	_, _ = cc.Write(frame(cmdFlow, enc(nil).u(1, 1).u(2, uint64(b.N)), nil))
	_, _ = pc.Write(frame(cmdProducer, enc(nil).s(1, topic).u(2, 1).u(3, 2).s(4, "p"), nil))
	if c, _, _ := readFrame(pr, nil, 1<<20); c.typ != cmdProducerSuccess {
		b.Fatalf("producer answered %d", c.typ)
	}
	frames := make([][]byte, 1024)
	for i := range frames {
		frames[i] = frame(cmdSend, enc(nil).u(1, 1).u(2, uint64(i)), payload("p", uint64(i), make([]byte, 200)))
	}
	b.SetBytes(200)
	b.ResetTimer()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		var buf []byte
		for i := 0; i < b.N; i++ {
			var c command
			c, buf, err = readFrame(cr, buf, 1<<20)
			if err != nil || c.typ != cmdMessage {
				b.Errorf("consumer: %v (command %d)", err, c.typ)
				return
			}
			if i%1000 == 999 || i == b.N-1 {
				id, _ := c.body.sub(2)
				_, _ = cc.Write(frame(cmdAck, enc(nil).u(1, 1).u(2, 1).m(3, msgID(ledgerID, id.u64(2), -1)), nil))
			}
		}
	}()
	go func() {
		w := bufio.NewWriterSize(pc, 64<<10)
		for i := 0; i < b.N; i++ {
			_, _ = w.Write(frames[i%len(frames)])
		}
		_ = w.Flush()
	}()
	var buf []byte
	for i := 0; i < b.N; i++ {
		var c command
		c, buf, err = readFrame(pr, buf, 1<<20)
		if err != nil || c.typ != cmdSendReceipt {
			b.Fatalf("receipt %d: %v (command %d)", i, err, c.typ)
		}
	}
	<-consumed
}
