package opcua_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/gopcua/opcua/ua"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/opcua/uasim"
	"github.com/kiln-iot/kiln/plc"
)

// A server's operation limits are read on every session and every
// multi-node call is split to fit them: reads, writes, browse path
// translations and monitored items for three times the limit come back
// in order with their own status codes, and the session is never dropped
// (a call over a limit fails as a whole, and gopcua ends the session on
// it). A server without limits gets the client's defaults.
func TestCallsSplitToServerOperationLimits(t *testing.T) {
	const n = 20 // read-write tags, ~3 times the limit
	var tags []plc.Tag
	for i := range n {
		tags = append(tags, plc.Tag{Name: fmt.Sprintf("L.T%02d", i), Type: plc.TypeDInt, Access: plc.ReadWrite})
	}
	tags = append(tags, plc.Tag{Name: "L.RO", Type: plc.TypeDInt})
	for _, tc := range []struct {
		name   string
		limits uasim.Limits
		chunk  int // the read chunk size logged; 0: none logged
	}{
		{"limit 7", uasim.Limits{MaxNodesPerRead: 7, MaxNodesPerWrite: 7, MaxNodesPerTranslateBrowsePaths: 7, MaxMonitoredItemsPerCall: 7}, 7},
		{"no limits", uasim.Limits{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, uasim.Config{Limits: tc.limits}, tags)
			core, logs := observer.New(zap.InfoLevel)
			reg := prometheus.NewRegistry()
			c := newClient(t, opcua.Config{Endpoint: sim.Endpoint()},
				opcua.WithLogger(zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))), opcua.WithRegisterer(reg))
			ctx := context.Background()
			drv := opcua.NewDriver(c)

			// Tags by node id and by browse path, alternately, with an
			// unknown node, an unknown path and a read-only tag among them.
			var all []plc.Tag
			for i, tg := range tags[:n] {
				tg.Address = sim.NodeID(tg.Name)
				if i%2 == 1 {
					tg.Address = "/2:L/" + tg.Name[2:]
				}
				all = append(all, tg)
				if i == 8 {
					all = append(all, plc.Tag{Name: "gone", Type: plc.TypeDInt, Address: sim.NodeID("L.Gone"), Access: plc.ReadWrite})
				}
				if i == 13 {
					all = append(all, plc.Tag{Name: "nomatch", Type: plc.TypeDInt, Address: "/2:L/Nope", Access: plc.ReadWrite})
				}
			}
			all = append(all, plc.Tag{Name: "L.RO", Type: plc.TypeDInt, Address: "/2:L/RO", Access: plc.ReadWrite})
			// val is what a tag is written, and then reads: 100+k for
			// L.Tk, else 0.
			val := func(tg plc.Tag) plc.Value {
				k, err := strconv.Atoi(strings.TrimPrefix(tg.Name, "L.T"))
				if err != nil {
					return plc.IntValue(plc.DInt, 0)
				}
				return plc.IntValue(plc.DInt, int64(100+k))
			}
			// wantBad is the status code of a tag that cannot be read or
			// monitored, or 0.
			wantBad := func(tg plc.Tag) ua.StatusCode {
				switch tg.Name {
				case "gone":
					return ua.StatusBadNodeIDUnknown
				case "nomatch":
					return ua.StatusBadNoMatch
				}
				return 0
			}

			// Write.
			var items []plc.WriteItem
			for _, tg := range all {
				items = append(items, plc.WriteItem{Tag: tg, Value: val(tg)})
			}
			errs := drv.Write(ctx, items)
			for i, tg := range all {
				var want error
				switch tg.Name {
				case "L.RO":
					want = ua.StatusBadNotWritable
				default:
					want = wantBad(tg)
				}
				if want == ua.StatusCode(0) {
					if errs[i] != nil {
						t.Errorf("write %s: %v", tg.Name, errs[i])
					}
				} else if !errors.Is(errs[i], want) {
					t.Errorf("write %s: %v, want %v", tg.Name, errs[i], want)
				}
			}
			for _, tg := range tags[:n] {
				if v, _ := sim.Get(tg.Name); !v.Equal(val(tg)) {
					t.Errorf("%s on the server = %v, want %v", tg.Name, v, val(tg))
				}
			}
			if err := sim.SetStatus("L.T10", ua.StatusUncertainLastUsableValue); err != nil {
				t.Fatal(err)
			}

			// Read.
			r, err := drv.Prepare(all)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]plc.Sample, len(all))
			if err := r.Read(ctx, out); err != nil {
				t.Fatal(err)
			}
			for i, tg := range all {
				s := out[i]
				switch {
				case s.Tag != tg.Name:
					t.Errorf("sample %d is of %s, want %s", i, s.Tag, tg.Name)
				case wantBad(tg) != 0:
					if s.Quality.Code != uint32(wantBad(tg)) {
						t.Errorf("read %s: %v, want %v", tg.Name, s.Quality, wantBad(tg))
					}
				case tg.Name == "L.T10":
					if s.Quality.Status != plc.StatusUncertain || !s.Value.Equal(val(tg)) {
						t.Errorf("read %s: %v %v, want uncertain %v", tg.Name, s.Quality, s.Value, val(tg))
					}
				case !s.Quality.IsGood() || !s.Value.Equal(val(tg)):
					t.Errorf("read %s: %v %v, want good %v", tg.Name, s.Quality, s.Value, val(tg))
				}
			}

			// Browse reads the data types of the 21 variables found.
			nodes, err := c.Browse(ctx, nid(t, "ns=2;s=L"), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != n+1 {
				t.Errorf("browse found %d nodes, want %d", len(nodes), n+1)
			}
			for _, nd := range nodes {
				if nd.Type != "DINT" {
					t.Errorf("browse %s: type %q, want DINT", nd.NodeID, nd.Type)
				}
			}

			// Subscribe.
			col := newCollector()
			sub, err := drv.Subscribe(ctx, subCfg, all, col)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			col.waitFor(t, "every item's initial value or status", func(ss []plc.Sample) bool {
				for _, tg := range all {
					s, ok := last(ss, tg.Name)
					switch {
					case !ok:
						return false
					case wantBad(tg) != 0:
						if s.Quality.Code != uint32(wantBad(tg)) {
							return false
						}
					case tg.Name == "L.T10":
						if s.Quality.Status != plc.StatusUncertain || !s.Value.Equal(val(tg)) {
							return false
						}
					case !s.Quality.IsGood() || !s.Value.Equal(val(tg)):
						return false
					}
				}
				return true
			})
			for _, name := range []string{"L.T00", "L.T19"} {
				if err := sim.Set(name, plc.IntValue(plc.DInt, 7)); err != nil {
					t.Fatal(err)
				}
				col.waitFor(t, name+" change", hasValue(name, plc.IntValue(plc.DInt, 7)))
			}

			for _, m := range []string{"kiln_opcua_reconnects_total", "kiln_opcua_connect_failures_total"} {
				if v := metricValue(t, reg, m, ""); v != 0 {
					t.Errorf("%s = %v", m, v)
				}
			}
			if st := c.State(); st != opcua.StateConnected {
				t.Errorf("state = %v", st)
			}
			applied := logs.FilterMessage("opcua: server operation limits apply").All()
			switch {
			case tc.chunk == 0 && len(applied) != 0:
				t.Errorf("limits logged for a server without: %v", applied[0].ContextMap())
			case tc.chunk > 0 && (len(applied) != 1 || applied[0].ContextMap()["read_chunk"] != int64(tc.chunk)):
				t.Errorf("limits logged %d times, want once with read_chunk %d: %v", len(applied), tc.chunk, applied)
			}
		})
	}
}
