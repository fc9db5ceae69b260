package s7

import "testing"

func TestHostPortDefaultsTo102(t *testing.T) {
	cases := map[string]string{
		"10.0.0.5":       "10.0.0.5:102",
		"plc1":           "plc1:102",
		"10.0.0.5:1102":  "10.0.0.5:1102",
		"::1":            "[::1]:102",
		"[fe80::1]":      "[fe80::1]:102",
		"[fe80::1]:2000": "[fe80::1]:2000",
	}
	for in, want := range cases {
		if got, err := hostPort(in); err != nil || got != want {
			t.Errorf("hostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := hostPort(""); err == nil {
		t.Error("empty endpoint accepted")
	}
}

func TestTSAPs(t *testing.T) {
	if got := (Config{RemoteTSAP: 0x0323}).withDefaults().remoteTSAP(); got != 0x0323 {
		t.Errorf("explicit remote TSAP → 0x%04x", got)
	}
	if got := (Config{Rack: 1, Slot: 2, ConnectionType: "OP"}).withDefaults().remoteTSAP(); got != 0x0222 {
		t.Errorf("rack 1 slot 2 OP → 0x%04x, want 0x0222", got)
	}
	if got := (Config{}).withDefaults().remoteTSAP(); got != 0x0101 {
		t.Errorf("defaults → 0x%04x, want 0x0101 (PG, rack 0, slot 1)", got)
	}
	c := Config{}.withDefaults()
	if c.LocalTSAP != 0x0100 || c.PDUSize != maxPDU {
		t.Errorf("defaults: local TSAP 0x%04x, PDU %d", c.LocalTSAP, c.PDUSize)
	}
}
