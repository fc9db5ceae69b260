package pulsartest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/config"
)

// Config configures a Broker. The zero value is a broker on a random
// loopback port, without authentication, keeping messages in memory.
type Config struct {
	// Addr is the TCP address to listen on (default "127.0.0.1:0").
	Addr string `yaml:"addr"`
	// DataDir, when set, keeps topics, producer sequence ids and
	// subscription positions in files there, so they survive a restart of
	// the process (acknowledgements are saved every second). Empty keeps
	// them in memory only (they still survive Stop/Restart of the same
	// Broker). Nothing is fsynced: a killed process loses nothing, a
	// crashed machine may (see the package documentation).
	DataDir string `yaml:"data_dir"`
	// MaxMessageSize is announced to clients and bounds accepted frames
	// (default 5 MiB, as Pulsar's).
	MaxMessageSize int `yaml:"max_message_size"`
	// KeepAlive is how often the broker pings an idle client; a client
	// silent for twice as long is disconnected (default 30s).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// DisableDeduplication turns off broker-side deduplication by
	// producer name and sequence id (on by default).
	DisableDeduplication bool `yaml:"disable_deduplication"`
	// Auth enables token authentication and authorization when it has
	// tokens.
	Auth AuthConfig `yaml:"auth"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML path.
func (c Config) Validate() error {
	var p config.Problems
	if c.MaxMessageSize < 0 {
		p.Add("max_message_size", "%d is negative", c.MaxMessageSize)
	}
	if c.KeepAlive < 0 {
		p.Add("keep_alive", "%v is negative", c.KeepAlive)
	}
	p.Nest("auth", c.Auth.Validate())
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = 5 << 20
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 30 * time.Second
	}
	return c
}

// Option sets a code-only setting of a Broker.
type Option func(*Broker)

// WithLogger logs through l (default zap.NewNop()).
func WithLogger(l *zap.Logger) Option { return func(b *Broker) { b.log = l } }

// Errors of the Broker's own API.
var (
	ErrClosed  = errors.New("pulsartest: broker closed")
	ErrRunning = errors.New("pulsartest: broker already running")
	ErrStopped = errors.New("pulsartest: broker stopped")
)

// Broker is an in-process Pulsar broker speaking the binary protocol.
type Broker struct {
	cfg   Config
	log   *zap.Logger
	store *diskStore // nil without DataDir

	mu       sync.Mutex
	addr     string // bound address, fixed after the first start
	ln       net.Listener
	conns    map[*conn]struct{}
	topics   map[string]*topic
	closed   bool
	nextName uint64
	faults   faults
	acceptWG sync.WaitGroup
	connWG   sync.WaitGroup
	saverWG  sync.WaitGroup
	quit     chan struct{}
}

// faults are the injected failures in force.
type faults struct {
	receiptDelay    time.Duration
	withholdReceipt bool
	rejectSends     bool
}

// New starts a broker listening on cfg.Addr.
func New(cfg Config, opts ...Option) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:    cfg.withDefaults(),
		log:    zap.NewNop(),
		conns:  make(map[*conn]struct{}),
		topics: make(map[string]*topic),
		quit:   make(chan struct{}),
	}
	for _, o := range opts {
		o(b)
	}
	if b.cfg.DataDir != "" {
		s, topics, err := openDiskStore(b.cfg.DataDir)
		if err != nil {
			return nil, err
		}
		b.store = s
		for _, t := range topics {
			t.broker = b
			b.topics[t.name] = t
		}
	}
	if err := b.listen(b.cfg.Addr); err != nil {
		b.closeStore()
		return nil, err
	}
	if b.store != nil {
		b.saverWG.Add(1)
		go b.saveCursors()
	}
	return b, nil
}

// cursorSaveInterval is how often acknowledgements reach the data directory.
const cursorSaveInterval = time.Second

// saveCursors writes the subscriptions of topics with new acknowledgements
// every cursorSaveInterval, so a killed process redelivers at most about
// that much.
func (b *Broker) saveCursors() {
	defer b.saverWG.Done()
	t := time.NewTicker(cursorSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-t.C:
		}
		b.mu.Lock()
		ts := b.topicList()
		b.mu.Unlock()
		for _, tp := range ts {
			tp.mu.Lock()
			if tp.cursorsDirty {
				if err := b.store.saveCursors(tp); err != nil {
					b.log.Warn("pulsartest: saving subscriptions", zap.String("topic", tp.name), zap.Error(err))
				} else {
					tp.cursorsDirty = false
				}
			}
			tp.mu.Unlock()
		}
	}
}

func (b *Broker) closeStore() {
	if b.store != nil {
		_ = b.store.close()
	}
}

func (b *Broker) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pulsartest: listen on %s: %w", addr, err)
	}
	b.ln = ln
	b.addr = ln.Addr().String()
	b.acceptWG.Add(1)
	go b.accept(ln)
	return nil
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// URL returns the pulsar:// service URL for clients.
func (b *Broker) URL() string { return "pulsar://" + b.Addr() }

func (b *Broker) accept(ln net.Listener) {
	defer b.acceptWG.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		if b.closed || b.ln != ln {
			b.mu.Unlock()
			_ = nc.Close()
			continue
		}
		c := newConn(b, nc)
		b.conns[c] = struct{}{}
		b.connWG.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.connWG.Done()
			c.serve()
		}()
	}
}

// Stop closes the listener and every connection, keeping all topics,
// subscriptions and sequence ids, until Restart.
func (b *Broker) Stop() {
	b.mu.Lock()
	ln := b.ln
	b.ln = nil
	b.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
		b.acceptWG.Wait()
	}
	b.DropConnections()
}

// Restart listens again on the address the broker had, after Stop.
func (b *Broker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.ln != nil {
		return ErrRunning
	}
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger briefly
		if err = b.listen(b.addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// DropConnections closes every client connection now, as a network fault
// would; clients reconnect.
func (b *Broker) DropConnections() {
	b.mu.Lock()
	cs := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
	for _, c := range cs {
		<-c.done
	}
}

// Close stops the broker for good and releases its resources. It is
// idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	b.saverWG.Wait()
	b.Stop()
	b.connWG.Wait()
	var err error
	if b.store != nil {
		b.mu.Lock()
		ts := b.topicList()
		b.mu.Unlock()
		for _, t := range ts {
			t.mu.Lock()
			if e := b.store.saveCursors(t); e != nil && err == nil {
				err = e
			}
			t.mu.Unlock()
		}
		if e := b.store.close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (b *Broker) topicList() []*topic {
	ts := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		ts = append(ts, t)
	}
	return ts
}

func (b *Broker) removeConn(c *conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

// SetReceiptDelay delays every send receipt by d (0 sends them at once).
// The messages are stored before the delay.
func (b *Broker) SetReceiptDelay(d time.Duration) {
	b.mu.Lock()
	b.faults.receiptDelay = d
	b.mu.Unlock()
}

// WithholdReceipts, while on, stores sent messages but never answers them,
// as if every receipt were lost on the way back.
func (b *Broker) WithholdReceipts(on bool) {
	b.mu.Lock()
	b.faults.withholdReceipt = on
	b.mu.Unlock()
}

// RejectSends, while on, refuses every send with a PersistenceError, as a
// broker whose storage fails does.
func (b *Broker) RejectSends(on bool) {
	b.mu.Lock()
	b.faults.rejectSends = on
	b.mu.Unlock()
}

func (b *Broker) currentFaults() faults {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.faults
}

// Unload closes, from the broker's side, every producer and consumer of
// topic, as Pulsar does when it moves a topic: clients look it up and
// reconnect. It returns false when the broker has no such topic.
func (b *Broker) Unload(topicName string) bool {
	b.mu.Lock()
	t := b.topics[topicName]
	b.mu.Unlock()
	if t == nil {
		return false
	}
	t.unload()
	return true
}

// topic returns the topic, creating it.
func (b *Broker) topic(name string) (*topic, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[name]; t != nil {
		return t, nil
	}
	t := newTopic(b, name)
	if b.store != nil {
		if err := b.store.createTopic(t); err != nil {
			return nil, err
		}
	}
	b.topics[name] = t
	return t, nil
}

func (b *Broker) producerName() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextName++
	return fmt.Sprintf("pulsartest-%d", b.nextName)
}

// TopicName is a parsed persistent://tenant/namespace/topic name.
type TopicName struct {
	Domain, Tenant, Namespace, Local string
}

// String returns the full name.
func (n TopicName) String() string {
	return n.Domain + "://" + n.Tenant + "/" + n.Namespace + "/" + n.Local
}

// ParseTopicName parses a full topic name as clients send it
// (persistent://tenant/ns/topic or non-persistent://...).
func ParseTopicName(s string) (TopicName, error) {
	domain, rest, ok := strings.Cut(s, "://")
	if !ok || (domain != "persistent" && domain != "non-persistent") {
		return TopicName{}, fmt.Errorf("pulsartest: topic %q: want persistent://tenant/namespace/topic", s)
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return TopicName{}, fmt.Errorf("pulsartest: topic %q: want persistent://tenant/namespace/topic", s)
	}
	return TopicName{Domain: domain, Tenant: parts[0], Namespace: parts[1], Local: parts[2]}, nil
}

// Stats returns the counters of topic, and false if it does not exist.
func (b *Broker) Stats(topicName string) (TopicStats, bool) {
	b.mu.Lock()
	t := b.topics[topicName]
	b.mu.Unlock()
	if t == nil {
		return TopicStats{}, false
	}
	return t.stats(), true
}

// Topics lists the names of the broker's topics.
func (b *Broker) Topics() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.topics))
	for n := range b.topics {
		out = append(out, n)
	}
	return out
}

// Serve runs until ctx is done, then closes the broker, so a supervisor
// can own it.
func (b *Broker) Serve(ctx context.Context) error {
	<-ctx.Done()
	return b.Close()
}
