// Package reconnect keeps one session to a device up: it dials, holds the
// session until it is lost, and dials again with backoff, on an
// injectable clock. The S7 and OPC UA drivers run their connections on
// it, and any driver of a connection-oriented protocol can.
//
//	loop, err := reconnect.New(reconnect.Config{Retry: cfg.Retry}, func(ctx context.Context) (reconnect.Hold, error) {
//		conn, err := dial(ctx) // one attempt
//		if err != nil {
//			return nil, err // retried after the next backoff delay
//		}
//		return func(ctx context.Context) error {
//			defer conn.Close()
//			return conn.wait(ctx) // blocks while the session lasts; returns the cause of its loss
//		}, nil
//	}, reconnect.WithClock(clk), reconnect.WithLogger(log, "modbus "), reconnect.WithEvents(hook))
//	go loop.Serve(ctx) // until ctx is done; the owner waits for it
//
// # The rules
//
// A failed attempt is retried after the next delay of Config.Retry
// (package backoff: growing, jittered, capped), slept on the loop's
// clock. A session that lasted Config.StableAfter (default 30s) or longer
// is redialled at once and the delays start afresh. A shorter one is
// followed by the next delay, the attempt count growing on, so that a
// peer that accepts connections and drops them at once (a PLC out of
// connection resources, a firewall that resets after the handshake, a
// server that faults new sessions) is not redialled in a tight loop. A
// session whose Hold returns an error matching ErrByCaller (the program
// itself dropped the connection, say because a caller cancelled a
// request) is redialled at once and the count stays as it was.
//
// # Observing the session
//
// WithEvents receives an Event for every change: Connected, Lost (with
// the cause and how long the session lasted) and Retrying (with the
// delay, the attempt number and the failed attempt's error). Drivers
// pass such a hook through an option of their own, so that users and
// tests watch the session without reading logs. WithLogger logs failed
// attempts ("connect failed", keys error and retry_in) and short sessions
// ("session ended soon after it began", keys lasted and retry_in) under
// a prefix that names the driver.
package reconnect
