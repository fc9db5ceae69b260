package opcua

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	gopcua "github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/reconnect"
)

// Errors of the client.
var (
	// ErrClosed is returned by a client used after Close. It is
	// plc.ErrClosed, so drivers and callers test one sentinel.
	ErrClosed = plc.ErrClosed
	// ErrNotConnected is returned while the server cannot be reached.
	ErrNotConnected = plc.ErrNotConnected
)

// State is the client's connection state.
type State int32

// Connection states.
const (
	StateDisconnected State = iota
	StateConnecting
	StateConnected
	StateClosed
)

// String returns the state in words.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateClosed:
		return "closed"
	}
	return "disconnected"
}

// conn is one connection: a gopcua client with AutoReconnect off and a
// channel closed when it is lost.
type conn struct {
	uc *gopcua.Client
	// resumePublish wakes uc's publish loop (see publishResumer); nil
	// when it cannot.
	resumePublish func()
	// lim are the chunk sizes of multi-node calls on this session.
	lim      limits
	lost     chan struct{}
	cause    error // why it was lost; set before lost is closed
	lostOnce sync.Once

	// namespaces is the server's namespace array on this session.
	namespaces []string
}

// markLost closes lost, recording the first cause.
func (c *conn) markLost(cause error) {
	c.lostOnce.Do(func() {
		c.cause = cause
		close(c.lost)
	})
}

// Client is an OPC UA client that keeps one session to one server alive:
// it connects in the background, and after any loss reconnects with
// exponential backoff and recreates every subscription. It is safe for
// concurrent use.
type Client struct {
	cfg     Config
	log     *zap.Logger
	clk     clock.Clock
	policy  string
	mode    ua.MessageSecurityMode
	cert    []byte
	key     *rsa.PrivateKey
	metrics *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	cur       *conn // nil while disconnected
	state     State
	stateCh   chan struct{} // closed and replaced on every state change
	subs      map[*Subscription]struct{}
	closed    bool
	closeOnce sync.Once
	// tried is closed when the first connection attempt has ended, so
	// calls made right after New wait for it instead of failing at once.
	tried     chan struct{}
	triedOnce sync.Once
	connErr   atomic.Pointer[error] // the last connect failure, nil once connected
	// hadSession is set once a session was up; only the loop's goroutine
	// uses it.
	hadSession bool
}

// New validates cfg and returns a client that connects in the background
// and stays connected until Close. Calls made while it is not connected
// fail with ErrNotConnected (subscriptions are kept and come back).
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := options{log: zap.NewNop()}
	for _, f := range opts {
		f(&o)
	}
	c := &Client{
		cfg:     cfg,
		log:     o.log.With(zap.String("endpoint", cfg.Endpoint)),
		clk:     clock.Or(o.clock),
		stateCh: make(chan struct{}),
		tried:   make(chan struct{}),
		subs:    make(map[*Subscription]struct{}),
		metrics: newMetrics(),
	}
	c.policy, _ = cfg.policyURI()
	c.mode, _ = cfg.mode()
	if c.policy != ua.SecurityPolicyURINone {
		cert, key, err := loadOrCreateCertificate(cfg.CertFile, cfg.KeyFile, cfg.ApplicationURI)
		if err != nil {
			return nil, err
		}
		c.cert, c.key = cert, key
	}
	if cfg.TrustedCerts != "" {
		if _, err := loadTrustList(cfg.TrustedCerts); err != nil {
			return nil, err
		}
	}
	loop, err := reconnect.New(reconnect.Config{Retry: cfg.Retry}, c.dial,
		reconnect.WithClock(c.clk), reconnect.WithLogger(c.log, "opcua: "), reconnect.WithEvents(o.events))
	if err != nil {
		return nil, fmt.Errorf("opcua: reconnect: %w", err)
	}
	if o.reg != nil {
		if err := c.metrics.register(o.reg); err != nil {
			return nil, err
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.run(loop)
	return c, nil
}

// State returns the connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitConnected blocks until the client is connected, ctx is done or the
// client is closed.
func (c *Client) WaitConnected(ctx context.Context) error {
	return c.WaitState(ctx, StateConnected)
}

// WaitState blocks until the client is in state want, ctx is done or the
// client is closed.
func (c *Client) WaitState(ctx context.Context, want State) error {
	for {
		c.mu.Lock()
		st, ch := c.state, c.stateCh
		c.mu.Unlock()
		switch st {
		case want:
			return nil
		case StateClosed:
			return ErrClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (c *Client) setState(s State, cur *conn) {
	c.mu.Lock()
	c.cur = cur
	if c.state != s {
		c.state = s
		close(c.stateCh)
		c.stateCh = make(chan struct{})
	}
	c.mu.Unlock()
	if s == StateConnected {
		c.metrics.connected.Set(1)
	} else {
		c.metrics.connected.Set(0)
	}
	c.log.Info("opcua: connection state", zap.Stringer("state", s))
}

// Close ends the session and stops reconnecting; subscriptions end too.
// It is idempotent and waits for the client's goroutines.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		subs := make([]*Subscription, 0, len(c.subs))
		for s := range c.subs {
			subs = append(subs, s)
		}
		c.mu.Unlock()
		for _, s := range subs {
			s.stop()
		}
		c.cancel()
		c.wg.Wait()
		c.setState(StateClosed, nil)
	})
	return nil
}

// ready waits until the first connection attempt has ended, or ctx is
// done, then returns the live connection or ErrNotConnected/ErrClosed.
func (c *Client) ready(ctx context.Context) (*conn, error) {
	select {
	case <-c.tried:
	case <-ctx.Done():
		if cn, err := c.current(); err == nil {
			return cn, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())
	}
	return c.current()
}

// current returns the live gopcua client, or an error.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cur == nil {
		return nil, ErrNotConnected
	}
	return c.cur, nil
}

// noteConnect keeps the cause of a failed connection attempt for
// ConnectionError, and clears it on success.
func (c *Client) noteConnect(err error) {
	if err != nil && c.ctx.Err() == nil {
		c.connErr.Store(&err)
	} else if err == nil {
		c.connErr.Store(nil)
	}
}

// ConnectionError returns the cause of the last failed connection
// attempt (endpoint unreachable, security refused, session not
// activated) while the client is not connected, nil once it is.
func (c *Client) ConnectionError() error {
	if p := c.connErr.Load(); p != nil {
		return *p
	}
	return nil
}

// run owns the connection for the client's lifetime, on the reconnect
// loop. A session that ended soon after it began (a server that closes
// new sessions, or answers a call with a ServiceFault, which gopcua takes
// for a lost channel) is retried with backoff, not in a tight loop; one
// that lasted starts the backoff afresh.
func (c *Client) run(loop *reconnect.Loop) {
	defer c.wg.Done()
	defer c.triedOnce.Do(func() { close(c.tried) })
	_ = loop.Serve(c.ctx)
}

// dial is one connection attempt of the reconnect loop; the Hold it
// returns restores the subscriptions and watches the session.
func (c *Client) dial(ctx context.Context) (reconnect.Hold, error) {
	c.setState(StateConnecting, nil)
	cn, err := c.connect(ctx)
	c.noteConnect(err)
	if err != nil {
		c.triedOnce.Do(func() { close(c.tried) })
		if ctx.Err() == nil {
			c.metrics.connectFailures.Inc()
			c.setState(StateDisconnected, nil)
		}
		return nil, err
	}
	if c.hadSession {
		c.metrics.reconnects.Inc()
	}
	c.hadSession = true
	c.setState(StateConnected, cn)
	c.triedOnce.Do(func() { close(c.tried) })
	return func(ctx context.Context) error {
		c.restoreSubscriptions(cn)
		cause := c.hold(ctx, cn)
		c.setState(StateDisconnected, nil)
		c.markSubscriptionsLost()
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = cn.uc.Close(cctx)
		cancel()
		return cause
	}, nil
}

// hold watches a live connection until it is lost, returning why, or ctx
// is done, checking it with a read every KeepAlive, waking a stalled
// publish loop and retrying failed items.
func (c *Client) hold(ctx context.Context, cn *conn) error {
	t := c.clk.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cn.lost:
			c.log.Warn("opcua: connection lost")
			return cn.cause
		case <-t.C():
			rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
			_, err := cn.uc.Read(rctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: ua.NewNumericNodeID(0, id.Server_ServerStatus_State), AttributeID: ua.AttributeIDValue}}})
			cancel()
			if err != nil && ctx.Err() == nil {
				c.log.Warn("opcua: keep-alive read failed", zap.Error(err))
				cn.markLost(fmt.Errorf("opcua: keep-alive read: %w", err))
				continue
			}
			if cn.resumePublish != nil && len(c.subscriptions()) > 0 {
				cn.resumePublish()
			}
			c.retryFailedItems(cn)
		}
	}
}

// connect opens a secure channel and an activated session.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	eps, err := gopcua.GetEndpoints(ctx, c.cfg.Endpoint, gopcua.DialTimeout(c.cfg.RequestTimeout))
	if err != nil {
		return nil, fmt.Errorf("opcua: get endpoints of %s: %w", c.cfg.Endpoint, err)
	}
	var ep *ua.EndpointDescription
	for _, e := range eps {
		if e.SecurityPolicyURI == c.policy && e.SecurityMode == c.mode {
			ep = e
			break
		}
	}
	if ep == nil {
		return nil, fmt.Errorf("opcua: %s offers no endpoint with policy %s and mode %s", c.cfg.Endpoint, c.policy, c.mode)
	}
	if c.cfg.TrustedCerts != "" {
		trusted, err := loadTrustList(c.cfg.TrustedCerts)
		if err != nil {
			return nil, err
		}
		if err := checkServerCertificate(ep.ServerCertificate, trusted); err != nil {
			return nil, fmt.Errorf("opcua: connect to %s: %w", c.cfg.Endpoint, err)
		}
	}
	cn := &conn{lost: make(chan struct{})}
	auth := ua.UserTokenTypeAnonymous
	opts := []gopcua.Option{
		gopcua.AutoReconnect(false),
		gopcua.DialTimeout(c.cfg.RequestTimeout),
		gopcua.RequestTimeout(c.cfg.RequestTimeout),
		gopcua.SessionTimeout(c.cfg.SessionTimeout),
		gopcua.ApplicationURI(c.cfg.ApplicationURI),
		gopcua.ApplicationName("kiln"),
		gopcua.StateChangedFunc(func(s gopcua.ConnState) {
			if s == gopcua.Disconnected || s == gopcua.Closed {
				cn.markLost(fmt.Errorf("%w: gopcua reports the channel %v", ErrNotConnected, s))
			}
		}),
	}
	if c.cfg.Username != "" {
		auth = ua.UserTokenTypeUserName
		opts = append(opts, gopcua.AuthUsername(c.cfg.Username, c.cfg.Password))
	} else {
		opts = append(opts, gopcua.AuthAnonymous())
	}
	if c.key != nil {
		opts = append(opts, gopcua.PrivateKey(c.key), gopcua.Certificate(c.cert))
	}
	opts = append(opts, gopcua.SecurityFromEndpoint(ep, auth))
	uc, err := gopcua.NewClient(c.cfg.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("opcua: client for %s: %w", c.cfg.Endpoint, err)
	}
	cn.uc = uc
	if cn.resumePublish = publishResumer(uc); cn.resumePublish == nil {
		c.log.Warn("opcua: unknown gopcua client layout; a stalled publish loop (gopcua#895) will not be woken")
	}
	if err := uc.Connect(ctx); err != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_ = uc.Close(cctx)
		ccancel()
		return nil, fmt.Errorf("opcua: connect to %s: %w", c.cfg.Endpoint, err)
	}
	c.log.Info("opcua: session activated", zap.String("policy", c.policy), zap.Stringer("mode", c.mode))
	if cn.lim, err = c.readLimits(ctx, cn); err == nil {
		cn.namespaces, err = c.readNamespaces(ctx, cn)
	}
	if err != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
		_ = uc.Close(cctx)
		ccancel()
		return nil, err
	}
	return cn, nil
}

func (c *Client) subscriptions() []*Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	subs := make([]*Subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	return subs
}

func (c *Client) restoreSubscriptions(cn *conn) {
	for _, s := range c.subscriptions() {
		if err := s.sync(c.ctx, cn); err != nil && c.ctx.Err() == nil {
			c.log.Warn("opcua: subscription not restored", zap.Error(err))
		}
	}
}

func (c *Client) markSubscriptionsLost() {
	for _, s := range c.subscriptions() {
		s.lost()
	}
}

func (c *Client) retryFailedItems(cn *conn) {
	for _, s := range c.subscriptions() {
		s.retry(c.ctx, cn)
	}
}

// Read reads the Value attribute of nodes. Each DataValue carries its own
// status code; the error is non-nil only when the call failed as a whole.
func (c *Client) Read(ctx context.Context, nodes []*ua.NodeID) ([]*ua.DataValue, error) {
	return c.ReadAttribute(ctx, ua.AttributeIDValue, nodes)
}

// ReadAttribute reads one attribute of nodes, in requests of at most 500
// nodes, or the server's MaxNodesPerRead when lower.
func (c *Client) ReadAttribute(ctx context.Context, attr ua.AttributeID, nodes []*ua.NodeID) ([]*ua.DataValue, error) {
	cn, err := c.ready(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ua.DataValue, 0, len(nodes))
	err = inChunks(len(nodes), cn.lim.read, func(lo, hi int) error {
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth, NodesToRead: make([]*ua.ReadValueID, hi-lo)}
		for i, n := range nodes[lo:hi] {
			req.NodesToRead[i] = &ua.ReadValueID{NodeID: n, AttributeID: attr, DataEncoding: &ua.QualifiedName{}}
		}
		resp, err := cn.uc.Read(ctx, req)
		if err != nil {
			return c.callError("read", cn, err)
		}
		if len(resp.Results) != hi-lo {
			return fmt.Errorf("opcua: read: %d results for %d nodes", len(resp.Results), hi-lo)
		}
		out = append(out, resp.Results...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// callError wraps the error of a failed service call; an error that means
// the connection is gone marks it lost so the client reconnects.
func (c *Client) callError(op string, cn *conn, err error) error {
	var sc ua.StatusCode
	if errors.As(err, &sc) {
		if q := Quality(sc); q.Reason == plc.ReasonCommFailure {
			cn.markLost(fmt.Errorf("opcua: %s: %w", op, err))
			return fmt.Errorf("opcua: %s: %w: %w", op, ErrNotConnected, err)
		}
		return fmt.Errorf("opcua: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("opcua: %s: %w", op, err)
	}
	cn.markLost(fmt.Errorf("opcua: %s: %w", op, err))
	return fmt.Errorf("opcua: %s: %w: %w", op, ErrNotConnected, err)
}

// WriteValue is one value to write to one node.
type WriteValue struct {
	NodeID *ua.NodeID
	Value  plc.Value
}

// Write writes values to nodes' Value attributes, each as the OPC UA
// type of its kind (see Variant), and returns the status code per value,
// in requests of at most 500 values, or the server's MaxNodesPerWrite when
// lower. The error is non-nil only when a request failed as a whole; the
// results of the requests answered before it are returned with it (fewer
// results than values: the rest were not written).
func (c *Client) Write(ctx context.Context, values []WriteValue) ([]ua.StatusCode, error) {
	cn, err := c.ready(ctx)
	if err != nil {
		return nil, err
	}
	nodes := make([]*ua.WriteValue, len(values))
	for i, w := range values {
		v, err := Variant(w.Value)
		if err != nil {
			return nil, fmt.Errorf("opcua: write %s: %w", w.NodeID, err)
		}
		nodes[i] = &ua.WriteValue{
			NodeID:      w.NodeID,
			AttributeID: ua.AttributeIDValue,
			Value:       &ua.DataValue{EncodingMask: ua.DataValueValue, Value: v},
		}
	}
	out := make([]ua.StatusCode, 0, len(values))
	err = inChunks(len(nodes), cn.lim.write, func(lo, hi int) error {
		resp, err := cn.uc.Write(ctx, &ua.WriteRequest{NodesToWrite: nodes[lo:hi]})
		if err != nil {
			return c.callError("write", cn, err)
		}
		if len(resp.Results) != hi-lo {
			return fmt.Errorf("opcua: write: %d results for %d values", len(resp.Results), hi-lo)
		}
		out = append(out, resp.Results...)
		return nil
	})
	return out, err
}

// Resolve returns the node id of an address, translating a browse path
// from the Objects folder on the server.
func (c *Client) Resolve(ctx context.Context, a Address) (*ua.NodeID, error) {
	ids, codes, err := c.resolve(ctx, []Address{a})
	if err != nil {
		return nil, err
	}
	if codes[0] != ua.StatusOK {
		return nil, fmt.Errorf("opcua: resolve %s: %w", a, codes[0])
	}
	return ids[0], nil
}

// resolve resolves addresses, with a status per address, in requests of
// at most 500 browse paths, or the server's
// MaxNodesPerTranslateBrowsePathsToNodeIds when lower.
func (c *Client) resolve(ctx context.Context, as []Address) ([]*ua.NodeID, []ua.StatusCode, error) {
	ids := make([]*ua.NodeID, len(as))
	codes := make([]ua.StatusCode, len(as))
	var paths []*ua.BrowsePath
	var at []int
	var cn *conn
	for i, a := range as {
		if a.NodeID != nil && a.NamespaceURI == "" {
			ids[i] = a.NodeID
			continue
		}
		if a.NodeID != nil {
			if cn == nil {
				var err error
				if cn, err = c.ready(ctx); err != nil {
					return nil, nil, err
				}
			}
			ids[i], codes[i] = cn.local(a)
			continue
		}
		if len(a.Path) == 0 {
			codes[i] = ua.StatusBadBrowseNameInvalid
			continue
		}
		els := make([]*ua.RelativePathElement, len(a.Path))
		for j, q := range a.Path {
			els[j] = &ua.RelativePathElement{
				ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
				IncludeSubtypes: true,
				TargetName:      q,
			}
		}
		paths = append(paths, &ua.BrowsePath{StartingNode: ua.NewNumericNodeID(0, id.ObjectsFolder), RelativePath: &ua.RelativePath{Elements: els}})
		at = append(at, i)
	}
	if len(paths) == 0 {
		return ids, codes, nil
	}
	if cn == nil {
		var err error
		if cn, err = c.ready(ctx); err != nil {
			return nil, nil, err
		}
	}
	err := inChunks(len(paths), cn.lim.translate, func(lo, hi int) error {
		var resp *ua.TranslateBrowsePathsToNodeIDsResponse
		err := cn.uc.Send(ctx, &ua.TranslateBrowsePathsToNodeIDsRequest{BrowsePaths: paths[lo:hi]}, func(v ua.Response) error {
			r, ok := v.(*ua.TranslateBrowsePathsToNodeIDsResponse)
			if !ok {
				return fmt.Errorf("opcua: translate browse paths: unexpected response %T", v)
			}
			resp = r
			return nil
		})
		if err != nil {
			return c.callError("translate browse paths", cn, err)
		}
		if len(resp.Results) != hi-lo {
			return fmt.Errorf("opcua: translate browse paths: %d results for %d paths", len(resp.Results), hi-lo)
		}
		for k, r := range resp.Results {
			i := at[lo+k]
			switch {
			case r.StatusCode != ua.StatusOK:
				codes[i] = r.StatusCode
			case len(r.Targets) == 0 || r.Targets[0].TargetID == nil:
				codes[i] = ua.StatusBadNoMatch
			default:
				ids[i] = r.Targets[0].TargetID.NodeID
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ids, codes, nil
}

// metrics are the client's Prometheus collectors.
type metrics struct {
	connected       prometheus.Gauge
	reconnects      prometheus.Counter
	connectFailures prometheus.Counter
	recreations     prometheus.Counter
	itemFailures    prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		connected:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "kiln_opcua_connected", Help: "1 while the OPC UA session is up."}),
		reconnects:      prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_opcua_reconnects_total", Help: "Sessions re-established after a loss."}),
		connectFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_opcua_connect_failures_total", Help: "Failed connection attempts."}),
		recreations:     prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_opcua_subscription_recreations_total", Help: "Subscriptions recreated on a new session."}),
		itemFailures:    prometheus.NewCounter(prometheus.CounterOpts{Name: "kiln_opcua_monitored_item_failures_total", Help: "Monitored items the server refused to create."}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, col := range []prometheus.Collector{m.connected, m.reconnects, m.connectFailures, m.recreations, m.itemFailures} {
		if err := r.Register(col); err != nil {
			return fmt.Errorf("opcua: register metrics: %w", err)
		}
	}
	return nil
}
