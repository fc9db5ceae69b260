// Package mqttconn is the MQTT plumbing the Sparkplug edge node and host
// share: client options from their settings, the check of broker
// addresses, and waiting for a paho token against a context and a limit.
package mqttconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kiln-iot/kiln/config"
)

// ErrNoAnswer is returned by Wait when the broker did not answer in time.
var ErrNoAnswer = errors.New("sparkplug: no answer from the broker")

// Wait waits for t to complete, ctx to end or limit to pass.
func Wait(ctx context.Context, t mqtt.Token, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("%w within %s", ErrNoAnswer, limit)
	}
}

// CheckServers adds a problem at servers[i] for each address that is not
// an MQTT broker URL, and at servers when there is none.
func CheckServers(p *config.Problems, servers []string) {
	if len(servers) == 0 {
		p.Add("servers", "is required: at least one broker such as tcp://127.0.0.1:1883")
	}
	for i, s := range servers {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts") {
			p.Add(fmt.Sprintf("servers[%d]", i), "%q is not a broker address such as tcp://host:1883 or ssl://host:8883", s)
		}
	}
}

// Params are the settings of one connection.
type Params struct {
	Server, ClientID, Username, Password string
	TLS                                  *tls.Config
	KeepAlive, ConnectTimeout            time.Duration
	// WillTopic, when set, registers Will (QoS 1) as the MQTT will.
	WillTopic    string
	Will         []byte
	WillRetained bool
	// OnLost is called when the connection is lost.
	OnLost func(error)
}

// Options returns paho options for one Sparkplug connection: clean
// session (Sparkplug 3.0 on MQTT 3.1.1), no automatic reconnect (the
// caller's loop reconnects, with a new bdSeq or STATE each time), and
// handlers called in order.
func Options(p Params) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().AddBroker(p.Server).SetClientID(p.ClientID).
		SetUsername(p.Username).SetPassword(p.Password).SetCleanSession(true).
		SetKeepAlive(p.KeepAlive).SetConnectTimeout(p.ConnectTimeout).
		SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true)
	if p.WillTopic != "" {
		o.SetBinaryWill(p.WillTopic, p.Will, 1, p.WillRetained)
	}
	if p.OnLost != nil {
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { p.OnLost(err) })
	}
	if p.TLS != nil {
		o.SetTLSConfig(p.TLS)
	}
	return o
}
