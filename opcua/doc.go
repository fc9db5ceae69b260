// Package opcua is kiln's OPC UA client, for WinCC and other plant
// servers, over github.com/gopcua/opcua: read, write (typed, with the
// status code per node), browse (recursive, with a depth limit), browse
// path resolution, and subscriptions that survive reconnects. It
// registers the plc driver "opcua", so the poller, the gateway and tagctl
// treat OPC UA nodes as tags, and adds a push path: subscriptions feed
// samples into the same plc.Sink the poller writes to.
//
//	c, err := opcua.New(opcua.Config{Endpoint: "opc.tcp://wincc:4840"}, opcua.WithLogger(log))
//	defer c.Close()
//	sub, err := c.Subscribe(ctx, opcua.SubscriptionConfig{PublishingInterval: time.Second},
//		[]opcua.Item{{Tag: plc.Tag{Name: "temp", Address: "ns=2;s=Line1.Temp", Type: plc.TypeLReal}}}, sink)
//
// or, through the point database, plc.Open(plc.Device{Driver: "opcua",
// Endpoint: "opc.tcp://wincc:4840", Options: …}, opts); see
// ConfigFromDevice for the options.
//
// # Addresses
//
// A tag's address is a node id (ns=2;s=Line1.Temp, ns=3;i=1001, i=85,
// g= and b= forms), a node id with its namespace URI
// (nsu=urn:wincc;s=Line1.Temp) or a browse path from the Objects folder
// (/2:Line1/Kiln/Temp; see Address for the syntax). Namespace URIs are
// looked up in the server's namespace array, read on every new session,
// and browse paths are resolved with TranslateBrowsePathsToNodeIDs on
// every new session, so a node whose namespace moved to another index
// after a server restart is found again. Browse reports both forms.
//
// # Values and quality
//
// Drivers deal in raw values of the tag's plc.DataType: BOOL ⇄ Boolean,
// SINT ⇄ SByte, BYTE/USINT/CHAR ⇄ Byte, INT ⇄ Int16, WORD/UINT ⇄ UInt16,
// DINT ⇄ Int32, DWORD/UDINT ⇄ UInt32, LINT ⇄ Int64, LWORD/ULINT ⇄ UInt64,
// REAL ⇄ Float, LREAL ⇄ Double, STRING ⇄ String, DATETIME ⇄ DateTime,
// BYTESTRING ⇄ ByteString. Values read are converted without loss to the
// tag's type (a value that does not fit is Bad/config error, never
// wrapped); values written are sent as the OPC UA type of the tag's kind.
// Status codes map onto plc.Quality by severity (Good, Uncertain, Bad),
// with Code the status code and Detail its name; ua.StatusCode is an
// error, so write errors are errors.Is-able:
// errors.Is(err, ua.StatusBadNotWritable).
//
// # Reconnects
//
// The client owns the connection lifecycle and turns gopcua's
// AutoReconnect off. gopcua reconnects at a fixed interval, reports
// Connected even when subscriptions failed to come back, and tries to
// Republish/TransferSubscriptions, which many servers (gopcua's own among
// them) do not support. Owning it is simpler and easier to prove: each
// connection is a fresh gopcua client; a loss is seen from the secure
// channel (gopcua's state callback), from any failed call, or from a
// keep-alive read of the server state every Config.KeepAlive (a silent
// network). Then, at once, every subscribed tag is reported Bad with
// ReasonCommFailure; the client reconnects with exponential backoff and
// jitter (Config.Retry), at once only after a session that lasted 30
// s (gopcua drops the channel on any ServiceFault, so a server refusing
// a call would otherwise be reconnected to in a tight loop): the rules of
// package reconnect, whose loop the client runs on the clock of
// WithClock, reporting its events (connected, lost with the cause,
// retrying in) to WithEvents. On the new session every subscription and
// monitored item is created again, browse paths resolved again; an item
// the server refuses is reported Bad with the server's status code (e.g.
// BadNodeIdUnknown for a node removed across the restart) and retried
// every keep-alive, while the other items resume good values. Nothing
// silently freezes: a tag is either delivering or Bad.
//
// gopcua can also park its publish loop for good while the session stays
// up (gopcua#895: a resume that arrives while a failing Publish, such as
// the BadNoSubscription a new session gets, is still being handled is
// dropped). Reads keep working, so nothing looks wrong, but no change is
// delivered again. The client wakes the loop on every keep-alive tick
// while it has subscriptions, so such a stall lasts at most
// Config.KeepAlive.
//
// # Operation limits
//
// Servers limit how many operations one call may carry (OPC UA Part 5,
// Server.ServerCapabilities.OperationLimits). A call over a limit fails
// as a whole with BadTooManyOperations, and since gopcua ends the
// session on such a ServiceFault, it would fail again on every new
// session. So on every new session, before subscriptions are restored,
// the client reads MaxNodesPerRead, MaxNodesPerWrite,
// MaxNodesPerTranslateBrowsePathsToNodeIds and MaxMonitoredItemsPerCall
// in one Read and splits every multi-node call to fit: reads and writes
// go in requests of at most 500 nodes, browse paths 500 per
// TranslateBrowsePathsToNodeIds, monitored items 1000 per
// CreateMonitoredItems, or the server's limit where it is lower (a
// property that is missing, Bad or 0 sets none; the limits in force are
// logged at Info once per session when the server sets any). Results
// keep the callers' order and each item its own status code. Browse asks
// for one node per call, so MaxNodesPerBrowse never binds.
//
// Connection states are logged (zap) and counted (Prometheus, through
// WithRegisterer): kiln_opcua_connected, kiln_opcua_reconnects_total,
// kiln_opcua_connect_failures_total,
// kiln_opcua_subscription_recreations_total and
// kiln_opcua_monitored_item_failures_total.
//
// # Security
//
// Endpoints are selected by SecurityPolicy (None, Basic256Sha256) and
// SecurityMode (None, Sign, SignAndEncrypt). For Basic256Sha256 the client
// certificate and key are read from CertFile and KeyFile, or, when neither
// exists, generated (self-signed, RSA 2048) and stored there on first use.
// With TrustedCerts (a certificate file or a directory: the trust list)
// the server's certificate must be in the list or issued by a certificate
// in it, else connecting fails with ErrUntrustedServer naming its subject
// and SHA-1 thumbprint; without it the certificate is taken from the
// endpoint description unchecked. Identity is Anonymous, or UserName when
// Config.Username is set.
//
// # Benchmark
//
// BenchmarkSubscription10k measures the latency from a change on uasim to
// its sample in the sink, for 1,000 and 10,000 items changing once per
// second (go test -run XXX -bench Subscription10k -benchtime 10x
// ./opcua/); the latency is dominated by the publishing interval. The
// figures are in docs/BENCHMARKS.md.
package opcua
