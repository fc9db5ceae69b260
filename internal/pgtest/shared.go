//go:build linux

package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns a missing
// PostgreSQL from a skipped test into a failed one; ./scripts/test sets
// it to 1.
const RequireEnv = "KILN_REQUIRE_POSTGRES"

// shared is the cluster of this test binary, started by the first test
// that asks for it.
var shared struct {
	mu      sync.Mutex
	cluster *Cluster
	err     error
	done    bool
}

// TestingM is what a TestMain runs: *testing.M, or the result of Wrap.
type TestingM interface {
	Run() int
}

type wrapped struct{ m TestingM }

// Wrap returns m extended to stop the shared cluster, if a test started
// one, after the tests have run. Use it in TestMain, inside the leak
// check so the check runs after the server is gone:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
func Wrap(m TestingM) TestingM { return wrapped{m} }

func (w wrapped) Run() int {
	code := w.m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// StopShared stops the shared cluster if one was started. Wrap calls it;
// a TestMain that does not use Wrap must.
func StopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.done = true
	if shared.cluster == nil {
		return nil
	}
	err := shared.cluster.Stop()
	shared.cluster = nil
	return err
}

// Shared returns the test binary's cluster, starting it on first use.
// Without PostgreSQL it skips the test, or fails it when
// KILN_REQUIRE_POSTGRES=1.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.done {
		t.Fatal("pgtest: the shared cluster was already stopped")
	}
	if shared.cluster == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		shared.cluster, shared.err = Start(ctx, Options{})
		cancel()
	}
	if shared.err != nil {
		startFailed(t, shared.err)
	}
	return shared.cluster
}

// startFailed ends a test whose cluster could not start: a skip when the
// server binaries are missing and KILN_REQUIRE_POSTGRES is not 1, else a
// failure (whose message, for missing binaries, says how to install them).
func startFailed(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv(RequireEnv) != "1" {
		t.Skipf("%v (set %s=1 to make this a failure)", err, RequireEnv)
		return
	}
	t.Fatal(err)
}

// NewDB returns a fresh database of the shared cluster, owned by a fresh
// non-superuser role. See Shared for what happens without PostgreSQL.
func NewDB(t testing.TB) DB {
	t.Helper()
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := c.CreateDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return db
}
