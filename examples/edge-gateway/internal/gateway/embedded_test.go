package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/demo"
	"github.com/kiln-iot/kiln/examples/edge-gateway/internal/gateway"
	config "github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/examples/plcsim/sim"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store/sqlitestore"
	"github.com/kiln-iot/kiln/transport/command"
)

// TestEmbeddedDemo runs the default configuration (the demo plant, the
// spool feeding SQLite) and cuts the S7 device off: its tags turn Bad, the
// OPC UA tags stay good, the gateway stays ready, and S7 comes back by
// itself. The samples and the audit records land in the data directory.
func TestEmbeddedDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	g, err := gateway.New(ctx, config.Config{DataDir: dir, HTTP: config.HTTP{Listen: "127.0.0.1:0"}}, gateway.WithPlant(demo.Plant))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Serve(gctx) }()
	base := "http://" + g.Addr()

	type value struct {
		Tag, Device, Quality string
		Good                 bool
	}
	devicesGood := func() map[string][2]int { // device: good, bad
		var vs struct{ Values []value }
		getJSON(t, base+"/api/values", &vs)
		out := map[string][2]int{}
		for _, v := range vs.Values {
			c := out[v.Device]
			if v.Good {
				c[0]++
			} else {
				c[1]++
			}
			out[v.Device] = c
		}
		return out
	}
	allGood := func() bool {
		for _, c := range devicesGood() {
			if c[1] > 0 {
				return false
			}
		}
		return true
	}
	eventually(t, 20*time.Second, "every tag good", allGood)

	// A write through the embedded path; refusals stay off the PLC.
	plant := g.Plant().(*sim.Plant)
	writes := plant.Writes()
	if r := postWrite(t, base, "demo-token", "Kiln1.Recipe", "TILE-GREY-02"); r.code != http.StatusOK {
		t.Fatalf("write: %d %+v", r.code, r.audit)
	}
	if v, _ := plant.Get("Kiln1.Recipe"); v.Str() != "TILE-GREY-02" {
		t.Fatalf("recipe in the PLC: %q", v.Str())
	}
	if r := postWrite(t, base, "demo-token", "Line1.Fan1.SpeedSetpoint", -5); r.code != http.StatusUnprocessableEntity {
		t.Fatalf("out-of-limits write: %d %+v", r.code, r.audit)
	}
	if plant.Writes() != writes+1 {
		t.Fatalf("PLC took %d writes, want 1", plant.Writes()-writes)
	}

	// The S7 device goes down; the OPC UA one carries on.
	if err := plant.S7().Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "S7 tags bad, OPC UA tags good", func() bool {
		c := devicesGood()
		return c["plant-s7"][0] == 0 && c["plant-s7"][1] > 0 && c["plant-opcua"][1] == 0 && c["plant-opcua"][0] > 0
	})
	if code := getJSON(t, base+"/healthz", nil); code != http.StatusOK {
		t.Fatalf("healthz with one device up: %d", code)
	}
	var st struct {
		Devices []struct {
			Name string
			Up   bool
		}
		Poller []struct {
			Group   string
			Scans   uint64
			Devices []struct {
				Device string
				Scans  uint64
			}
		}
	}
	getJSON(t, base+"/api/status", &st)
	for _, d := range st.Devices {
		if d.Up != (d.Name == "plant-opcua") {
			t.Errorf("status: device %s up=%v", d.Name, d.Up)
		}
	}
	// Each group is broken down by device, each scanning on its own.
	for _, g := range st.Poller {
		var names []string
		var scans uint64
		for _, d := range g.Devices {
			names = append(names, d.Device)
			scans += d.Scans
		}
		if !slices.Equal(names, []string{"plant-opcua", "plant-s7"}) || scans != g.Scans {
			t.Errorf("status: group %s: devices %v with %d scans, group %d", g.Group, names, scans, g.Scans)
		}
	}
	if err := plant.S7().Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "S7 back", allGood)

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		metrics.WriteString(sc.Text() + "\n")
	}
	resp.Body.Close()
	for _, m := range []string{"kiln_gateway_samples_spooled_total", "kiln_gateway_device_up{device=\"plant-s7\"", "kiln_gateway_writes_total{code=\"ok\"} 1",
		"kiln_gateway_writes_total{code=\"out_of_limits\"} 1", "kiln_plc_poller_samples_read_total", "kiln_spool_oldest_age_seconds", "kiln_spool_depth_records"} {
		if !strings.Contains(metrics.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	spooled := g.Stats().SamplesSpooled
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything spooled was stored, once (the local consumer may stop a
	// batch short; the spool keeps the rest for the next start).
	st2, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(dir, "samples.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	tags, err := st2.Tags(ctx, config.DefaultTenant)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var bad bool
	for _, tag := range tags {
		s, err := st2.Range(ctx, config.DefaultTenant, tag, time.Unix(0, 0), time.Now().Add(time.Hour), 100_000)
		if err != nil {
			t.Fatal(err)
		}
		n += len(s)
		for _, smp := range s {
			bad = bad || (strings.HasPrefix(tag, "Kiln1.Zone") && smp.Quality.Reason == plc.ReasonCommFailure)
		}
	}
	if n == 0 || uint64(n) > spooled {
		t.Fatalf("%d rows in SQLite for %d samples spooled", n, spooled)
	}
	if !bad {
		t.Error("the outage left no bad-quality samples in the store")
	}
	b, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var a command.Audit
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, a.Code)
	}
	if strings.Join(codes, ",") != "ok,out_of_limits" {
		t.Fatalf("audit log codes %v", codes)
	}
}
