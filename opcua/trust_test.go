package opcua_test

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

func testTrustedServerCertificate(t *testing.T, sim *uasim.Server) {
	// Never started: only its certificate is used.
	other, err := uasim.New(uasim.Config{}, []plc.Tag{{Name: "T.V", Type: plc.TypeDInt}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The server's own certificate as PEM in a file: trusted.
	own := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(own, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sim.Certificate()}), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory with another server's certificate (DER): not trusted.
	otherDir := filepath.Join(dir, "other")
	if err := os.Mkdir(otherDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(otherDir, "other.der"), other.Certificate(), 0o644); err != nil {
		t.Fatal(err)
	}
	base := opcua.Config{Endpoint: sim.Endpoint(), SecurityPolicy: "Basic256Sha256", SecurityMode: "SignAndEncrypt",
		CertFile: filepath.Join(dir, "c.der"), KeyFile: filepath.Join(dir, "k.pem")}

	t.Run("trusted", func(t *testing.T) {
		cfg := base
		cfg.TrustedCerts = own
		newClient(t, cfg) // waits until connected
	})
	t.Run("not trusted", func(t *testing.T) {
		cfg := base
		cfg.TrustedCerts = otherDir
		cfg.Backoff = fastBackoff
		core, logs := observer.New(zap.WarnLevel)
		c, err := opcua.New(cfg, opcua.WithLogger(zap.New(core)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for logs.FilterMessage("opcua: connect failed").Len() == 0 {
			select {
			case <-ctx.Done():
				t.Fatal("no failed connect logged")
			case <-time.After(10 * time.Millisecond):
			}
		}
		e, _ := logs.FilterMessage("opcua: connect failed").All()[0].ContextMap()["error"].(string)
		if !strings.Contains(e, "not trusted") || !strings.Contains(e, "thumbprint") {
			t.Fatalf("connect failed with %q, want an untrusted certificate", e)
		}
		if c.State() == opcua.StateConnected {
			t.Fatal("connected to an untrusted server")
		}
	})
	t.Run("bad trust list", func(t *testing.T) {
		for _, p := range []string{filepath.Join(dir, "missing"), t.TempDir()} {
			cfg := base
			cfg.TrustedCerts = p
			if _, err := opcua.New(cfg); err == nil || !strings.Contains(err.Error(), "trusted_certs") {
				t.Errorf("%s: %v, want an error naming trusted_certs", p, err)
			}
		}
		junk := filepath.Join(dir, "junk.der")
		_ = os.WriteFile(junk, []byte("not a certificate"), 0o644)
		cfg := base
		cfg.TrustedCerts = junk
		if _, err := opcua.New(cfg); err == nil || !strings.Contains(err.Error(), junk) {
			t.Errorf("junk: %v, want an error naming %s", err, junk)
		}
	})
}
