//go:build linux

package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled is returned by Start when the PostgreSQL server binaries
// (initdb, postgres) cannot be found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found; " +
	"install them with `apt-get install postgresql` or point KILN_PG_BIN at their directory")

// Superuser is the name of the cluster's superuser.
const Superuser = "postgres"

// dirPrefix names the temporary directories of clusters, so that Start can
// find those left behind by test binaries that were killed.
const dirPrefix = "kiln-pgtest-"

// Options tune Start. The zero value is fine.
type Options struct {
	// Settings are extra server settings (postgresql.conf names), applied
	// over pgtest's defaults: fsync, synchronous_commit and
	// full_page_writes off, which makes the server fast and not durable.
	Settings map[string]string
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string // temporary directory: data/, the socket, owner
	port int

	stopOnce sync.Once
	stopErr  error
	stop     chan struct{} // closed to ask the server goroutine to shut down
	exited   chan struct{} // closed when the postmaster has exited
	waitErr  error         // the postmaster's exit status, valid after exited
	pid      atomic.Int32  // the postmaster's, once started
	mu       sync.Mutex
	dbSeq    int
}

// Start initialises and starts a new cluster. It returns ErrNotInstalled
// when the server binaries are missing. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	env, err := newServerDir()
	if err != nil {
		return nil, err
	}
	initdb := exec.CommandContext(ctx, filepath.Join(env.bin, "initdb"),
		"-D", env.data, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(env.dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return env.start(ctx, opts)
}

// StartStandby starts a streaming-replication standby of c: a copy made
// with pg_basebackup -R (so it follows c) running as a server of its own
// on another port, read-only until Promote. opts.Settings apply to it.
// The caller must call Stop.
func (c *Cluster) StartStandby(ctx context.Context, opts Options) (*Cluster, error) {
	env, err := newServerDir()
	if err != nil {
		return nil, err
	}
	backup := exec.CommandContext(ctx, filepath.Join(env.bin, "pg_basebackup"),
		"-D", env.data, "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", Superuser, "-R", "-X", "stream", "--no-sync")
	backup.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := backup.CombinedOutput(); err != nil {
		_ = os.RemoveAll(env.dir)
		return nil, fmt.Errorf("pgtest: pg_basebackup: %w\n%s", err, out)
	}
	return env.start(ctx, opts)
}

// Promote makes a standby the primary and waits until it accepts writes.
func (c *Cluster) Promote(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: promote: %w", err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil || !ok {
		return fmt.Errorf("pgtest: promote: %v (promoted: %v)", err, ok)
	}
	return nil
}

// Crash kills the server and its backends at once (SIGKILL), as a power
// cut would, and waits for the postmaster to exit. Stop still removes
// its directory.
func (c *Cluster) Crash() {
	if p := c.pid.Load(); p > 0 {
		_ = syscall.Kill(-int(p), syscall.SIGKILL)
	}
	<-c.exited
}

// serverDir is a new cluster's directory, before its server runs.
type serverDir struct {
	bin, dir, data string
	cred           *syscall.Credential
}

// newServerDir makes the directory of a new cluster, owned by the user
// the server runs as.
func newServerDir() (*serverDir, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	base, err := baseDir(cred != nil)
	if err != nil {
		return nil, err
	}
	sweep(base)
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	fail := func(err error) (*serverDir, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	if cred != nil {
		if err := os.Chmod(dir, 0o755); err != nil {
			return fail(fmt.Errorf("pgtest: %w", err))
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("pgtest: chown %s to the postgres user: %w", dir, err))
		}
	}
	return &serverDir{bin: bin, dir: dir, data: filepath.Join(dir, "data"), cred: cred}, nil
}

// start runs the server of the directory; on failure it removes the
// directory.
func (e *serverDir) start(ctx context.Context, opts Options) (*Cluster, error) {
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": e.dir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         "60",
		"logging_collector":       "off",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	// A free port can be taken by someone else before the server binds
	// it; try a few.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			break
		}
		settings["port"] = strconv.Itoa(port)
		c := &Cluster{dir: e.dir, port: port, stop: make(chan struct{}), exited: make(chan struct{})}
		if err := c.run(ctx, e.bin, e.data, e.cred, settings); err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return c, nil
	}
	_ = os.RemoveAll(e.dir)
	return nil, lastErr
}

// run starts the postmaster and waits until it accepts connections.
func (c *Cluster) run(ctx context.Context, bin, data string, cred *syscall.Credential, settings map[string]string) error {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", data}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout = lockedWriter{&logMu, &logs}
	cmd.Stderr = cmd.Stdout
	// SIGQUIT is PostgreSQL's immediate shutdown: if this process dies,
	// the postmaster and its backends go at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}

	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the
		// child exits, not the process; keep this thread reserved for the
		// server so no one else can end it while the server runs.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		c.pid.Store(int32(cmd.Process.Pid))
		started <- nil
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case c.waitErr = <-waited:
		case <-c.stop:
			// Fast shutdown: roll back open transactions, close
			// connections, checkpoint-free exit since fsync is off.
			_ = cmd.Process.Signal(syscall.SIGINT)
			t := time.NewTimer(20 * time.Second)
			select {
			case c.waitErr = <-waited:
			case <-t.C:
				_ = cmd.Process.Signal(syscall.SIGQUIT)
				c.waitErr = <-waited
			}
			t.Stop()
		}
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	if err := c.waitReady(ctx); err != nil {
		c.shutdown()
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("%w\n%s", err, logs.String())
	}
	return nil
}

// waitReady polls the server until it accepts a connection, it exits or
// ctx ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("pgtest: postgres exited during start-up: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres not ready: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// SocketDir returns the directory holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.dir }

// DSN returns a URL connecting to database over TCP as the superuser.
func (c *Cluster) DSN(database string) string {
	return c.UserDSN(Superuser, database)
}

// UserDSN returns a URL connecting to database over TCP as user; the
// cluster trusts every local connection, so no password is needed.
func (c *Cluster) UserDSN(user, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// SocketDSN returns a URL connecting to database over the unix socket as
// the superuser.
func (c *Cluster) SocketDSN(database string) string {
	q := url.Values{"host": {c.dir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	u := url.URL{Scheme: "postgres", User: url.User(Superuser), Path: "/" + database, RawQuery: q.Encode()}
	return u.String()
}

// DB is a database of a Cluster owned by its own login role.
type DB struct {
	// Name is the database's name; Owner is the role owning it, a
	// non-superuser without BYPASSRLS.
	Name, Owner string
	// DSN connects to the database as Owner.
	DSN string
	// AdminDSN connects to the database as the cluster's superuser.
	AdminDSN string
}

// CreateDB creates a database owned by a new non-superuser login role;
// names are unique within the cluster.
func (c *Cluster) CreateDB(ctx context.Context) (DB, error) {
	c.mu.Lock()
	c.dbSeq++
	name := "kiln_" + strconv.Itoa(c.dbSeq)
	c.mu.Unlock()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return DB{}, fmt.Errorf("pgtest: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	owner := name + "_owner"
	for _, q := range []string{
		"CREATE ROLE " + owner + " LOGIN NOSUPERUSER NOBYPASSRLS",
		"CREATE DATABASE " + name + " OWNER " + owner,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return DB{}, fmt.Errorf("pgtest: %s: %w", q, err)
		}
	}
	return DB{Name: name, Owner: owner, DSN: c.UserDSN(owner, name), AdminDSN: c.DSN(name)}, nil
}

// Stop shuts the server down, waits for it to exit and removes its
// directory. It is idempotent.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.shutdown()
		if err := os.RemoveAll(c.dir); err != nil {
			c.stopErr = fmt.Errorf("pgtest: %w", err)
		}
	})
	return c.stopErr
}

func (c *Cluster) shutdown() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.exited
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// findBinaries returns the directory holding initdb and postgres.
func findBinaries() (string, error) {
	var dirs []string
	if d := os.Getenv("KILN_PG_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return pgVersion(versioned[i]) > pgVersion(versioned[j]) })
	dirs = append(dirs, versioned...)
	dirs = append(dirs, "/usr/local/pgsql/bin")
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

// pgVersion extracts the major version from /usr/lib/postgresql/N/bin.
func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// serverCredential returns the credential to run the server with: nil
// for an ordinary user, the postgres user's when running as root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, and PostgreSQL refuses to; no postgres user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// baseDir returns where to create the cluster's directory. When the
// server runs as another user, every parent must be traversable by it.
func baseDir(otherUser bool) (string, error) {
	candidates := []string{os.TempDir()}
	if otherUser {
		candidates = append(candidates, "/tmp", "/var/tmp")
	}
	for _, d := range candidates {
		if !otherUser || traversable(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("pgtest: no temporary directory the postgres user can reach (tried %s)", strings.Join(candidates, ", "))
}

// traversable reports whether every directory from / to dir lets others
// search it.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// sweep removes cluster directories whose test binary and server are both
// gone, left behind when a test binary was killed.
func sweep(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), dirPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if alive(readPID(filepath.Join(dir, "owner"))) || alive(readPID(filepath.Join(dir, "data", "postmaster.pid"))) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, "owner")); err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue // not ours, or still being set up
		}
		_ = os.RemoveAll(dir)
	}
}

// readPID returns the number on the first line of path, 0 if none.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	n, _ := strconv.Atoi(strings.TrimSpace(line))
	return n
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}
