package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/metrictest"
	"github.com/kiln-iot/kiln/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, cfg Config, opts ...Option) *Store {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "samples.db")
	}
	s, err := Open(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, Config{}) })
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.db")
	s := open(t, Config{Path: path})
	if _, err := s.Write(context.Background(), "acme", storetest.Samples(50, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, Config{Path: path})
	res, err := s.Write(context.Background(), "acme", storetest.Samples(60, 5))
	if err != nil || res.Inserted != 10 || res.Duplicates != 50 {
		t.Fatalf("write after reopen: %+v, %v; want 10 new, 50 duplicates", res, err)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
}

func TestRetention(t *testing.T) {
	clk := clock.NewFake(storetest.T0.Add(10 * 24 * time.Hour))
	s := open(t, Config{Retention: 7 * 24 * time.Hour}, WithClock(clk))
	ctx := context.Background()
	day := func(d int, tag string) plc.Sample {
		return plc.Sample{Tag: tag, Value: plc.IntValue(plc.DInt, int64(d)), Quality: plc.Good, Time: storetest.T0.Add(time.Duration(d) * 24 * time.Hour)}
	}
	// Days 0..2 are older than the 7-day horizon (day 3), and not stored.
	res, err := s.Write(ctx, "acme", []plc.Sample{day(0, "a"), day(2, "a"), day(4, "a"), day(9, "a"), day(1, "b")})
	if err != nil || res.Inserted != 2 || res.Expired != 3 {
		t.Fatalf("write: %+v, %v; want 2 inserted, 3 expired", res, err)
	}
	clk.Advance(3 * 24 * time.Hour) // horizon: day 6
	n, err := s.Maintain(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Maintain deleted %d, %v; want 1", n, err)
	}
	got, err := s.Range(ctx, "acme", "a", storetest.T0, storetest.T0.Add(30*24*time.Hour), 10)
	if err != nil || len(got) != 1 || got[0].Value.String() != "9" {
		t.Fatalf("after retention: %v, %v; want day 9 only", got, err)
	}
	tags, err := s.Tags(ctx, "acme")
	if err != nil || len(tags) != 1 || tags[0] != "a" {
		t.Fatalf("tags after retention = %v, %v", tags, err)
	}
	// Batch records go with the retention too: a batch redelivered after
	// its record was deleted holds only expired samples.
	b := storetest.Batches([]plc.Sample{day(12, "c"), day(13, "c")}, 2, 1, 1)
	if res, err := s.WriteBatches(ctx, "acme", b); err != nil || res.Inserted != 2 {
		t.Fatalf("batch of days 12 and 13: %+v, %v", res, err)
	}
	clk.Advance(8 * 24 * time.Hour) // horizon: day 14
	if _, err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	var records int
	if err := s.db.QueryRow("SELECT count(*) FROM kiln_batches").Scan(&records); err != nil || records != 0 {
		t.Fatalf("%d batch records after retention, %v; want 0", records, err)
	}
	if res, err := s.WriteBatches(ctx, "acme", b); err != nil || res.Inserted != 0 || res.Expired != 2 {
		t.Fatalf("the batch redelivered after retention: %+v, %v; want 2 expired", res, err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	if n := metrictest.Value(t, reg, "kiln_store_retention_removed_total", "what", "batch_records"); n != 1 {
		t.Errorf("batch records removed: metric %v, want 1", n)
	}
	if n := metrictest.Value(t, reg, "kiln_store_maintenance_runs_total", "result", "ok"); n != 2 {
		t.Errorf("maintenance runs: metric %v, want 2", n)
	}
}

func TestServeRunsMaintenanceUntilCancelled(t *testing.T) {
	clk := clock.NewFake(storetest.T0)
	s := open(t, Config{Retention: time.Hour, MaintenanceInterval: time.Minute}, WithClock(clk))
	ctx := context.Background()
	if _, err := s.Write(ctx, "acme", storetest.Samples(10, 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	clk.BlockUntil(1)
	clk.Advance(2 * time.Hour) // all samples expire; the ticker fires
	deadline := time.Now().Add(10 * time.Second)
	for {
		tags, err := s.Tags(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve did not delete expired samples")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
}

func TestConfigValidateNamesEveryBadFieldByYAMLPath(t *testing.T) {
	err := Config{Retention: -1, MaintenanceInterval: -1, BusyTimeout: -1}.Validate()
	var paths []string
	for _, fe := range config.List(err) {
		paths = append(paths, fe.Path)
	}
	if fmt.Sprint(paths) != "[path retention maintenance_interval busy_timeout]" || !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Validate = %v; want a problem at each of path, retention, maintenance_interval, busy_timeout", err)
	}
	if err := (Config{Path: "x"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Error("Open without a path succeeded")
	}
}

func TestUnopenableFileFails(t *testing.T) {
	_, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "missing-dir", "x.db")})
	if err == nil || errors.Is(err, store.ErrClosed) {
		t.Fatalf("Open in a missing directory: %v", err)
	}
}
