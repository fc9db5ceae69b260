// Package uasim is the simulated WinCC: an OPC UA server, built on
// github.com/gopcua/opcua/server, that serves a kiln tag list for tests,
// benchmarks and the demo plant.
//
//	sim, err := uasim.New(uasim.Config{}, tags, uasim.WithOnWrite(hook))
//	err = sim.Start(ctx)            // 127.0.0.1, a free port
//	defer sim.Stop()
//	sim.Set("Line1.Kiln.Temp", plc.FloatValue(plc.LReal, 1180))
//	endpoint := sim.Endpoint()      // opc.tcp://127.0.0.1:PORT
//
// Each tag becomes a variable with node id ns=2;s=<tag name> (the index
// is Config.NamespaceIndex, or the place of Config.NamespaceURI among
// Config.Namespaces, the URIs registered in the order given, so a test
// can restart a server with its namespaces reordered) under folders made from the dotted parts of
// its name (Line1 → Line1.Kiln → Temp), hung off the Objects folder. The
// variable's DataType is the OPC UA type of the tag's kind, its access
// level follows the tag's Access. Set and Get work from Go whether or not
// the server runs; Set notifies subscribers, SetStatus gives the value a
// status code (Uncertain…, Bad…) until the next Set. Clients may write read-write
// tags with a value of the exact OPC UA type (else BadTypeMismatch);
// read-only tags reject writes with BadNotWritable, as servers do when the
// access level lacks CurrentWrite. WithOnWrite sees every client write
// before it is stored and may refuse it, so a simulated plant can serve
// the same memory over S7 and OPC UA.
//
// Stop closes every client connection (as a real server's shutdown does)
// and Start serves again on the same port with the same values, for
// reconnect tests; RemoveNode (or a server built with another tag list)
// makes a node disappear across such a restart. Blackhole keeps the
// connections open but passes no bytes, a silent network loss. Refuse
// fails every call of a service (TranslateBrowsePaths,
// CreateMonitoredItems) with a ServiceFault, as an overloaded server does.
//
// Config.Limits sets the server's operation limits (MaxNodesPerRead,
// MaxNodesPerWrite, MaxNodesPerTranslateBrowsePaths,
// MaxMonitoredItemsPerCall; yaml limits: max_nodes_per_read, …; zero, the
// default, is no limit). They are published in the standard
// Server.ServerCapabilities.OperationLimits properties (0 when unset, in
// place of the 32 gopcua's server publishes for reads without enforcing
// it) and enforced: a Read, Write, TranslateBrowsePathsToNodeIds or
// CreateMonitoredItems with more operations fails as a whole with
// BadTooManyOperations, as real servers do.
//
// Beyond gopcua's server, uasim implements: Read (with the limit),
// Write (typed and access-checked), TranslateBrowsePathsToNodeIDs, and
// CreateMonitoredItems with a status per item (BadNodeIdUnknown for
// unknown nodes; gopcua accepts any) and data change filters (absolute
// deadband; percent deadband of the tag's scaling raw range or write
// limits), and ActivateSession with an identity check in front of
// gopcua's own (which accepts any token): Config.Users refuses unknown
// users and wrong passwords with BadUserAccessDenied, decrypting
// passwords sent for the Basic256Sha256 token policy; a token type the
// server does not offer is refused with BadIdentityTokenRejected. gopcua
// keeps that handler's state unexported, so uasim reaches it by
// reflection, checked at Start against gopcua's layout.
//
// Not supported: TransferSubscriptions and Republish (gopcua's server has
// neither, so a client must recreate its subscriptions after a
// reconnect); ModifySubscription, ModifyMonitoredItems, SetPublishingMode,
// SetTriggering; history, methods, events; sampling (values are reported
// when Set or written, not sampled, and queue size is 1: the latest value
// per publishing interval); user tokens other than Anonymous and UserName.
// Sessions do not time out. Certificates are self-signed, generated at New,
// and clients' certificates are not checked. Browse results are those of
// gopcua's server. The server listens through a small TCP relay (see
// Server.Stop), which adds one local hop.
package uasim
