package opcua_test

import (
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
		cfg.Retry = fastBackoff
		if e := firstConnectError(t, cfg); !errors.Is(e, opcua.ErrUntrustedServer) || !strings.Contains(e.Error(), "thumbprint") {
			t.Fatalf("connect failed with %v, want opcua.ErrUntrustedServer naming the thumbprint", e)
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
