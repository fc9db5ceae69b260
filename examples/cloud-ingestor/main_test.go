package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/transport"
	kpulsar "github.com/kiln-iot/kiln/transport/pulsar"
	"github.com/kiln-iot/kiln/transport/pulsartest"
	"github.com/kiln-iot/kiln/transport/wire"
)

// childArgs, when set, makes the test binary run the service with these
// arguments (one per line) instead of the tests.
const childArgs = "KILN_CLOUD_INGESTOR_ARGS"

func TestMain(m *testing.M) {
	if a, ok := os.LookupEnv(childArgs); ok {
		os.Args = append([]string{"cloud-ingestor"}, strings.Split(a, "\n")...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(pgtest.Wrap(m),
		goleak.IgnoreTopFunction("github.com/apache/pulsar-client-go/pulsar.(*partitionProducer).failTimeoutMessages"))
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// plant is the test's world: a broker, a database, a registry file and
// an ingestor configuration file.
type plant struct {
	t      *testing.T
	broker *pulsartest.Broker
	db     pgtest.DB
	admin  *pgx.Conn
	config string
}

var plantTopics = []struct{ tenant, ns string }{{"acme", "plant-1"}, {"globex", "main"}, {"initech", "line-a"}}

func newPlant(t *testing.T, ingest string) *plant {
	t.Helper()
	p := &plant{t: t, db: pgtest.NewDB(t)}
	b, err := pulsartest.New(pulsartest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	p.broker = b
	dir := t.TempDir()
	reg := "tenants:\n"
	for _, tp := range plantTopics {
		reg += fmt.Sprintf("  - {id: %s, namespaces: [%s]}\n", tp.tenant, tp.ns)
	}
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.config = write("ingestor.yaml", fmt.Sprintf(`tenants: %s
pulsar:
  url: %s
  nack_delay: 20ms
store:
  postgres:
    dsn: %q
    max_conns: 2
ingest:
%s
http:
  listen: 127.0.0.1:0
log:
  level: debug
`, write("tenants.yaml", reg), b.URL(), p.db.DSN, ingest))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if p.admin, err = pgx.Connect(ctx, p.db.AdminDSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.admin.Close(context.Background()) })
	return p
}

func (p *plant) query(sql string) int {
	p.t.Helper()
	var n int
	if err := p.admin.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

func (p *plant) rows() int { return p.query("SELECT count(*) FROM kiln_samples") }

func (p *plant) backlog() uint64 {
	var n uint64
	for _, tp := range plantTopics {
		st, _ := p.broker.Stats(fmt.Sprintf("persistent://%s/%s/samples", tp.tenant, tp.ns))
		n += st.Subscriptions["kiln-ingestor"].Backlog
	}
	return n
}

// publish publishes messages first … first+n-1 of 100 samples to every
// tenant's topic and waits for the receipts.
func (p *plant) publish(first, n int) {
	p.t.Helper()
	for _, tp := range plantTopics {
		pub, err := kpulsar.NewPublisher(kpulsar.PublisherConfig{
			Client: kpulsar.ClientConfig{URL: p.broker.URL(), Retry: backoff.Config{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}},
			Topic:  fmt.Sprintf("persistent://%s/%s/samples", tp.tenant, tp.ns), ProducerName: "gw-" + tp.ns,
		})
		if err != nil {
			p.t.Fatal(err)
		}
		var msgs []transport.Message
		for m := first; m < first+n; m++ {
			b := &wire.Batch{Source: "gw-" + tp.ns, Tenant: tp.tenant, Seq: uint64(m + 1)}
			for i := m * 100; i < m*100+100; i++ {
				b.Samples = append(b.Samples, plc.Sample{Tag: fmt.Sprintf("%s.T%d", tp.tenant, i%20),
					Value: plc.IntValue(plc.DInt, int64(i)), Quality: plc.Good, Time: t0.Add(time.Duration(i) * time.Millisecond)})
			}
			msgs = append(msgs, wire.ToMessage(b, nil))
		}
		var wg sync.WaitGroup
		wg.Add(len(msgs))
		if err := pub.Publish(context.Background(), msgs, func(i int, err error) {
			if err != nil {
				p.t.Errorf("publish %d: %v", i, err)
			}
			wg.Done()
		}); err != nil {
			p.t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			p.t.Fatalf("%s: receipts missing after a minute", tp.tenant)
		}
		_ = pub.Close()
	}
}

// child is the service running as a child process.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr chan string
	exit chan error
	mu   sync.Mutex
	log  []string
}

func (p *plant) start() *child {
	p.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"=-config\n"+p.config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	c := &child{t: p.t, cmd: cmd, addr: make(chan string, 1), exit: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.log = append(c.log, line)
			c.mu.Unlock()
			var e struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "http: serving" {
				c.addr <- e.URL
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		c.exit <- cmd.Wait()
	}()
	p.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.exit
		}
	})
	select {
	case a := <-c.addr:
		c.addr <- a
	case err := <-c.exit:
		p.t.Fatalf("ingestor exited at start: %v\n%s", err, c.logText())
	case <-time.After(30 * time.Second):
		p.t.Fatalf("ingestor not listening within 30s\n%s", c.logText())
	}
	return c
}

func (c *child) logText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

func (c *child) url(path string) string {
	a := <-c.addr
	c.addr <- a
	return a + path
}

func (c *child) get(path string) (int, string) {
	c.t.Helper()
	resp, err := http.Get(c.url(path))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric sums the samples of a metric family on /metrics.
func (c *child) metric(name string) float64 {
	c.t.Helper()
	_, text := c.get("/metrics")
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				sum += f
			}
		}
	}
	return sum
}

func (c *child) signal(sig syscall.Signal) error {
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
	select {
	case err := <-c.exit:
		return err
	case <-time.After(60 * time.Second):
		c.t.Fatalf("ingestor did not exit within 60s of %v\n%s", sig, c.logText())
		return nil
	}
}

// waitFor polls cond for up to a minute; on failure it shows the logs of
// the children given.
func waitFor(t *testing.T, what string, cond func() bool, children ...*child) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, c := range children {
				t.Logf("ingestor log:\n%s", c.logText())
			}
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkExact asserts every tenant has exactly its own n rows.
func (p *plant) checkExact(n int) {
	p.t.Helper()
	for _, tp := range plantTopics {
		got := p.query(fmt.Sprintf("SELECT count(*) FROM kiln_samples WHERE tenant = '%s'", tp.tenant))
		foreign := p.query(fmt.Sprintf("SELECT count(*) FROM kiln_samples WHERE tenant = '%s' AND tag NOT LIKE '%s.%%'", tp.tenant, tp.tenant))
		if got != n || foreign != 0 {
			p.t.Errorf("tenant %s: %d rows (%d with another tenant's tags), want %d", tp.tenant, got, foreign, n)
		}
	}
}

// TestKilledMidBatchAndRestartedStillExact holds the sample table locked
// while the service writes a batch, SIGKILLs it in the middle of that
// transaction with more messages received and unacknowledged, and starts
// it again: every sample ends up stored once.
func TestKilledMidBatchAndRestartedStillExact(t *testing.T) {
	p := newPlant(t, "  max_batch_samples: 1000\n  max_batch_delay: 20ms")
	c := p.start()
	p.publish(0, 50) // 5000 samples per tenant
	waitFor(t, "first part written", func() bool { return p.rows() == 15_000 }, c)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lock, err := p.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "LOCK TABLE kiln_samples IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	p.publish(50, 50)
	// The service's INSERT waits for the lock: it is mid-batch.
	lockers := "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'kiln_samples' AND NOT l.granted"
	var waiting int
	waitFor(t, "a batch write blocked", func() bool {
		waiting = p.queryIn(lock, lockers)
		return waiting > 0
	})
	if held := c.metric("kiln_ingest_pending_messages"); held == 0 {
		t.Fatalf("no messages held when killed")
	}
	if err := c.signal(syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: exit status 0")
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := p.rows(); n != 15_000 {
		t.Fatalf("%d rows after the kill, want 15000 (the killed batch committed?)", n)
	}

	c = p.start()
	waitFor(t, "everything written after the restart", func() bool { return p.rows() >= 30_000 && p.backlog() == 0 }, c)
	if code, body := c.get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	_, metrics := c.get("/metrics")
	for _, name := range []string{`kiln_ingest_rows_total{tenant="acme"}`, `kiln_ingest_batch_seconds_bucket{tenant="globex"`,
		`kiln_ingest_lag_seconds{tenant="initech"}`, `kiln_ingest_duplicate_samples_total{tenant="acme"}`, "go_goroutines"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if err := c.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, c.logText())
	}
	p.checkExact(10_000)
}

func (p *plant) queryIn(tx pgx.Tx, sql string) int {
	p.t.Helper()
	var n int
	if err := tx.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

// TestSIGTERMWritesWhatItHoldsAndExits gives the service batches it would
// hold for an hour, then SIGTERM: it writes and acknowledges them, and
// exits 0.
func TestSIGTERMWritesWhatItHoldsAndExits(t *testing.T) {
	p := newPlant(t, "  max_batch_samples: 1000000\n  max_batch_delay: 1h")
	c := p.start()
	waitFor(t, "healthy", func() bool { code, _ := c.get("/healthz"); return code == http.StatusOK })
	p.publish(0, 20)
	waitFor(t, "all held", func() bool { return c.metric("kiln_ingest_pending_messages") == 60 }, c)
	if n := p.rows(); n != 0 {
		t.Fatalf("%d rows written before the batch was due", n)
	}
	if err := c.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, c.logText())
	}
	p.checkExact(2000)
	if b := p.backlog(); b != 0 {
		t.Errorf("backlog %d after the drain: messages were not acknowledged", b)
	}
	if log := c.logText(); !strings.Contains(log, `"ingest: draining"`) || !strings.Contains(log, `"stopped"`) {
		t.Errorf("log lacks the drain:\n%s", log)
	}
}
