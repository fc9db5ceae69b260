package edge

import (
	"time"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/transport/sparkplug"
	"github.com/kiln-iot/kiln/transport/sparkplug/internal/mqttconn"
)

// Defaults of Config.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 15 * time.Second
	DefaultReplayRate     = 5000
)

// Config is an edge node's MQTT and Sparkplug settings.
type Config struct {
	// Servers are the MQTT brokers, tried in order ("tcp://host:1883",
	// "ssl://host:8883"); Node Control/Next Server moves to the next.
	// Required.
	Servers []string `yaml:"servers"`
	// GroupID and NodeID name the node: spBv1.0/<group_id>/…/<edge_node_id>.
	// Required.
	GroupID string `yaml:"group_id"`
	NodeID  string `yaml:"edge_node_id"`
	// PrimaryHost is the host application whose STATE the node waits for
	// before its births; while that host is offline the node publishes
	// nothing and data stays in the spool. Empty: publish once connected.
	PrimaryHost string `yaml:"primary_host_id"`
	// ClientID is the MQTT client id (default "<group_id>-<edge_node_id>").
	ClientID string `yaml:"client_id"`
	// Username and Password authenticate to the broker.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS secures ssl:// servers.
	TLS sparkplug.TLS `yaml:"tls"`
	// KeepAlive is the MQTT keep-alive (default 30s; a cellular link that
	// costs per byte may want 60s or more).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt (default 15s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Retry paces reconnection attempts.
	Retry backoff.Config `yaml:"retry"`
	// NoAliases sends metric names in every data message instead of the
	// aliases announced in the births (aliases cut bytes on 4G).
	NoAliases bool `yaml:"no_aliases"`
	// ReplayRate bounds the samples per second of historical data replayed
	// after an outage (default 5000).
	ReplayRate float64 `yaml:"replay_rate"`
}

// Validate reports every bad field as a *config.FieldError.
func (c Config) Validate() error {
	var p config.Problems
	mqttconn.CheckServers(&p, c.Servers)
	for _, f := range []struct{ path, kind, v string }{{"group_id", "group", c.GroupID}, {"edge_node_id", "node", c.NodeID}} {
		if err := sparkplug.CheckID(f.kind, f.v); err != nil {
			p.Add(f.path, "%s", err.(*sparkplug.TopicError).Reason)
		}
	}
	if c.PrimaryHost != "" {
		if err := sparkplug.CheckID("host", c.PrimaryHost); err != nil {
			p.Add("primary_host_id", "%s", err.(*sparkplug.TopicError).Reason)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.Add("tls", "cert_file and key_file go together")
	}
	if c.KeepAlive < 0 {
		p.Add("keep_alive", "%s is negative", c.KeepAlive)
	}
	if c.ConnectTimeout < 0 {
		p.Add("connect_timeout", "%s is negative", c.ConnectTimeout)
	}
	if c.ReplayRate < 0 {
		p.Add("replay_rate", "%g is negative", c.ReplayRate)
	}
	p.Nest("retry", c.Retry.Validate())
	return p.Err()
}

func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = c.GroupID + "-" + c.NodeID
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReplayRate == 0 {
		c.ReplayRate = DefaultReplayRate
	}
	return c
}
