// Package s7 is kiln's driver for Siemens S7 PLCs (S7-300/400/1200/1500)
// over ISO-on-TCP (RFC 1006). It registers itself with package plc as
// driver "s7".
//
// # Addresses
//
// ParseAddress reads addresses as engineers write them, case-insensitive
// with an optional leading %: DB1.DBX0.0, DB1.DBB2, DB1.DBW4, DB1.DBD8;
// M0.1, MB1, MW2, MD4; inputs I0.0, IB0, IW0, ID0 (German E…); outputs
// Q0.0, QB0, QW0, QD0 (German A…). 64-bit types and strings start at a
// byte: DB1.DBB12 as LREAL, DB5.DBB0[20] or DB5.DBB0 as STRING[20]. A
// type may follow a colon, PLC4X style: %DB1.DBW10:INT. The type must fit
// the width, else an *AddressError gives the position.
//
// # Planning
//
// Reader.Read reads a scan group in few round trips. The plan, made once
// per group for the negotiated PDU size, merges tags of one area/DB whose
// byte ranges are close (Config.Gap; by default the gap giving the fewest
// requests), cuts ranges wherever a request is full, and packs items so
// that every request and its answer (item headers, data, padding) fit the
// PDU, with at most Config.MaxItems items (default 20). BOOLs are read as
// bytes and written with bit transport, so a write never rewrites the
// other bits of its byte. An item the PLC refuses turns only its tags Bad,
// with an *ItemError code in the sample's quality: a refused item that
// held several tags is read again tag by tag and the faulty tag is planned
// alone from then on.
//
// s7bench (go run ./plc/s7/cmd/s7bench -pdu N) compares the round trips
// and scan times of the plan with one request per tag; its figures are in
// docs/BENCHMARKS.md.
//
// # Connections
//
// New (or plc.Open) returns at once and connects in the background; the
// first read waits for the first attempt. Failed connection attempts are
// retried with exponential backoff and jitter (Config.Retry);
// meanwhile reads answer at once with Bad/comm-failure samples. A
// transport error or an unusable answer drops the connection. An idle
// connection is checked every second, so one the PLC or a gateway closed
// is rebuilt before the next read needs it. A connection that was up for
// at least 30s is rebuilt at once and starts the backoff afresh; one
// lost within 30s of being made is rebuilt only after the next backoff
// delay, the attempt count growing on (logged as "s7 session ended soon
// after it began" with lasted and retry_in), so that a PLC out of
// connection resources, or a firewall that resets connections after the
// handshake, is not redialled in a tight loop. A connection dropped
// because a caller cancelled its request is rebuilt at once. These are
// the rules of package reconnect, whose loop each connection runs on;
// WithEvents reports its events (connected, lost with the cause,
// retrying in) and WithClock sets its clock. A circuit
// breaker (github.com/sony/gobreaker/v2) opens after
// Config.Breaker.Failures consecutive failures and lets one probe through
// after Config.Breaker.OpenFor.
//
// # Jobs in flight
//
// The setup communication proposes 8 jobs outstanding at once (max AmQ
// calling/called) and the CPU grants its own number (S7-300/400: often
// 1, S7-1500: 3 or more). A read keeps that many requests in flight on
// each connection; answers are matched by PDU reference in whatever
// order they come, and each lands in its request's place, so results
// keep their order. Where the CPU grants one, requests go one at a time
// as before. A request that times out or is cancelled fails only its
// tags (Bad, comm failure): with several jobs granted the connection
// goes on, its job taken until the late answer comes (a connection whose
// every job is taken so is rebuilt); with one granted the connection is
// rebuilt. Config.Connections connections share the requests of a read,
// each with its own jobs.
//
// Metrics (WithRegisterer): kiln_s7_requests_total{op,result},
// kiln_s7_bytes_total{direction}, kiln_s7_round_trip_seconds{op},
// kiln_s7_reconnects_total, kiln_s7_breaker_state (0 closed, 1 half-open,
// 2 open) and kiln_s7_item_errors_total{code}, each labelled with the
// device name.
//
// # Device options
//
// In a point database the device's options are Config's yaml names: rack,
// slot, connection_type (pg, op, basic), remote_tsap and local_tsap (hex
// "0x0102" or "01.02"), pdu_size, max_items, gap ("auto" or bytes),
// connections, timeout, connect_timeout, and the nested ones dotted:
// retry.initial, retry.max, retry.multiplier, retry.jitter,
// breaker.failures, breaker.open_for (ConfigFromDevice). The endpoint is
// the device's own. Every bad option is reported, at options.<key>.
//
// # Transport, and why not gos7's handler
//
// The driver speaks ISO-on-TCP itself (TPKT, COTP connection from
// Config.LocalTSAP to the remote TSAP, setup communication proposing
// Config.PDUSize, default 960) and builds and parses the Read Var and
// Write Var telegrams itself. github.com/robinson/gos7, which kiln
// otherwise builds on (its client is the reference the simulator is
// tested against, and the baseline of the benchmark), cannot serve here
// without a fork: its TCP handler always offers local TSAP 0x0100 and PDU
// 480 and refuses answers above 480 bytes, so an S7-1500 could not give
// its 960 bytes; its Send cannot be interrupted by a context; its
// multi-item calls stop at 20 items, check only the request against the
// PDU, lose the item return codes in strings, and AGWriteMulti prints
// every telegram to stdout; its idle timer closes the connection without
// reconnecting, and a handler whose connection attempt failed keeps a
// closed socket. Here, cancelling a read's context (or Close) interrupts
// the request under way. Answers are matched to requests by PDU
// reference; an answer with a reference no request has, or larger than
// the negotiated PDU, drops the connection. Nothing
// is printed: logs go to the injected *zap.Logger.
//
//	drv, err := s7.New(s7.Config{Endpoint: "10.0.0.5", Rack: 0, Slot: 1})
//	if err != nil { … }
//	defer drv.Close()
//	r, err := drv.Prepare(tags)
//	samples := make([]plc.Sample, len(tags))
//	err = r.Read(ctx, samples)
package s7
