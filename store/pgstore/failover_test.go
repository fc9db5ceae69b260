package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/clock"
	"github.com/kiln-iot/kiln/internal/pgtest"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/storetest"
)

// A real primary with a real synchronous standby: the store, given both
// hosts, keeps writing through the primary's crash (mid-transaction) and
// the standby's promotion, and every batch ends up stored exactly once.
func TestFailoverToAPromotedStandbyLosesAndDuplicatesNothing(t *testing.T) {
	ctx := context.Background()
	primary, err := pgtest.Start(ctx, pgtest.Options{Settings: map[string]string{
		"synchronous_commit": "on", "synchronous_standby_names": "*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	// Commits wait for the standby from now on: start it first.
	standby, err := primary.StartStandby(ctx, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()
	db, err := primary.CreateDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("postgres://%s@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=5",
		db.Owner, primary.Port(), standby.Port(), db.Name)
	s := open(t, Config{DSN: dsn, MaxConns: 2}, WithClock(clock.NewFake(storetest.T0)))

	batches := storetest.Batches(storetest.Samples(20_000, 100), 200, 77, 1)
	const crashAt = 40
	crashed, current := false, 0
	s.hook = func(stage string, _ uint32) {
		if stage == "inserted" && !crashed && current == crashAt {
			crashed = true
			primary.Crash() // the batch's transaction dies before its commit
			if err := standby.Promote(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	failures := 0
	for i, b := range batches {
		current = i
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, err := s.WriteBatches(ctx, "acme", []store.Batch{b})
			if err == nil {
				break
			}
			failures++
			if time.Now().After(deadline) {
				t.Fatalf("batch %d: still failing after 60 s: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond) // a retry's pause, not a wait for a condition
		}
	}
	if !crashed || failures == 0 {
		t.Fatalf("crashed %v, %d failed writes: the failover did not happen mid-write", crashed, failures)
	}
	// Everything is on the promoted standby, once.
	admin := connect(t, standby.DSN(db.Name))
	var rows, records int
	if err := admin.QueryRow(ctx, "SELECT (SELECT count(*) FROM kiln_samples), (SELECT count(*) FROM kiln_batches)").Scan(&rows, &records); err != nil {
		t.Fatal(err)
	}
	if rows != 20_000 || records != len(batches) {
		t.Fatalf("after failover: %d rows, %d batch records; want 20000, %d", rows, records, len(batches))
	}
	res, err := s.WriteBatches(ctx, "acme", batches)
	if err != nil || res.Redelivered != 20_000 || res.Inserted != 0 {
		t.Fatalf("every batch again: %+v, %v; want all redelivered", res, err)
	}
}
