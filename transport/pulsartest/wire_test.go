package pulsartest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"
)

// payload builds a Send payload: magic, CRC32C, metadata and data.
func payload(producer string, seq uint64, data []byte) []byte {
	meta := enc(nil).s(1, producer).u(2, seq).u(3, 1)
	rest := binary.BigEndian.AppendUint32(nil, uint32(len(meta)))
	rest = append(rest, meta...)
	rest = append(rest, data...)
	p := binary.BigEndian.AppendUint16(nil, magicCRC32C)
	p = binary.BigEndian.AppendUint32(p, crc32.Checksum(rest, castagnoli))
	return append(p, rest...)
}

func connectFrame() []byte { return frame(cmdConnect, enc(nil).s(1, "raw").i(4, 20), nil) }

// session is a raw protocol conversation: connect, producer, one send,
// subscribe, flow, ack, redeliver, ping, close.
func session() []byte {
	const topic = "persistent://public/default/raw"
	var b []byte
	b = append(b, connectFrame()...)
	b = append(b, frame(cmdPartitionedMetadata, enc(nil).s(1, topic).u(2, 1), nil)...)
	b = append(b, frame(cmdLookup, enc(nil).s(1, topic).u(2, 2), nil)...)
	b = append(b, frame(cmdProducer, enc(nil).s(1, topic).u(2, 1).u(3, 3).s(4, "p"), nil)...)
	b = append(b, frame(cmdSend, enc(nil).u(1, 1).u(2, 0), payload("p", 0, []byte("hello")))...)
	b = append(b, frame(cmdSubscribe, enc(nil).s(1, topic).s(2, "s").u(3, 1).u(4, 7).u(5, 4).u(13, 1), nil)...)
	b = append(b, frame(cmdFlow, enc(nil).u(1, 7).u(2, 100), nil)...)
	b = append(b, frame(cmdRedeliver, enc(nil).u(1, 7), nil)...)
	b = append(b, frame(cmdAck, enc(nil).u(1, 7).u(2, 0).m(3, msgID(ledgerID, 0, -1)).u(8, 9), nil)...)
	b = append(b, frame(cmdGetLastMessageID, enc(nil).u(1, 7).u(2, 5), nil)...)
	b = append(b, frame(cmdSeek, enc(nil).u(1, 7).u(2, 6).m(3, msgID(ledgerID, 0, -1)), nil)...)
	b = append(b, frame(cmdPing, nil, nil)...)
	b = append(b, frame(cmdCloseProducer, enc(nil).u(1, 1).u(2, 10), nil)...)
	return b
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(connectFrame()[4:])
	f.Add(frame(cmdSend, enc(nil).u(1, 1).u(2, 0), payload("p", 0, []byte("x")))[4:])
	f.Add(frame(cmdAck, enc(nil).u(1, 7).m(3, msgID(1, 2, -1)), nil)[4:])
	f.Add([]byte{0, 0, 0, 2, 8, 18})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeFrame(b)
		if err != nil {
			return
		}
		for _, fl := range c.body {
			if fl.typ == 2 {
				_, _ = c.body.subs(fl.num)
			}
		}
		if c.payload != nil {
			_, _ = parsePayload(c.payload)
		}
	})
}

// FuzzConnection feeds raw bytes to a broker connection: it must answer or
// hang up, never panic.
func FuzzConnection(f *testing.F) {
	f.Add(session())
	f.Add(connectFrame())
	f.Add(append(connectFrame(), 0, 0, 0, 1, 0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	b, err := New(Config{KeepAlive: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = b.Close() })
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		c := newConn(b, server)
		go c.serve()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_, _ = client.Write(in)
		_ = client.Close()
		<-c.done
	})
}

// rawConn dials b and completes the handshake.
func rawConn(t *testing.T, b *Broker) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(connectFrame()); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	if c := next(t, r); c.typ != cmdConnected || c.body.str(1) != serverVersion {
		t.Fatalf("handshake answered with command %d", c.typ)
	}
	return nc, r
}

func next(t *testing.T, r *bufio.Reader) command {
	t.Helper()
	c, _, err := readFrame(r, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBrokerPingsAndHangsUpOnSilentClient(t *testing.T) {
	b := newTestBroker(t, Config{KeepAlive: 50 * time.Millisecond})
	nc, r := rawConn(t, b)
	if _, err := nc.Write(frame(cmdPing, nil, nil)); err != nil {
		t.Fatal(err)
	}
	sawPing, sawPong := false, false
	for {
		c, _, err := readFrame(r, nil, 1<<20)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("connection ended with %v, want EOF", err)
			}
			break
		}
		sawPing = sawPing || c.typ == cmdPing
		sawPong = sawPong || c.typ == cmdPong
	}
	if !sawPing || !sawPong {
		t.Fatalf("ping %v pong %v, want both before hang-up", sawPing, sawPong)
	}
}

func TestBadChecksumIsRefusedWithSendError(t *testing.T) {
	b := newTestBroker(t, Config{})
	nc, r := rawConn(t, b)
	const topic = "persistent://public/default/crc"
	_, _ = nc.Write(frame(cmdProducer, enc(nil).s(1, topic).u(2, 1).u(3, 1), nil))
	if c := next(t, r); c.typ != cmdProducerSuccess {
		t.Fatalf("producer answered with %d", c.typ)
	}
	p := payload("p", 0, []byte("data"))
	p[len(p)-1] ^= 0xff
	_, _ = nc.Write(frame(cmdSend, enc(nil).u(1, 1).u(2, 0), p))
	c := next(t, r)
	if c.typ != cmdSendError || ServerError(c.body.u64(3)) != ChecksumError {
		t.Fatalf("corrupt send answered with command %d error %d", c.typ, c.body.u64(3))
	}
	if st, _ := b.Stats(topic); st.Published != 0 {
		t.Fatalf("corrupt message stored")
	}
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	b := newTestBroker(t, Config{})
	nc, r := rawConn(t, b)
	_, _ = nc.Write([]byte{0, 0, 0, 3, 0, 0, 9})
	if _, _, err := readFrame(r, nil, 1<<20); err == nil {
		t.Fatal("connection survived a malformed frame")
	}
	rawConn(t, b) // the broker still serves
}

func TestCommandBeforeConnectHangsUp(t *testing.T) {
	b := newTestBroker(t, Config{})
	nc, err := net.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = nc.Write(frame(cmdPing, nil, nil))
	if _, _, err := readFrame(bufio.NewReader(nc), nil, 1<<20); err == nil {
		t.Fatal("broker answered a command sent before connect")
	}
}

func TestOversizedFrameRefused(t *testing.T) {
	_, _, err := readFrame(bufioFrom([]byte{0x7f, 0, 0, 0}), nil, 1<<20)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}

func bufioFrom(b []byte) *bufio.Reader {
	return bufio.NewReader(&byteReader{b})
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Unsubscribe is tested on the raw protocol: pulsar-client-go v0.19.0
// leaks a consumer's goroutines after Unsubscribe (Close then does nothing).
func TestUnsubscribeRemovesTheSubscription(t *testing.T) {
	b := newTestBroker(t, Config{})
	nc, r := rawConn(t, b)
	const topic = "persistent://public/default/unsub"
	_, _ = nc.Write(frame(cmdSubscribe, enc(nil).s(1, topic).s(2, "s").u(3, subShared).u(4, 1).u(5, 1), nil))
	_, _ = nc.Write(frame(cmdSubscribe, enc(nil).s(1, topic).s(2, "s").u(3, subShared).u(4, 2).u(5, 2), nil))
	for i := 0; i < 2; i++ {
		if c := next(t, r); c.typ != cmdSuccess {
			t.Fatalf("subscribe answered %d", c.typ)
		}
	}
	_, _ = nc.Write(frame(cmdUnsubscribe, enc(nil).u(1, 1).u(2, 3), nil))
	if c := next(t, r); c.typ != cmdError || ServerError(c.body.u64(2)) != ConsumerBusy {
		t.Fatalf("unsubscribe with another consumer answered %d", c.typ)
	}
	_, _ = nc.Write(frame(cmdCloseConsumer, enc(nil).u(1, 2).u(2, 4), nil))
	_, _ = nc.Write(frame(cmdUnsubscribe, enc(nil).u(1, 1).u(2, 5), nil))
	for i := 0; i < 2; i++ {
		if c := next(t, r); c.typ != cmdSuccess {
			t.Fatalf("close/unsubscribe answered %d", c.typ)
		}
	}
	if st, _ := b.Stats(topic); len(st.Subscriptions) != 0 {
		t.Fatalf("subscriptions after unsubscribe: %v", st.Subscriptions)
	}
}
