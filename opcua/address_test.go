package opcua_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/backoff"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/plc"
)

func TestParseAddress(t *testing.T) {
	good := map[string]string{
		"ns=2;s=Line1.Temp":               "ns=2;s=Line1.Temp",
		"ns=3;i=1001":                     "ns=3;i=1001",
		"i=85":                            "i=85",
		"ns=2;s=A;B":                      "ns=2;s=A;B",
		"/2:Line1/Kiln/Temp":              "/2:Line1/2:Kiln/2:Temp",
		"/Objects":                        "/0:Objects",
		`/2:A\/B/3:C`:                     `/2:A\/B/3:C`,
		"/2:Line1/Temp:Celsius":           `/2:Line1/2:Temp\:Celsius`,
		"nsu=urn:kiln:uasim;s=Line1.Temp": "nsu=urn:kiln:uasim;s=Line1.Temp",
		"nsu=http://x.org/UA/;i=1001":     "nsu=http://x.org/UA/;i=1001",
		"nsu=urn:a%3Bb;s=T;s=1":           "nsu=urn:a%3Bb;s=T;s=1",
		"nsu=urn:x;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63": "nsu=urn:x;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63",
		"nsu=urn:x;b=M/RbKBsRVkePCePcx24oRA==":             "nsu=urn:x;b=M/RbKBsRVkePCePcx24oRA==",
	}
	for in, want := range good {
		a, err := opcua.ParseAddress(in)
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", in, err)
			continue
		}
		if a.String() != want {
			t.Errorf("ParseAddress(%q) = %s, want %s", in, a, want)
		}
		if b, err := opcua.ParseAddress(a.String()); err != nil || b.String() != a.String() {
			t.Errorf("%q does not round-trip: %v %v", in, b, err)
		}
	}
	bad := []string{"", " ", "foo", "ns=2;q=1", "ns=x;s=1", "ns=2", "s=", "i=abc", "ns=70000;i=1", "/", "/2:", "//a", `/a\`, "/99999:a", "nsu=urn:x", "nsu=;s=A", "nsu=urn:%zz;s=A", "nsu=urn:x;i=abc"}
	for _, in := range bad {
		_, err := opcua.ParseAddress(in)
		var ae *opcua.AddressError
		if !errors.As(err, &ae) {
			t.Errorf("ParseAddress(%q) = %v, want *AddressError", in, err)
		}
	}
}

func TestCheckAddressRegistered(t *testing.T) {
	reg, ok := plc.Lookup("opcua")
	if !ok {
		t.Fatal("driver opcua not registered")
	}
	if err := reg.CheckAddress("ns=2;s=Line1.Temp", plc.TypeLReal); err != nil {
		t.Error(err)
	}
	if err := reg.CheckAddress("nonsense", plc.TypeLReal); err == nil {
		t.Error("bad address accepted")
	}
	if _, err := plc.Open(plc.Device{Name: "w", Driver: "opcua", Endpoint: "http://x"}, plc.OpenOptions{}); err == nil {
		t.Error("http endpoint accepted")
	}
	if _, err := plc.Open(plc.Device{Name: "w", Driver: "opcua", Endpoint: "opc.tcp://x:4840", Options: map[string]string{"colour": "red"}}, plc.OpenOptions{}); err == nil {
		t.Error("unknown option accepted")
	}
}

func TestQualityFromStatus(t *testing.T) {
	cases := []struct {
		code   ua.StatusCode
		status plc.Status
		reason plc.Reason
		detail string
	}{
		{ua.StatusOK, plc.StatusGood, plc.ReasonNone, ""},
		{ua.StatusUncertainLastUsableValue, plc.StatusUncertain, plc.ReasonDeviceError, "UncertainLastUsableValue"},
		{ua.StatusBadNodeIDUnknown, plc.StatusBad, plc.ReasonConfigError, "BadNodeIdUnknown"},
		{ua.StatusBadNotConnected, plc.StatusBad, plc.ReasonCommFailure, "BadNotConnected"},
		{ua.StatusBadOutOfService, plc.StatusBad, plc.ReasonOutOfService, "BadOutOfService"},
		{ua.StatusBadNotWritable, plc.StatusBad, plc.ReasonDeviceError, "BadNotWritable"},
	}
	for _, c := range cases {
		q := opcua.Quality(c.code)
		if q.Status != c.status || q.Reason != c.reason || q.Detail != c.detail {
			t.Errorf("Quality(%s) = %+v", c.detail, q)
		}
		if c.status != plc.StatusGood && q.Code != uint32(c.code) {
			t.Errorf("Quality(%s).Code = %x", c.detail, q.Code)
		}
	}
	// Status codes are errors and errors.Is-able through wrapping.
	err := error(ua.StatusBadNotWritable)
	if !errors.Is(err, ua.StatusBadNotWritable) {
		t.Error("status code not errors.Is-able")
	}
}

func TestVariantRoundTrip(t *testing.T) {
	for _, tg := range allTypes {
		v, err := plc.ParseValue("1", tg.Type)
		if tg.Type.Kind == plc.DateTime {
			v, err = plc.ParseValue("2026-01-02T03:04:05Z", tg.Type)
		}
		if err != nil {
			t.Fatalf("%s: %v", tg.Name, err)
		}
		vr, err := opcua.Variant(v)
		if err != nil {
			t.Fatalf("%s: %v", tg.Name, err)
		}
		if uint32(vr.Type()) != opcua.DataTypeID(tg.Type.Kind) {
			t.Errorf("%s: variant type %d, want %d", tg.Name, vr.Type(), opcua.DataTypeID(tg.Type.Kind))
		}
		back, err := opcua.ValueOf(vr, tg.Type)
		if err != nil || !back.Equal(v) {
			t.Errorf("%s: %v -> %v -> %v (%v)", tg.Name, v, vr.Value(), back, err)
		}
	}
	// A value that does not fit the tag's type is refused, not wrapped.
	if _, err := opcua.ValueOf(ua.MustVariant(int32(70000)), plc.TypeInt); err == nil {
		t.Error("70000 accepted as INT")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []opcua.Config{
		{},
		{Endpoint: "http://x:1"},
		{Endpoint: "opc.tcp://x:1", SecurityPolicy: "Basic128"},
		{Endpoint: "opc.tcp://x:1", SecurityMode: "Sign"},
		{Endpoint: "opc.tcp://x:1", SecurityPolicy: "Basic256Sha256", SecurityMode: "None"},
		{Endpoint: "opc.tcp://x:1", Password: "p"},
		{Endpoint: "opc.tcp://x:1", KeepAlive: -1},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if err := (opcua.Config{Endpoint: "opc.tcp://wincc:4840/path"}).Validate(); err != nil {
		t.Error(err)
	}
	// Every problem at once, each at its own field (once one message
	// named "timeouts" for all three).
	err := opcua.Config{SecurityMode: "Sign", Password: "p", RequestTimeout: -1, KeepAlive: -1, Retry: backoff.Config{Max: -1}}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if want := []string{"endpoint", "security_mode", "request_timeout", "keep_alive", "password", "retry.max"}; !slices.Equal(paths, want) {
		t.Errorf("paths %q, want %q", paths, want)
	}
}

func TestConfigFromDeviceDecodesOptionsInAFixedOrder(t *testing.T) {
	dev := plc.Device{Name: "wincc", Endpoint: "opc.tcp://wincc:4840", Options: map[string]string{
		"security_policy": "Basic256Sha256", "username": "op", "password": "pw",
		"request_timeout": "3s", "retry.initial": "1s", "retry.multiplier": "1.5",
	}}
	cfg, err := opcua.ConfigFromDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RequestTimeout != 3*time.Second || cfg.Retry.Multiplier != 1.5 || cfg.Retry.Initial != time.Second || cfg.Username != "op" {
		t.Errorf("config %+v", cfg)
	}
	dev.Options = map[string]string{"zz": "1", "keep_alive": "often", "aa": "2", "security_mode": "Loud", "endpoint": "x"}
	for range 20 { // a map's order changes from run to run; the report must not
		_, err := opcua.ConfigFromDevice(dev)
		var got []string
		for _, fe := range config.List(err) {
			got = append(got, fe.Path+": "+fe.Msg)
		}
		if len(got) != 5 || !strings.Contains(got[0], `"aa"`) || !strings.Contains(got[1], `"endpoint"`) ||
			got[2] != `options.keep_alive: "often" is not a duration such as 500ms` || !strings.Contains(got[3], `"zz"`) ||
			got[4] != `options.security_mode: "Loud" is not None, Sign or SignAndEncrypt` {
			t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"ns=2;s=Line1.Temp", "ns=3;i=1001", "i=85", "/2:Line1/Kiln/Temp", `/2:A\/B`, "ns=1;g=5CE9DBCE-5D79-434C-9AC3-1CFBA9A6E92C", "ns=1;b=YWJj"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := opcua.ParseAddress(s)
		if err != nil {
			return
		}
		if a.Path != nil {
			b, err := opcua.ParseAddress(a.String())
			if err != nil || b.String() != a.String() {
				t.Fatalf("%q -> %q does not round-trip: %v", s, a.String(), err)
			}
		}
	})
}
