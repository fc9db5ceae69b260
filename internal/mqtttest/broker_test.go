package mqtttest

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func connect(t *testing.T, opts *mqtt.ClientOptions) (mqtt.Client, error) {
	t.Helper()
	opts.SetConnectTimeout(10 * time.Second).SetAutoReconnect(false).SetConnectRetry(false)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(20 * time.Second) {
		t.Fatal("connect did not finish in 20s")
	}
	return c, tok.Error()
}

func TestMessagesFlowAndRestartKeepsThePort(t *testing.T) {
	b := Start(t, Options{})
	c, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("a"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	if tok := c.Subscribe("x/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Publish("x/y", 1, false, "hello").WaitTimeout(10 * time.Second)
	select {
	case s := <-got:
		if s != "hello" {
			t.Errorf("got %q", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no message in 20s")
	}
	c.Disconnect(100)
	b.Restart()
	c2, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("b"))
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	c2.Disconnect(100)
}

func TestUsersAndACLAreEnforced(t *testing.T) {
	b := Start(t, Options{
		Users: map[string]string{"gw1": "s3cret", "spy": "x"},
		ACL:   "user gw1\ntopic readwrite acme/#\nuser spy\ntopic read other/#",
	})
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("anon")); err == nil {
		t.Error("anonymous client accepted")
	}
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("bad").SetUsername("gw1").SetPassword("wrong")); err == nil {
		t.Error("wrong password accepted")
	}
	gw, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("gw1").SetUsername("gw1").SetPassword("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Disconnect(100)
	spy, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("spy").SetUsername("spy").SetPassword("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Disconnect(100)
	seen := make(chan string, 4)
	spy.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) { seen <- m.Topic() }).WaitTimeout(10 * time.Second)
	gw.Publish("acme/data", 1, false, "x").WaitTimeout(10 * time.Second)
	// The spy may read only other/#; gw1 may not write there, so nothing
	// reaches it. A message gw1 can deliver to itself proves the broker
	// processed the publish before we look.
	self := make(chan struct{}, 1)
	gw.Subscribe("acme/self", 1, func(mqtt.Client, mqtt.Message) { self <- struct{}{} }).WaitTimeout(10 * time.Second)
	gw.Publish("other/data", 1, false, "x").WaitTimeout(10 * time.Second)
	gw.Publish("acme/self", 1, false, "x").WaitTimeout(10 * time.Second)
	select {
	case <-self:
	case <-time.After(20 * time.Second):
		t.Fatal("gw1's own message never came back")
	}
	select {
	case topic := <-seen:
		t.Errorf("the ACL let the spy see %s", topic)
	default:
	}
}

func TestTLSRequiresAClientCertificate(t *testing.T) {
	b := Start(t, Options{TLS: true, ACL: "user gw1\ntopic readwrite #"})
	if !strings.HasPrefix(b.URL(), "ssl://") {
		t.Fatalf("URL %s", b.URL())
	}
	noCert := &tls.Config{RootCAs: b.CAPool(), MinVersion: tls.VersionTLS12}
	if _, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("x").SetTLSConfig(noCert)); err == nil {
		t.Error("a client without certificate was accepted")
	}
	withCert := &tls.Config{RootCAs: b.CAPool(), Certificates: []tls.Certificate{b.ClientCert("gw1")}, MinVersion: tls.VersionTLS12}
	c, err := connect(t, mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("gw1").SetTLSConfig(withCert))
	if err != nil {
		t.Fatalf("with a certificate: %v (broker: %s)", err, b.Logs())
	}
	c.Disconnect(100)
}
