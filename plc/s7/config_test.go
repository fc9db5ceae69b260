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

func TestRemoteTSAPDecomposes(t *testing.T) {
	c := Config{RemoteTSAP: 0x0323}.withDefaults()
	if ct, rack, slot := c.remote(); ct<<8|rack<<5|slot != 0x0323 {
		t.Errorf("0x0323 → type %d rack %d slot %d", ct, rack, slot)
	}
	c = Config{Rack: 1, Slot: 2, ConnectionType: "OP"}.withDefaults()
	if ct, rack, slot := c.remote(); ct != 2 || rack != 1 || slot != 2 {
		t.Errorf("rack 1 slot 2 OP → %d %d %d", ct, rack, slot)
	}
}
