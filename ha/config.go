package ha

import (
	"time"

	"github.com/kiln-iot/kiln/config"
)

// Roles of a node.
const (
	RoleStandby  Role = "standby"
	RoleClaiming Role = "claiming"
	RoleActive   Role = "active"
)

// Role is what a node of the pair does now.
type Role string

// Standby modes.
const (
	// Warm standbys keep their device connections and read into their own
	// spool, so a takeover has no gap in the data.
	Warm = "warm"
	// Cold standbys connect only on takeover, for PLCs with few
	// connection slots.
	Cold = "cold"
)

// DefaultFailoverTimeout is the lease's lifetime when Config sets none.
const DefaultFailoverTimeout = 5 * time.Second

// Config is the ha section of a gateway's configuration: who this node
// is and where the lease lives. Both nodes of a pair have the same
// configuration but for NodeID and PreferredRole.
type Config struct {
	// NodeID names this node in the lease: 1 to 4294967295, different
	// on the two nodes. Required.
	NodeID uint32 `yaml:"node_id"`
	// PreferredRole is "active" for the node that takes a free lease at
	// once (at a first start, or after a forced switchover) and
	// "standby" (the default) for the node that waits a failover timeout
	// first, so the pair does not race for it.
	PreferredRole Role `yaml:"preferred_role"`
	// FailoverTimeout is how long the lease may go unrenewed before the
	// standby takes over (default 5s). The active renews it four times
	// per timeout and stops writing to the PLC a quarter timeout before
	// it could expire.
	FailoverTimeout time.Duration `yaml:"failover_timeout"`
	// Standby is "warm" (default) or "cold".
	Standby string `yaml:"standby"`
	// Peer is the other node's HA address (host:port), for heartbeats and
	// configuration checks; optional for the lease itself.
	Peer string `yaml:"peer"`
	// Lease says where in the PLC the lease is kept.
	Lease LeaseConfig `yaml:"lease"`
}

// LeaseConfig locates the lease: three unsigned 32-bit words of one
// device, written in the device driver's address syntax (S7:
// DB100.DBD0; Modbus: HR100:UDINT). Reserve them for kiln: nothing else
// may write them.
type LeaseConfig struct {
	// Device is the device (of the point database) that holds the lease.
	Device string `yaml:"device"`
	// Holder is the node id of the lease holder, 0 for none.
	Holder string `yaml:"holder"`
	// Epoch increases with every takeover.
	Epoch string `yaml:"epoch"`
	// Counter increases with every renewal.
	Counter string `yaml:"counter"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	if c.NodeID == 0 {
		p.Add("node_id", "is required: a number from 1, different on the two nodes")
	}
	switch c.PreferredRole {
	case "", RoleActive, RoleStandby:
	default:
		p.Add("preferred_role", "%q is neither active nor standby", c.PreferredRole)
	}
	if c.FailoverTimeout < 0 {
		p.Add("failover_timeout", "%s is negative", c.FailoverTimeout)
	} else if c.FailoverTimeout != 0 && c.FailoverTimeout < 400*time.Millisecond {
		p.Add("failover_timeout", "%s is below 400ms, shorter than a PLC round trip allows", c.FailoverTimeout)
	}
	switch c.Standby {
	case "", Warm, Cold:
	default:
		p.Add("standby", "%q is neither warm nor cold", c.Standby)
	}
	if c.Lease.Device == "" {
		p.Add("lease.device", "is required: the device that holds the lease")
	}
	for _, f := range []struct{ path, v string }{{"lease.holder", c.Lease.Holder}, {"lease.epoch", c.Lease.Epoch}, {"lease.counter", c.Lease.Counter}} {
		if f.v == "" {
			p.Add(f.path, "is required: the address of a 32-bit word reserved for the lease")
		}
	}
	if c.Lease.Holder != "" && (c.Lease.Holder == c.Lease.Epoch || c.Lease.Holder == c.Lease.Counter) ||
		c.Lease.Epoch != "" && c.Lease.Epoch == c.Lease.Counter {
		p.Add("lease", "holder, epoch and counter need three different addresses")
	}
	return p.Err()
}

// Timeout returns FailoverTimeout with its default applied.
func (c Config) Timeout() time.Duration {
	if c.FailoverTimeout == 0 {
		return DefaultFailoverTimeout
	}
	return c.FailoverTimeout
}

// StandbyMode returns Standby with its default applied: Warm or Cold.
func (c Config) StandbyMode() string {
	if c.Standby == "" {
		return Warm
	}
	return c.Standby
}
