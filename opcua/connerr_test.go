package opcua_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

var _ plc.ConnectionReporter = (*opcua.Driver)(nil)

// TestConnectionErrorNamesTheCause: a client whose server's port refuses
// says so, and a connected one says nothing.
func TestConnectionErrorNamesTheCause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	c, err := opcua.New(opcua.Config{Endpoint: "opc.tcp://" + closed, Retry: fastBackoff, CertFile: dir + "/cert.der", KeyFile: dir + "/key.pem"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for err := c.ConnectionError(); err == nil || !strings.Contains(err.Error(), "connection refused"); err = c.ConnectionError() {
		if time.Now().After(deadline) {
			t.Fatalf("ConnectionError = %v, want the refused connection", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	srv := startSim(t, uasim.Config{}, allTypes)
	up := newClient(t, opcua.Config{Endpoint: srv.Endpoint()})
	if err := up.ConnectionError(); err != nil {
		t.Fatalf("connected, ConnectionError = %v", err)
	}
}
