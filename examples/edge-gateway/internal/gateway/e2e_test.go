package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/breaker"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/ingest"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/pgstore"
	"github.com/kiln-iot/kiln/tenant"
	"github.com/kiln-iot/kiln/transport"
	"github.com/kiln-iot/kiln/transport/command"
	"github.com/kiln-iot/kiln/transport/forward"
	"github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.Wrap(m),
		// The Pulsar client's send-timeout goroutine outlives Close by up
		// to the send timeout (pulsar-client-go v0.19.0).
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"),
		// After a broker restart a producer may keep a second reconnect
		// attempt waiting in its retry backoff past Close (same version).
		goleak.IgnoreAnyFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).reconnectToBroker"))
}

const (
	tenantID  = "acme"
	token     = "s3cret-token"
	dataTopic = "persistent://acme/plant/samples"
	cmdTopic  = "persistent://acme/plant/commands"
	audTopic  = "persistent://acme/plant/audit"
)

// eventually polls cond every 50ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// observer watches the cloud side: a subscription of its own on the data
// topic checks that every tag's samples arrive in order, one on the audit
// topic collects the audit records. (The cloud ingestor stores the
// samples.)
type observer struct {
	mu        sync.Mutex
	seen      map[string]time.Time // per tag: newest source time received
	stored    map[[2]string]bool
	received  int // distinct samples received
	redeliver int // samples received again
	disorder  []string
	audits    []command.Audit
	foreign   []string // messages on a topic that should not hold them
}

// on returns a handler for one topic that accepts only messages of kind.
func (in *observer) on(topic string, kind command.MessageKind) func(context.Context, transport.Message) error {
	return func(ctx context.Context, m transport.Message) error {
		if command.Kind(m) != kind {
			in.mu.Lock()
			in.foreign = append(in.foreign, topic+": "+m.Properties[wire.PropContentType])
			in.mu.Unlock()
			return nil
		}
		return in.handle(ctx, m)
	}
}

func (in *observer) handle(ctx context.Context, m transport.Message) error {
	switch command.Kind(m) {
	case command.KindBatch:
		var b wire.Batch
		if err := wire.FromMessage(m, &b); err != nil {
			return err
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		for _, s := range b.Samples {
			k := [2]string{s.Tag, s.Time.Format(time.RFC3339Nano)}
			if in.stored[k] {
				in.redeliver++
				continue
			}
			in.stored[k] = true
			in.received++
			if last, ok := in.seen[s.Tag]; ok && !s.Time.After(last) {
				in.disorder = append(in.disorder, fmt.Sprintf("%s: %v after %v", s.Tag, s.Time, last))
			}
			in.seen[s.Tag] = s.Time
		}
	case command.KindAudit:
		a, err := command.DecodeAudit(m)
		if err != nil {
			return err
		}
		in.mu.Lock()
		in.audits = append(in.audits, a)
		in.mu.Unlock()
	}
	return nil
}

func (in *observer) audit(id string) (command.Audit, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, a := range in.audits {
		if a.RequestID == id {
			return a, true
		}
	}
	return command.Audit{}, false
}

// rows counts the tenant's stored samples in PostgreSQL.
func rows(t *testing.T, ctx context.Context, st *pgstore.Store) int {
	t.Helper()
	tags, err := st.Tags(ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tag := range tags {
		s, err := st.Range(ctx, tenantID, tag, time.Unix(0, 0), time.Now().Add(time.Hour), 100_000)
		if err != nil {
			t.Fatal(err)
		}
		n += len(s)
	}
	return n
}

type httpResult struct {
	code  int
	audit command.Audit
}

func postWrite(t *testing.T, base, tok, tag string, value any) httpResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"value": value, "who": "test"})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/tags/"+tag+"/write", bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a command.Audit
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return httpResult{resp.StatusCode, a}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// TestEndToEnd drives the whole path in one process: plcsim (S7 and OPC UA)
// → gateway (poller, subscription, spool, forwarder) → pulsartest →
// cloud ingestor → PostgreSQL, through a broker outage, with writes over HTTP
// and the command topic.
func TestEndToEnd(t *testing.T) {
	pg := pgtest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	st, err := pgstore.Open(ctx, pgstore.Config{DSN: pg.DSN})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	broker, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	// The plant, its signals moving until phase 4.
	plant, err := sim.New(sim.Config{Seed: 3}, sim.KilnLine())
	if err != nil {
		t.Fatal(err)
	}
	defer plant.Close()
	plantCtx, stopPlant := context.WithCancel(ctx)
	plantDone := make(chan struct{})
	go func() { defer close(plantDone); _ = plant.Serve(plantCtx) }()
	defer func() { stopPlant(); <-plantDone }()

	// The tag file: the plant's point database without devices (the
	// gateway's configuration declares them, the OPC UA one subscribed)
	// and without full refreshes, so a frozen plant sends nothing more.
	db, err := plant.PointDB()
	if err != nil {
		t.Fatal(err)
	}
	devices := db.Devices
	db.Devices = nil
	for i := range db.Groups {
		db.Groups[i].FullRefresh = plc.NoFullRefresh
	}
	dir := t.TempDir()
	tagFile := filepath.Join(dir, "tags.yaml")
	var buf bytes.Buffer
	if err := sim.WritePointDB(&buf, db); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tagFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	fast := backoff.Config{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond}
	client := pulsar.ClientConfig{URL: broker.URL(), KeepAlive: time.Second, Retry: fast}
	cfg := config.Config{
		ID: "gw-e2e", Tenant: tenantID, Token: token, Demo: config.DemoOff, DataDir: dir,
		Devices: []config.Device{
			{Name: devices[0].Name, Driver: devices[0].Driver, Endpoint: devices[0].Endpoint},
			{Name: devices[1].Name, Driver: devices[1].Driver, Endpoint: devices[1].Endpoint, Options: devices[1].Options,
				Subscribe: true, PublishingInterval: 100 * time.Millisecond},
		},
		TagFiles: []string{tagFile},
		Transport: config.Transport{
			Kind:         config.TransportPulsar,
			Pulsar:       pulsar.PublisherConfig{Client: client, Topic: dataTopic, SendTimeout: 2 * time.Second},
			CommandTopic: cmdTopic,
			Forward: forward.Config{ConfirmTimeout: 3 * time.Second, Retry: fast,
				Breaker: breaker.Config{Failures: 3, OpenFor: 500 * time.Millisecond}},
		},
		HTTP: config.HTTP{Listen: "127.0.0.1:0"},
	}
	g, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gctx, stopGateway := context.WithCancel(ctx)
	gwDone := make(chan error, 1)
	go func() { gwDone <- g.Serve(gctx) }()
	defer func() {
		stopGateway()
		if err := <-gwDone; err != nil {
			t.Errorf("gateway Serve: %v", err)
		}
	}()
	base := "http://" + g.Addr()

	// The cloud ingestor (examples/cloud-ingestor) stores the samples.
	reg, err := tenant.Parse("tenants.yaml", []byte("tenants:\n  - id: acme\n    namespaces: [plant]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ing, err := ingest.New(ingest.Config{MaxBatchDelay: 50 * time.Millisecond, Retry: fast}, reg, st,
		func(_ context.Context, topic string) (transport.Subscriber, error) {
			return pulsar.NewSubscriber(pulsar.SubscriberConfig{Client: client, Topic: topic, Subscription: "kiln-ingestor",
				Type: pulsar.Shared, Earliest: true, NackDelay: 200 * time.Millisecond})
		},
		func(_ context.Context, topic string) (transport.Publisher, error) {
			return pulsar.NewPublisher(pulsar.PublisherConfig{Client: client, Topic: topic, ProducerName: "ingestor"})
		})
	if err != nil {
		t.Fatal(err)
	}
	ingCtx, stopIng := context.WithCancel(ctx)
	ingDone := make(chan error, 1)
	go func() { ingDone <- ing.Serve(ingCtx) }()
	defer func() {
		stopIng()
		if err := <-ingDone; err != nil {
			t.Errorf("ingestor: %v", err)
		}
	}()

	in := &observer{seen: map[string]time.Time{}, stored: map[[2]string]bool{}}
	sub, err := pulsar.NewSubscriber(pulsar.SubscriberConfig{Client: client, Topic: dataTopic, Subscription: "observer",
		Type: pulsar.Failover, Earliest: true, NackDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	asub, err := pulsar.NewSubscriber(pulsar.SubscriberConfig{Client: client, Topic: audTopic, Subscription: "audit",
		Type: pulsar.Failover, Earliest: true, NackDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	subCtx, stopSub := context.WithCancel(ctx)
	subDone := make(chan struct{}, 2)
	go func() {
		defer func() { subDone <- struct{}{} }()
		_ = sub.Serve(subCtx, in.on(dataTopic, command.KindBatch))
	}()
	go func() {
		defer func() { subDone <- struct{}{} }()
		_ = asub.Serve(subCtx, in.on(audTopic, command.KindAudit))
	}()
	defer func() { stopSub(); <-subDone; <-subDone; _ = sub.Close(); _ = asub.Close() }()

	// Phase 1: the path is up; data flows.
	eventually(t, 20*time.Second, "/healthz ready", func() bool { return getJSON(t, base+"/healthz", nil) == http.StatusOK })
	eventually(t, 20*time.Second, "rows in PostgreSQL", func() bool { return rows(t, ctx, st) > 50 })
	var values struct {
		Values []struct {
			Tag   string          `json:"tag"`
			Value json.RawMessage `json:"value"`
			Good  bool            `json:"good"`
			AgeMS *int64          `json:"age_ms"`
		} `json:"values"`
	}
	getJSON(t, base+"/api/values", &values)
	good := 0
	for _, v := range values.Values {
		if v.Good && v.AgeMS != nil {
			good++
		}
	}
	if good != len(db.Tags) {
		t.Errorf("%d of %d tags read good: %+v", good, len(db.Tags), values.Values)
	}

	// Phase 2: writes.
	before := plant.Writes()
	for _, c := range []struct {
		tag   string
		value any
		tok   string
		code  int
		kind  string
	}{
		{"Kiln1.Zone1.Temp", 900, token, http.StatusForbidden, "read_only"},
		{"Kiln1.Zone1.Setpoint", 5000, token, http.StatusUnprocessableEntity, "out_of_limits"},
		{"Kiln1.Zone1.Setpoint", "hot", token, http.StatusBadRequest, "bad_value"},
		{"Kiln1.Zone1.Setpoint", 900, "wrong", http.StatusUnauthorized, "unauthorized"},
		{"Kiln1.Nope", 1, token, http.StatusNotFound, "unknown_tag"},
	} {
		r := postWrite(t, base, c.tok, c.tag, c.value)
		if r.code != c.code || r.audit.Code != c.kind || r.audit.Result == "" || r.audit.Result == "ok" {
			t.Errorf("write %s=%v: %d %+v; want %d %s", c.tag, c.value, r.code, r.audit, c.code, c.kind)
		}
	}
	if plant.Writes() != before {
		t.Fatalf("refused writes reached the PLC: %d writes, want %d", plant.Writes(), before)
	}
	if v, _ := plant.Get("Kiln1.Zone1.Setpoint"); v.Float() != 850 {
		t.Fatalf("setpoint moved by refused writes: %v", v)
	}
	r := postWrite(t, base, token, "Kiln1.Zone1.Setpoint", 905.5)
	if r.code != http.StatusOK || r.audit.Code != "ok" || string(r.audit.ReadBack) != "905.5" || string(r.audit.Old) != "850" {
		t.Fatalf("HTTP write: %d %+v", r.code, r.audit)
	}
	if v, _ := plant.Get("Kiln1.Zone1.Setpoint"); v.Float() != 905.5 {
		t.Fatalf("PLC setpoint after HTTP write: %v", v)
	}

	// Over the command topic: one good write (to a tag read through OPC
	// UA), one with a wrong token.
	eventually(t, 20*time.Second, "command topic subscribed", func() bool {
		var s struct {
			Commands *bool `json:"commands_subscribed"`
		}
		getJSON(t, base+"/api/status", &s)
		return s.Commands != nil && *s.Commands
	})
	pub, err := pulsar.NewPublisher(pulsar.PublisherConfig{Client: client, Topic: cmdTopic, ProducerName: "ui"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	send := func(req command.Request, age time.Duration) {
		t.Helper()
		m, err := command.RequestMessage(req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m.EventTime = m.EventTime.Add(-age)
		done := make(chan error, 1)
		if err := pub.Publish(ctx, []transport.Message{m}, func(_ int, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	send(command.Request{ID: "cmd-bad", Token: "nope", Who: "ui", Tag: "Line1.Fan1.SpeedSetpoint", Value: json.RawMessage("2400")}, 0)
	send(command.Request{ID: "cmd-old", Token: token, Who: "ui", Tag: "Line1.Fan1.SpeedSetpoint", Value: json.RawMessage("2500")}, 10*time.Minute)
	send(command.Request{ID: "cmd-1", Token: token, Who: "ui", Tag: "Line1.Fan1.SpeedSetpoint", Value: json.RawMessage("1800")}, 0)
	// Closed before the outage, so the client does not linger
	// reconnecting.
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	var a command.Audit
	eventually(t, 20*time.Second, "the command's audit record", func() (ok bool) { a, ok = in.audit("cmd-1"); return ok })
	if a.Code != "ok" || a.Channel != "command" || a.Who != "ui" || string(a.ReadBack) != "1800" {
		t.Fatalf("command audit: %+v", a)
	}
	if v, _ := plant.Get("Line1.Fan1.SpeedSetpoint"); v.Float() != 1800 {
		t.Fatalf("PLC fan setpoint after the command: %v", v)
	}
	if bad, ok := in.audit("cmd-bad"); !ok || bad.Code != "unauthorized" {
		t.Fatalf("refused command's audit: %+v %v", bad, ok)
	}
	if old, ok := in.audit("cmd-old"); !ok || old.Code != "expired" {
		t.Fatalf("stale command's audit: %+v %v", old, ok)
	}
	if plant.Writes() != before+2 {
		t.Fatalf("the PLC took %d writes, want 2 (the HTTP and the good command)", plant.Writes()-before)
	}
	// The HTTP write's audit went through the spool too.
	eventually(t, 20*time.Second, "HTTP audit records in the cloud", func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		n := 0
		for _, a := range in.audits {
			if a.Channel == "http" {
				n++
			}
		}
		return n == 6
	})

	// Phase 3: the broker goes away for a while; the plant runs on.
	spooledBefore := g.Stats().SamplesSpooled
	broker.Stop()
	time.Sleep(2 * time.Second)
	if fs, _ := g.ForwarderStatus(); fs.Lag.Records == 0 {
		t.Errorf("no lag while the broker is down: %+v", fs)
	}
	if g.Stats().SamplesSpooled <= spooledBefore {
		t.Error("nothing spooled during the outage")
	}
	if err := broker.Restart(); err != nil {
		t.Fatal(err)
	}

	// Phase 4: freeze the plant; everything spooled must arrive, once.
	stopPlant()
	<-plantDone
	var spooled uint64
	eventually(t, 45*time.Second, "every spooled sample stored", func() bool {
		s := g.Stats().SamplesSpooled
		stable := s == spooled
		spooled = s
		fs, _ := g.ForwarderStatus()
		in.mu.Lock()
		observed := in.received
		in.mu.Unlock()
		return stable && fs.Lag.Records == 0 && rows(t, ctx, st) == int(s) && observed >= int(s)
	})
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.received != int(spooled) {
		t.Errorf("observer received %d distinct samples, gateway spooled %d", in.received, spooled)
	}
	if len(in.foreign) > 0 {
		t.Errorf("messages on the wrong topic: %v", in.foreign)
	}
	if len(in.disorder) > 0 {
		t.Errorf("%d samples out of order per tag, first: %s", len(in.disorder), in.disorder[0])
	}
	t.Logf("spooled %d samples, stored %d rows, %d redelivered copies dropped", spooled, rows(t, ctx, st), in.redeliver)
}
