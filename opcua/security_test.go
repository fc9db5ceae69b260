package opcua_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

func TestSecurity(t *testing.T) {
	tags := []plc.Tag{{Name: "S.V", Type: plc.TypeDInt, Access: plc.ReadWrite}}
	// One server for every security test: each start of gopcua's server
	// costs seconds under -race.
	sim := startSim(t, uasim.Config{Users: map[string]string{"operator": "secret"}}, tags)
	t.Run("wrong password refused", func(t *testing.T) { testWrongPasswordRefused(t, sim) })
	t.Run("trusted server certificate", func(t *testing.T) { testTrustedServerCertificate(t, sim) })
	cases := []struct {
		name string
		cfg  opcua.Config
	}{
		{"Basic256Sha256 SignAndEncrypt anonymous", opcua.Config{SecurityPolicy: "Basic256Sha256", SecurityMode: "SignAndEncrypt"}},
		{"Basic256Sha256 Sign user name", opcua.Config{SecurityPolicy: "Basic256Sha256", SecurityMode: "Sign", Username: "operator", Password: "secret"}},
		{"None user name (password encrypted for the server)", opcua.Config{Username: "operator", Password: "secret"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Endpoint = sim.Endpoint()
			c := newClient(t, cfg)
			drv := opcua.NewDriver(c)
			tag := plc.Tag{Name: "S.V", Address: sim.NodeID("S.V"), Type: plc.TypeDInt, Access: plc.ReadWrite}
			want := plc.IntValue(plc.DInt, int64(1000+i))
			if errs := drv.Write(context.Background(), []plc.WriteItem{{Tag: tag, Value: want}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
			r, _ := drv.Prepare([]plc.Tag{tag})
			out := make([]plc.Sample, 1)
			if err := r.Read(context.Background(), out); err != nil {
				t.Fatal(err)
			}
			if !out[0].Quality.IsGood() || !out[0].Value.Equal(want) {
				t.Fatalf("read back %v (%v), want %v", out[0].Value, out[0].Quality, want)
			}
		})
	}
}

func testWrongPasswordRefused(t *testing.T, sim *uasim.Server) {
	for _, mode := range []string{"None", "SignAndEncrypt"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cfg := opcua.Config{Endpoint: sim.Endpoint(), SecurityMode: mode, Username: "operator", Password: "wrong",
				CertFile: dir + "/cert.der", KeyFile: dir + "/key.pem", Retry: fastBackoff}
			if mode != "None" {
				cfg.SecurityPolicy = "Basic256Sha256"
			}
			if e := firstConnectError(t, cfg); !errors.Is(e, ua.StatusBadUserAccessDenied) {
				t.Fatalf("connect failed with %v, want BadUserAccessDenied", e)
			}
		})
	}
}

func TestClientCertificateGeneratedAndKept(t *testing.T) {
	dir := t.TempDir()
	cfg := opcua.Config{Endpoint: "opc.tcp://127.0.0.1:1", SecurityPolicy: "Basic256Sha256",
		CertFile: filepath.Join(dir, "pki", "cert.der"), KeyFile: filepath.Join(dir, "pki", "key.pem")}
	c1, err := opcua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()
	first, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		t.Fatalf("certificate not stored: %v", err)
	}
	if st, err := os.Stat(cfg.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key not stored private: %v %v", st, err)
	}
	c2, err := opcua.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	second, _ := os.ReadFile(cfg.CertFile)
	if !bytes.Equal(first, second) {
		t.Fatal("certificate regenerated on second use")
	}
	// A key file without its certificate is an error, not a silent regeneration.
	os.Remove(cfg.CertFile)
	if _, err := opcua.New(cfg); err == nil {
		t.Fatal("missing certificate with a key present accepted")
	}
}
