package uasim

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/plc"
)

// Config describes the simulated server. The zero Config serves on a free
// port of 127.0.0.1 with every security mode and anonymous access.
type Config struct {
	// Addr is the host:port to listen on (default "127.0.0.1:0"). Port 0
	// picks a free port at the first Start; restarts reuse it.
	Addr string `yaml:"addr"`
	// NamespaceURI names the tags' namespace (default "urn:kiln:uasim").
	NamespaceURI string `yaml:"namespace_uri"`
	// NamespaceIndex is the index of the tags' namespace, the n of
	// "ns=n;s=<tag name>" (default 2, 1..64; lower indexes are filled with
	// empty namespaces).
	NamespaceIndex uint16 `yaml:"namespace_index"`
	// Namespaces, when not empty, are the URIs registered at indexes 1,
	// 2, … in this order, as a server's configuration orders them; the
	// tags' namespace is the one named NamespaceURI among them, or comes
	// right after them. Its index follows from its place (NamespaceIndex
	// must then be 0 or agree). Restarting with another order moves the
	// tags to other indexes, as a real server may.
	Namespaces []string `yaml:"namespaces"`
	// Security lists the endpoints offered: "None",
	// "Basic256Sha256/Sign", "Basic256Sha256/SignAndEncrypt" (default all
	// three).
	Security []string `yaml:"security"`
	// UserName offers the UserName identity token (with the password
	// encrypted for the Basic256Sha256 policy). With Users empty any user
	// name and password are accepted.
	UserName bool `yaml:"user_name"`
	// Users, when not empty, offers the UserName identity token (as
	// UserName does) and accepts only these user names with these
	// passwords; others are refused with BadUserAccessDenied.
	Users map[string]string `yaml:"users"`
	// NoAnonymous stops offering the Anonymous identity token.
	NoAnonymous bool `yaml:"no_anonymous"`
	// Limits are the server's operation limits (default none).
	Limits Limits `yaml:"limits"`
}

// Limits are a server's operation limits (OPC UA Part 5,
// Server.ServerCapabilities.OperationLimits): the most operations one
// call of a service may carry. The server publishes them in its
// OperationLimits properties and fails a call with more as a whole with
// BadTooManyOperations (a ServiceFault), as real servers do. Zero means
// no limit, published as 0.
type Limits struct {
	// MaxNodesPerRead limits the nodes of one Read.
	MaxNodesPerRead uint32 `yaml:"max_nodes_per_read"`
	// MaxNodesPerWrite limits the nodes of one Write.
	MaxNodesPerWrite uint32 `yaml:"max_nodes_per_write"`
	// MaxNodesPerTranslateBrowsePaths limits the browse paths of one
	// TranslateBrowsePathsToNodeIds.
	MaxNodesPerTranslateBrowsePaths uint32 `yaml:"max_nodes_per_translate_browse_paths"`
	// MaxMonitoredItemsPerCall limits the items of one
	// CreateMonitoredItems.
	MaxMonitoredItemsPerCall uint32 `yaml:"max_monitored_items_per_call"`
}

// Validate reports every bad field, each a *config.FieldError with its
// YAML name.
func (c Config) Validate() error {
	var p config.Problems
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			p.Add("addr", "%q: %w", c.Addr, err)
		}
	}
	if c.NamespaceIndex > 64 {
		p.Add("namespace_index", "%d: want 1..64", c.NamespaceIndex)
	}
	if len(c.Namespaces) > 64 {
		p.Add("namespaces", "%d URIs, want at most 64", len(c.Namespaces))
	}
	seen := map[string]bool{}
	for i, u := range c.Namespaces {
		if u == "" || seen[u] {
			p.Add(fmt.Sprintf("namespaces[%d]", i), "%q is empty or given twice", u)
		}
		seen[u] = true
	}
	if len(c.Namespaces) > 0 && len(c.Namespaces) <= 64 {
		if idx := c.withDefaults().tagNamespace(); c.NamespaceIndex != 0 && c.NamespaceIndex != idx {
			p.Add("namespace_index", "%d: namespaces puts the tags' namespace at %d", c.NamespaceIndex, idx)
		}
	}
	for i, s := range c.Security {
		if _, _, err := parseSecurity(s); err != nil {
			p.Add(fmt.Sprintf("security[%d]", i), "%w", err)
		}
	}
	if c.NoAnonymous && !c.UserName && len(c.Users) == 0 {
		p.Add("no_anonymous", "needs user_name or users")
	}
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.NamespaceURI == "" {
		c.NamespaceURI = "urn:kiln:uasim"
	}
	if c.NamespaceIndex == 0 {
		c.NamespaceIndex = 2
		if len(c.Namespaces) > 0 {
			c.NamespaceIndex = c.tagNamespace()
		}
	}
	if len(c.Security) == 0 {
		c.Security = []string{"None", "Basic256Sha256/Sign", "Basic256Sha256/SignAndEncrypt"}
	}
	return c
}

// tagNamespace returns the index the tags' namespace gets among
// Namespaces (NamespaceURI set).
func (c Config) tagNamespace() uint16 {
	for i, u := range c.Namespaces {
		if u == c.NamespaceURI {
			return uint16(i + 1)
		}
	}
	return uint16(len(c.Namespaces) + 1)
}

func parseSecurity(s string) (policy string, mode ua.MessageSecurityMode, err error) {
	switch strings.ToLower(s) {
	case "none":
		return ua.SecurityPolicyURINone, ua.MessageSecurityModeNone, nil
	case "basic256sha256/sign":
		return ua.SecurityPolicyURIBasic256Sha256, ua.MessageSecurityModeSign, nil
	case "basic256sha256/signandencrypt":
		return ua.SecurityPolicyURIBasic256Sha256, ua.MessageSecurityModeSignAndEncrypt, nil
	}
	return "", 0, fmt.Errorf("%q: want None, Basic256Sha256/Sign or Basic256Sha256/SignAndEncrypt", s)
}

// Option sets a code-only setting.
type Option func(*Server)

// WithLogger logs through l.
func WithLogger(l *zap.Logger) Option { return func(s *Server) { s.log = l } }

// WithOnWrite calls f when a client writes a tag, before the value is
// stored. A non-nil error rejects the write: with that status code when
// it is a ua.StatusCode, else with BadInternalError. f runs on the
// server's single request goroutine, so it should be quick.
func WithOnWrite(f func(tag string, v plc.Value) error) Option {
	return func(s *Server) { s.onWrite = f }
}

// ErrUnknownTag is returned for a tag name the server does not serve.
var ErrUnknownTag = errors.New("uasim: unknown tag")

// ErrRunning is returned by Start on a running server.
var ErrRunning = errors.New("uasim: already running")

// entry is one served tag.
type entry struct {
	tag      plc.Tag
	id       *ua.NodeID
	val      plc.Value
	ts       time.Time
	status   ua.StatusCode
	writable bool
}

// Server is a simulated OPC UA server serving a tag list. It is safe for
// concurrent use.
type Server struct {
	cfg     Config
	log     *zap.Logger
	onWrite func(string, plc.Value) error
	cert    []byte
	key     *rsa.PrivateKey

	mu      sync.RWMutex
	tags    map[string]*entry // by tag name
	byNode  map[string]*entry // by node id string
	order   []string          // tag names in the order given
	addr    string            // resolved host:port
	srv     *server.Server
	cancel  context.CancelFunc
	tree    *tree
	proxy   *proxy
	running bool

	// nmu serializes notifications so deadband state and sends stay in
	// order.
	nmu       sync.Mutex
	last      map[uint32]sent // what each monitored item last reported
	bands     sync.Map        // monitored item id → band
	dropped   atomic.Uint64
	sessions  atomic.Uint64
	blackhole atomic.Bool
	refused   [serviceCount]atomic.Uint32
	lifeMu    sync.Mutex // serializes Start and Stop
}

// New returns a stopped server for tags; Start serves it. Each tag's
// Address is ignored: its node id is ns=<NamespaceIndex>;s=<tag name>.
// Values start at the zero of each tag's type.
func New(cfg Config, tags []plc.Tag, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:    cfg,
		log:    zap.NewNop(),
		tags:   make(map[string]*entry, len(tags)),
		byNode: make(map[string]*entry, len(tags)),
		last:   make(map[uint32]sent),
		addr:   cfg.Addr,
	}
	for _, o := range opts {
		o(s)
	}
	for i, t := range tags {
		if err := s.add(t); err != nil {
			return nil, fmt.Errorf("uasim: tag %d: %w", i, err)
		}
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	cert, key, err := opcua.GenerateCertificate("urn:kiln:uasim", host, "localhost")
	if err != nil {
		return nil, err
	}
	s.cert, s.key = cert, key
	return s, nil
}

func (s *Server) add(t plc.Tag) error {
	if t.Name == "" || strings.HasPrefix(t.Name, ".") || strings.HasSuffix(t.Name, ".") || strings.Contains(t.Name, "..") {
		return fmt.Errorf("bad tag name %q", t.Name)
	}
	if !t.Type.Valid() || opcua.DataTypeID(t.Type.Kind) == 0 {
		return fmt.Errorf("tag %q: type %v has no OPC UA counterpart", t.Name, t.Type)
	}
	if _, dup := s.tags[t.Name]; dup {
		return fmt.Errorf("tag %q twice", t.Name)
	}
	zero, err := zeroValue(t.Type)
	if err != nil {
		return fmt.Errorf("tag %q: %w", t.Name, err)
	}
	e := &entry{tag: t, id: ua.NewStringNodeID(s.cfg.NamespaceIndex, t.Name), val: zero, ts: time.Now(), writable: t.Writable()}
	s.tags[t.Name] = e
	s.byNode[e.id.String()] = e
	s.order = append(s.order, t.Name)
	return nil
}

func zeroValue(t plc.DataType) (plc.Value, error) {
	switch t.Kind {
	case plc.String:
		return plc.StringValue(""), nil
	case plc.ByteString:
		return plc.BytesValue(nil), nil
	case plc.DateTime:
		return plc.TimeValue(time.Unix(0, 0)), nil
	}
	return plc.Convert(plc.IntValue(plc.LInt, 0), t)
}

// NodeID returns the node id a tag is served under, "ns=2;s=Line1.Temp".
func (s *Server) NodeID(tag string) string {
	return ua.NewStringNodeID(s.cfg.NamespaceIndex, tag).String()
}

// Endpoint returns the server's URL, "opc.tcp://127.0.0.1:4840". Before
// the first Start of a port-0 server it has port 0.
func (s *Server) Endpoint() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return "opc.tcp://" + s.addr
}

// Certificate returns the server's DER certificate.
func (s *Server) Certificate() []byte { return s.cert }

// Sessions returns how many sessions clients have activated since New.
func (s *Server) Sessions() uint64 { return s.sessions.Load() }

// Dropped returns how many change notifications were dropped because a
// subscription did not take them within a second (its client gone).
func (s *Server) Dropped() uint64 { return s.dropped.Load() }

// Blackhole, while on, keeps every client connection open but passes no
// bytes either way, as a dead network path does (no FIN, no RST), so
// tests can check that clients notice a silent loss.
func (s *Server) Blackhole(on bool) { s.blackhole.Store(on) }

// Service names a service whose calls Refuse can fail as a whole.
type Service int

// The services Refuse can fail.
const (
	TranslateBrowsePaths Service = iota
	CreateMonitoredItems
	serviceCount
)

// Refuse makes every later call of service fail as a whole with code (a
// ServiceFault, as an overloaded or misconfigured server sends), until
// it is called again with code 0.
func (s *Server) Refuse(service Service, code ua.StatusCode) {
	if service >= 0 && service < serviceCount {
		s.refused[service].Store(uint32(code))
	}
}

// refusal is the code calls of service fail with, or nil.
func (s *Server) refusal(service Service) error {
	if c := ua.StatusCode(s.refused[service].Load()); c != 0 {
		return c
	}
	return nil
}

// Start listens and serves until Stop or ctx is done. It returns once the
// server accepts connections.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrRunning
	}
	addr := s.addr
	s.mu.Unlock()

	pub, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("uasim: listen %s: %w", addr, err)
	}
	addr = pub.Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	// gopcua listens on an internal port behind the relay (see proxy). It
	// binds the port itself, so the port is picked free and may be taken
	// by another process before gopcua binds it: then pick another.
	var (
		srv      *server.Server
		tr       *tree
		internal string
		stop     func() bool
		cancel   context.CancelFunc
	)
	for attempt := 1; ; attempt++ {
		srv, tr, internal, stop, cancel, err = s.startInternal(ctx, host, p)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 5 {
			pub.Close()
			return fmt.Errorf("uasim: start on %s: %w", addr, err)
		}
	}
	px := newProxy(pub, internal, &s.blackhole)
	s.mu.Lock()
	s.addr = addr
	s.srv, s.tree, s.running, s.proxy = srv, tr, true, px
	s.cancel = func() { stop(); cancel() }
	s.mu.Unlock()
	s.log.Info("uasim started", zap.String("endpoint", "opc.tcp://"+addr), zap.Int("tags", len(s.order)))
	return nil
}

// startInternal starts gopcua's server on a free internal port of host,
// advertising the public port p as well, and returns it with its node
// tree, its address, and how to stop it.
func (s *Server) startInternal(ctx context.Context, host string, p int) (*server.Server, *tree, string, func() bool, context.CancelFunc, error) {
	il, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, nil, "", nil, nil, err
	}
	internal := il.Addr().(*net.TCPAddr)
	il.Close()

	opts := []server.Option{
		server.EndPoint(host, internal.Port),
		server.EndPoint(host, p),
		server.PrivateKey(s.key),
		server.Certificate(s.cert),
		server.ServerName("kiln uasim"),
		server.ManufacturerName("kiln"),
		server.ProductName("kiln simulated WinCC"),
	}
	for _, sec := range s.cfg.Security {
		pol, mode, _ := parseSecurity(sec)
		opts = append(opts, server.EnableSecurity(pol, mode))
	}
	if !s.cfg.NoAnonymous {
		opts = append(opts, server.EnableAuthMode(ua.UserTokenTypeAnonymous))
	}
	if s.cfg.UserName || len(s.cfg.Users) > 0 {
		opts = append(opts, server.EnableAuthMode(ua.UserTokenTypeUserName))
	}
	srv := server.New(opts...)
	s.publishLimits(srv)
	tr := s.build(srv)
	s.register(srv, tr)
	if err := s.registerActivate(srv); err != nil {
		return nil, nil, "", nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	if err := srv.Start(sctx); err != nil {
		stop()
		cancel()
		srv.Close()
		return nil, nil, "", nil, nil, err
	}
	return srv, tr, internal.String(), stop, cancel, nil
}

// Stop closes every connection and the listener. The server keeps its
// tags and values and can be started again on the same port. Stop on a
// stopped server does nothing.
func (s *Server) Stop() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.mu.Lock()
	srv, cancel, px := s.srv, s.cancel, s.proxy
	running := s.running
	s.srv, s.tree, s.running, s.cancel, s.proxy = nil, nil, false, nil, nil
	s.mu.Unlock()
	if !running {
		return nil
	}
	px.close()
	// Subscriptions run on goroutines of their own that only end when
	// deleted.
	srv.SubscriptionService.Mu.Lock()
	ids := make([]uint32, 0, len(srv.SubscriptionService.Subs))
	for id := range srv.SubscriptionService.Subs {
		ids = append(ids, id)
	}
	srv.SubscriptionService.Mu.Unlock()
	for _, id := range ids {
		srv.SubscriptionService.DeleteSubscription(id)
	}
	// Close before cancel: gopcua's channel goroutines hand each message
	// they read to the server's loop, which stops with the context; one
	// that read a last message after the loop stopped would wait for it
	// forever. Close ends the channels and waits for them while the loop
	// still takes their messages.
	err := srv.Close()
	cancel()
	s.nmu.Lock()
	clear(s.last)
	s.bands.Clear()
	s.nmu.Unlock()
	s.log.Info("uasim stopped")
	return err
}

// Close stops the server; it is the same as Stop.
func (s *Server) Close() error { return s.Stop() }

// Set sets a tag's value from Go, converted to the tag's type (see
// plc.Convert), and notifies the subscribers.
func (s *Server) Set(tag string, v plc.Value) error {
	s.mu.Lock()
	e, ok := s.tags[tag]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	cv, err := plc.Convert(v, e.tag.Type)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("uasim: set %q: %w", tag, err)
	}
	e.val, e.ts, e.status = cv, time.Now(), ua.StatusOK
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		s.notify(srv, e.id)
	}
	return nil
}

// SetStatus gives a tag's value a status code, as a server does for a
// value it cannot vouch for (UncertainLastUsableValue, BadSensorFailure,
// …), and notifies the subscribers; the next Set or client write makes it
// Good again.
func (s *Server) SetStatus(tag string, code ua.StatusCode) error {
	s.mu.Lock()
	e, ok := s.tags[tag]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	e.status, e.ts = code, time.Now()
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		s.notify(srv, e.id)
	}
	return nil
}

// Get returns a tag's current value.
func (s *Server) Get(tag string) (plc.Value, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.tags[tag]
	if !ok {
		return plc.Value{}, fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	return e.val, nil
}

// Tags returns the served tags' names in the order given to New.
func (s *Server) Tags() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.order...)
}

// RemoveNode stops serving a tag. On a running server the node reads
// BadNodeIdUnknown at once (and its monitored items get that status); it
// leaves the browse tree at the next Start.
func (s *Server) RemoveNode(tag string) error {
	s.mu.Lock()
	e, ok := s.tags[tag]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	delete(s.tags, tag)
	delete(s.byNode, e.id.String())
	for i, n := range s.order {
		if n == tag {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		s.notify(srv, e.id)
	}
	return nil
}

// dataValue returns the current DataValue of a node id, or one with
// BadNodeIdUnknown when it is not served.
func (s *Server) dataValue(key string) *ua.DataValue {
	s.mu.RLock()
	e, ok := s.byNode[key]
	var (
		v      plc.Value
		ts     time.Time
		status ua.StatusCode
	)
	if ok {
		v, ts, status = e.val, e.ts, e.status
	}
	s.mu.RUnlock()
	now := time.Now()
	if !ok {
		return &ua.DataValue{EncodingMask: ua.DataValueStatusCode | ua.DataValueServerTimestamp, Status: ua.StatusBadNodeIDUnknown, ServerTimestamp: now}
	}
	vr, err := opcua.Variant(v)
	if err != nil {
		return &ua.DataValue{EncodingMask: ua.DataValueStatusCode | ua.DataValueServerTimestamp, Status: ua.StatusBadInternalError, ServerTimestamp: now}
	}
	dv := &ua.DataValue{
		EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
		Value:           vr,
		SourceTimestamp: ts,
		ServerTimestamp: now,
	}
	if status != ua.StatusOK {
		dv.EncodingMask |= ua.DataValueStatusCode
		dv.Status = status
	}
	return dv
}
