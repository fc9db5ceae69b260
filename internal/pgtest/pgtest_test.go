//go:build linux

package pgtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		childMain()
		return
	}
	goleak.VerifyTestMain(Wrap(m))
}

// childMain starts a cluster, reports its postmaster pid and directory on
// stdout and waits to be killed.
func childMain() {
	c, err := Start(context.Background(), Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(readPID(filepath.Join(c.dir, "data", "postmaster.pid")), c.dir)
	select {}
}

func TestNewDBIsOwnedByAPlainRole(t *testing.T) {
	db := NewDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var user, dbname string
	var super, bypass bool
	err = conn.QueryRow(ctx, `SELECT current_user, current_database(), rolsuper, rolbypassrls
		FROM pg_roles WHERE rolname = current_user`).Scan(&user, &dbname, &super, &bypass)
	if err != nil {
		t.Fatal(err)
	}
	if user != db.Owner || dbname != db.Name || super || bypass {
		t.Fatalf("connected as %s to %s (superuser %v, bypassrls %v), want plain %s on %s", user, dbname, super, bypass, db.Owner, db.Name)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatalf("owner cannot create tables: %v", err)
	}

	admin, err := pgx.Connect(ctx, db.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if err := admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Fatalf("admin DSN is not a superuser: %v %v", super, err)
	}
}

func TestDatabasesAreFresh(t *testing.T) {
	a, b := NewDB(t), NewDB(t)
	if a.Name == b.Name || a.Owner == b.Owner {
		t.Fatalf("two databases share a name or owner: %+v %+v", a, b)
	}
}

func TestUnixSocket(t *testing.T) {
	c := Shared(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.SocketDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var addr *string
	if err := conn.QueryRow(ctx, "SELECT inet_client_addr()::text").Scan(&addr); err != nil {
		t.Fatal(err)
	}
	if addr != nil {
		t.Fatalf("connected over TCP from %s, want the unix socket", *addr)
	}
}

func TestStopEndsServerAndRemovesDir(t *testing.T) {
	Shared(t) // skips or fails like the others without PostgreSQL
	c, err := Start(context.Background(), Options{Settings: map[string]string{"work_mem": "8MB"}})
	if err != nil {
		t.Fatal(err)
	}
	pid := readPID(filepath.Join(c.dir, "data", "postmaster.pid"))
	if !alive(pid) {
		t.Fatalf("postmaster pid %d not running", pid)
	}
	var workMem string
	conn, err := pgx.Connect(context.Background(), c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(context.Background(), "SHOW work_mem").Scan(&workMem); err != nil || workMem != "8MB" {
		t.Fatalf("work_mem = %q, %v; want the 8MB setting", workMem, err)
	}
	// Stop must not wait for this open connection.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	_ = conn.Close(context.Background())
	if running(pid) {
		t.Fatalf("postmaster %d still running after Stop", pid)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Fatalf("cluster directory %s left behind: %v", c.dir, err)
	}
}

func TestKilledTestBinaryTakesServerDown(t *testing.T) {
	Shared(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child: %v", err)
	}
	fields := strings.Fields(line)
	pid, _ := strconv.Atoi(fields[0])
	if len(fields) != 2 || !running(pid) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child said %q, want a running postmaster's pid and dir", line)
	}
	dir := fields[1]
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d outlived its killed test binary", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether pid is a live process, not a zombie.
func running(pid int) bool {
	if !alive(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// endTB records how a test would have ended, instead of ending it.
type endTB struct {
	testing.TB
	skipped, failed string
}

func (e *endTB) Helper()                  {}
func (e *endTB) Skipf(f string, a ...any) { e.skipped = fmt.Sprintf(f, a...) }
func (e *endTB) Fatal(a ...any)           { e.failed = fmt.Sprint(a...) }

func TestMissingPostgresSkipsUnlessRequired(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		err       error
		skip      bool
	}{
		{"not installed", "", ErrNotInstalled, true},
		{"not installed, required", "1", ErrNotInstalled, false},
		{"installed but broken", "", fmt.Errorf("pgtest: initdb: exit status 1"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.env)
			e := &endTB{TB: t}
			startFailed(e, tc.err)
			switch {
			case tc.skip && (e.skipped == "" || e.failed != ""):
				t.Fatalf("skipped %q, failed %q; want a skip", e.skipped, e.failed)
			case !tc.skip && (e.failed == "" || e.skipped != ""):
				t.Fatalf("skipped %q, failed %q; want a failure", e.skipped, e.failed)
			}
			msg := e.skipped + e.failed
			if tc.err == ErrNotInstalled && !strings.Contains(msg, "apt-get install postgresql") {
				t.Fatalf("message %q does not say how to install PostgreSQL", msg)
			}
			if tc.skip && !strings.Contains(msg, RequireEnv+"=1") {
				t.Fatalf("skip message %q does not name %s", msg, RequireEnv)
			}
		})
	}
}

func TestFindBinariesHonoursKilnPGBin(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"initdb", "postgres"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("KILN_PG_BIN", dir)
	if got, err := findBinaries(); err != nil || got != dir {
		t.Fatalf("findBinaries = %q, %v; want %q", got, err, dir)
	}
}

func TestStandbyFollowsThePrimaryAndTakesOverWhenPromoted(t *testing.T) {
	ctx := context.Background()
	primary, err := Start(ctx, Options{Settings: map[string]string{"synchronous_commit": "on", "synchronous_standby_names": "*"}})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	standby, err := primary.StartStandby(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()
	conn, err := pgx.Connect(ctx, primary.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	// Synchronous: the commit returns once the standby has the row.
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	sconn, err := pgx.Connect(ctx, standby.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close(ctx)
	var n int
	var inRecovery bool
	if err := sconn.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM t").Scan(&n, &inRecovery); err != nil || n != 2 || !inRecovery {
		t.Fatalf("standby: %d rows, in recovery %v, %v; want 2 rows, a standby", n, inRecovery, err)
	}
	if _, err := sconn.Exec(ctx, "INSERT INTO t VALUES (3)"); err == nil {
		t.Fatal("the standby accepted a write")
	}
	primary.Crash()
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sconn.Exec(ctx, "INSERT INTO t VALUES (3)"); err != nil {
		t.Fatalf("write on the promoted standby: %v", err)
	}
	if err := sconn.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM t").Scan(&n, &inRecovery); err != nil || n != 3 || inRecovery {
		t.Fatalf("promoted: %d rows, in recovery %v, %v; want 3 rows, a primary", n, inRecovery, err)
	}
}
