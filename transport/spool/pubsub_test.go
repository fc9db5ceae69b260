package spool

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kiln-iot/kiln/transport"
)

func msg(i int) transport.Message {
	return transport.Message{
		Key:        "gw-" + strconv.Itoa(i%3),
		Payload:    []byte("payload " + strconv.Itoa(i)),
		Properties: map[string]string{"content-type": "text/plain", "n": strconv.Itoa(i)},
		EventTime:  time.Unix(1_700_000_000, int64(i)),
	}
}

func publish(t *testing.T, p transport.Publisher, from, n int) {
	t.Helper()
	var msgs []transport.Message
	for i := from; i < from+n; i++ {
		msgs = append(msgs, msg(i))
	}
	confirmed := make([]bool, n)
	if err := p.Publish(context.Background(), msgs, func(i int, err error) {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
		confirmed[i] = true
	}); err != nil {
		t.Fatal(err)
	}
	for i, c := range confirmed {
		if !c {
			t.Fatalf("message %d not confirmed when Publish returned", i)
		}
	}
}

func receive(t *testing.T, sub transport.Subscriber) transport.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := sub.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func sameMsg(t *testing.T, got transport.Message, i int) {
	t.Helper()
	want := msg(i)
	if got.Key != want.Key || string(got.Payload) != string(want.Payload) || !got.EventTime.Equal(want.EventTime) ||
		len(got.Properties) != 2 || got.Properties["n"] != want.Properties["n"] {
		t.Fatalf("message %d: got %+v", i, got)
	}
}

func TestPublisherSubscriberAckNackAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, testConfig(dir))
	pub := NewPublisher(s)
	publish(t, pub, 0, 5)
	sub, err := NewSubscriber(s)
	if err != nil {
		t.Fatal(err)
	}
	var ds []transport.Delivery
	for i := range 5 {
		d := receive(t, sub)
		sameMsg(t, d.Message(), i)
		ds = append(ds, d)
	}
	// acks out of order: the cursor moves over the acked prefix only
	ds[1].Ack()
	ds[2].Ack()
	if st := s.Stats(); st.Records != 5 {
		t.Fatalf("cursor moved past an unacked message: %+v", st)
	}
	ds[0].Ack()
	if st := s.Stats(); st.Records != 2 {
		t.Fatalf("cursor after acking 0..2: %+v", st)
	}
	// a nacked message comes again, before newer ones
	ds[3].Nack()
	publish(t, pub, 5, 1)
	d := receive(t, sub)
	sameMsg(t, d.Message(), 3)
	if d.Redeliveries() != 1 {
		t.Fatalf("redeliveries %d", d.Redeliveries())
	}
	d5 := receive(t, sub)
	sameMsg(t, d5.Message(), 5)
	d.Ack()
	// Close with 4 and 5 unacked; a restart delivers them again
	sub.Close()
	pub.Close()
	if err := ds[4].Ack(); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("ack after Close: %v", err)
	}
	s.Close()
	s = mustOpen(t, testConfig(dir))
	sub, err = NewSubscriber(s)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sameMsg(t, receive(t, sub).Message(), 4)
	sameMsg(t, receive(t, sub).Message(), 5)
}

func TestReceiveWaitsForPublishAndHonoursContext(t *testing.T) {
	s := mustOpen(t, testConfig(t.TempDir()))
	sub, err := NewSubscriber(s)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sub.Receive(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive on empty spool with done ctx: %v", err)
	}
	got := make(chan transport.Delivery, 1)
	go func() {
		d, err := sub.Receive(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	pub := NewPublisher(s)
	defer pub.Close()
	publish(t, pub, 7, 1)
	sameMsg(t, (<-got).Message(), 7)
}

func TestPublisherCloseEndsBlockedPublish(t *testing.T) {
	s := mustOpen(t, Config{Dir: t.TempDir(), SegmentBytes: 4096, MaxBytes: 8192})
	pub := NewPublisher(s)
	for i := 0; ; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := pub.Publish(ctx, []transport.Message{msg(i)}, func(int, error) {}); err != nil {
			break
		}
	}
	errc := make(chan error, 1)
	go func() {
		errc <- pub.Publish(context.Background(), []transport.Message{msg(0)}, func(int, error) {
			t.Error("done called for a message not stored")
		})
	}()
	time.Sleep(10 * time.Millisecond) // let it block; Close must end it either way
	pub.Close()
	if err := <-errc; !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("blocked Publish after Close: %v", err)
	}
	if err := pub.Publish(context.Background(), []transport.Message{msg(0)}, nil); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
}

func TestMetricsReportState(t *testing.T) {
	s := mustOpen(t, testConfig(t.TempDir()))
	appendN(t, s, 0, 7)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	want := `
# HELP kiln_spool_appended_records_total Records appended.
# TYPE kiln_spool_appended_records_total counter
kiln_spool_appended_records_total 7
# HELP kiln_spool_depth_records Unacknowledged records in the spool.
# TYPE kiln_spool_depth_records gauge
kiln_spool_depth_records 7
# HELP kiln_spool_fsyncs_total Data fsyncs.
# TYPE kiln_spool_fsyncs_total counter
kiln_spool_fsyncs_total 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kiln_spool_depth_records", "kiln_spool_appended_records_total", "kiln_spool_fsyncs_total"); err != nil {
		t.Fatal(err)
	}
	maxWant := fmt.Sprintf("# HELP kiln_spool_max_bytes The spool's size cap (Config.MaxBytes), for alerts on how full it is.\n# TYPE kiln_spool_max_bytes gauge\nkiln_spool_max_bytes %d\n", s.cfg.MaxBytes)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(maxWant), "kiln_spool_max_bytes"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 14 {
		t.Fatalf("%d metrics, %v", n, err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(AppendMessage(nil, msg(1)))
	f.Add(AppendMessage(nil, transport.Message{}))
	f.Add([]byte{0x1a, 0x03, 0x0a, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		again, err := DecodeMessage(AppendMessage(nil, m))
		if err != nil || again.Key != m.Key || string(again.Payload) != string(m.Payload) || len(again.Properties) != len(m.Properties) || !again.EventTime.Equal(m.EventTime) {
			t.Fatalf("re-encoding changed %+v into %+v (%v)", m, again, err)
		}
	})
}
