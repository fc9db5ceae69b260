package s7_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7/s7sim"
)

// scattered returns n INT tags 100 bytes apart over DB1..DB4, so a read
// takes many requests, and sets each to its index in srv.
func scattered(t *testing.T, srv *s7sim.Server, n int) []plc.Tag {
	t.Helper()
	var tags []plc.Tag
	for i := range n {
		addr := fmt.Sprintf("DB%d.DBW%d", 1+i%4, 100*(i/4))
		if err := srv.Set(addr+":INT", plc.IntValue(plc.Int, int64(i))); err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tag(fmt.Sprintf("t%d", i), addr, "INT"))
	}
	return tags
}

func TestJobsInFlightAnsweredOutOfOrderKeepTheirResults(t *testing.T) {
	srv := startSim(t, s7sim.Config{MaxJobs: 3, MaxItems: 4})
	srv.SetLatency(20 * time.Millisecond)
	srv.SetReorder(true)
	cfg := fastCfg()
	cfg.MaxItems = 4
	d := open(t, srv.Addr(), cfg)
	tags := scattered(t, srv, 40) // 10 requests of 4 items
	eventually(t, "three jobs in flight", func() bool {
		for i, s := range read(t, d, tags...) {
			if !s.Quality.IsGood() || !s.Value.Equal(plc.IntValue(plc.Int, int64(i))) {
				t.Fatalf("tag %d: %v %v", i, s.Value, s.Quality)
			}
		}
		return srv.MostJobsInFlight() == 3
	})
	if v := srv.Violations(); v != 0 {
		t.Fatalf("%d violations of the granted limits", v)
	}
}

func TestOneJobAtATimeWhereTheCPUGrantsOne(t *testing.T) {
	srv := startSim(t, s7sim.Config{MaxItems: 4}) // grants 1
	srv.SetLatency(5 * time.Millisecond)
	cfg := fastCfg()
	cfg.MaxItems = 4
	d := open(t, srv.Addr(), cfg)
	tags := scattered(t, srv, 20)
	for range 3 {
		for i, s := range read(t, d, tags...) {
			if !s.Quality.IsGood() || !s.Value.Equal(plc.IntValue(plc.Int, int64(i))) {
				t.Fatalf("tag %d: %v %v", i, s.Value, s.Quality)
			}
		}
	}
	if n, v := srv.MostJobsInFlight(), srv.Violations(); n != 1 || v != 0 {
		t.Fatalf("%d jobs in flight, %d violations; want 1 and 0", n, v)
	}
}

// A lost answer fails the tags of its request alone; the connection goes
// on and the next read is whole.
func TestLostAnswerFailsOnlyItsTags(t *testing.T) {
	srv := startSim(t, s7sim.Config{MaxJobs: 3, MaxItems: 4})
	cfg := fastCfg()
	cfg.Timeout = 300 * time.Millisecond
	cfg.MaxItems = 4
	d := open(t, srv.Addr(), cfg)
	tags := scattered(t, srv, 24) // 6 requests of 4 items
	read(t, d, tags...)
	srv.LoseAnswers(1)
	out := read(t, d, tags...)
	bad := 0
	for i, s := range out {
		switch {
		case !s.Quality.IsGood():
			bad++
			if s.Quality.Reason != plc.ReasonCommFailure {
				t.Errorf("tag %d: quality %v, want a comm failure", i, s.Quality)
			}
		case !s.Value.Equal(plc.IntValue(plc.Int, int64(i))):
			t.Errorf("tag %d = %v", i, s.Value)
		}
	}
	// The lost request held a few of the tags (the planner decides
	// which); the other requests' tags are good.
	if bad == 0 || bad >= len(tags)/2 {
		t.Errorf("%d of %d tags bad, want those of the one lost request", bad, len(tags))
	}
	for i, s := range read(t, d, tags...) {
		if !s.Quality.IsGood() || !s.Value.Equal(plc.IntValue(plc.Int, int64(i))) {
			t.Fatalf("after the lost answer, tag %d: %v %v", i, s.Value, s.Quality)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want the first one still", n)
	}
	if d.PDUSize() == 0 {
		t.Error("driver not connected")
	}
}
