// Package ha makes two gateways an active/standby pair that never has two
// writers: a lease kept in the PLC itself elects the active node, and
// every write to the PLC is fenced by it.
//
// # Why the lease is in the PLC
//
// Heartbeats between the two gateways cannot tell a dead peer from a cut
// cable, and a third machine as witness is one more thing to fail. The PLC
// is the resource that must not get two writers, and both gateways must
// reach it to do their work, so it is the natural arbiter: three 32-bit
// words of a data block (or holding registers) reserved for kiln hold the
// holder's node id, an epoch that grows with every takeover and a counter
// that grows with every renewal. A gateway that cannot reach the PLC can
// neither hold the lease nor write, which is what the plant needs.
//
// # The protocol
//
// Every FailoverTimeout/8 each node reads the lease. The active renews it
// every quarter timeout (counter+1) and counts a renewal once it has read
// it back. A standby takes over when the lease has not changed for a whole
// FailoverTimeout on its own clock: it writes its id, epoch+1 and counter
// 0, waits a quarter timeout, and becomes active only if its claim is
// still there, so two nodes claiming at once end with one. A free lease
// (first start) goes at once to the node whose PreferredRole is active, to
// the other after a timeout; Resign gives it up for the other node to take
// at once (an operator's switchover).
//
// # Fencing
//
// Fence wraps a device driver so that each write first passes Check: the
// node is active, its last confirmed renewal is less than 3/4 of a timeout
// old on the monotonic clock (which runs on while a process is stopped, so
// a node resumed after SIGSTOP finds itself expired), and the lease read
// from the PLC right then names it in its epoch. The standby cannot take
// over before a full timeout after it last saw a renewal, which is after
// that renewal was sent; the last quarter covers the write's way to the
// PLC. A fenced write fails with ErrFenced and never reaches the device.
// What no gateway-side check can close is a process stopped between the
// last check and the socket write and resumed after a takeover; a PLC
// program that applies setpoints only from a mailbox carrying the lease's
// epoch closes it, and the epoch is there for that.
//
//	el, err := ha.New(cfg.HA, rawDriver, ha.WithLogger(log))
//	go el.Serve(ctx)
//	drivers["plc1"] = el.Fence(rawDriver) // every write path goes through it
package ha
