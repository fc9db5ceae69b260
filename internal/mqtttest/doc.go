// Package mqtttest starts a real mosquitto broker for kiln's MQTT tests:
// on a free 127.0.0.1 port, with optional password users, an ACL file and
// TLS with client certificates (a throwaway CA made per broker), and a
// Restart on the same port for outage tests. mosquitto comes from
// Debian's package (./scripts/test installs it); a missing binary fails
// the test.
//
//	b := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"gw1": "secret"}})
//	opts := mqtt.NewClientOptions().AddBroker(b.URL()).SetUsername("gw1").SetPassword("secret")
//	b.Stop()    // the link is gone
//	b.Restart() // same port, same users
package mqtttest
