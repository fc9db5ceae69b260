//go:build unix

package supervise

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// progSource is a stand-in for an AI module: it starts a grandchild in
// its own process group, says so on stdout, writes to stderr and sleeps.
// "stubborn" makes both ignore SIGTERM.
const progSource = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	mode := os.Args[1]
	if mode == "stubborn" || mode == "sleep-stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	if mode == "sleep" || mode == "sleep-stubborn" {
		time.Sleep(time.Hour)
		return
	}
	sleep := "sleep"
	if mode == "stubborn" {
		sleep = "sleep-stubborn"
	}
	cmd := exec.Command(os.Args[0], sleep)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("grandchild", cmd.Process.Pid, "env", os.Getenv("KILN_TEST"))
	fmt.Fprintln(os.Stderr, "module up")
	time.Sleep(time.Hour)
}
`

// buildProg compiles progSource into a temporary directory.
func buildProg(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(progSource), 0o644); err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(dir, "module")
	cmd := exec.Command(goBin, "build", "-o", bin, "main.go")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// alive reports whether pid runs (a zombie counts as dead).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// procLogs finds the pids a module's instances logged.
type procLogs struct{ logs *observer.ObservedLogs }

// leader returns the pid of the n-th started process (1-based).
func (p procLogs) leader(t *testing.T, n int) int {
	t.Helper()
	var pid int
	eventually(t, "process started", func() bool {
		es := p.logs.FilterMessage("process started").All()
		if len(es) < n {
			return false
		}
		pid = int(es[n-1].ContextMap()["pid"].(int64))
		return true
	})
	return pid
}

// grandchild returns the pid the n-th instance printed.
func (p procLogs) grandchild(t *testing.T, n int) int {
	t.Helper()
	var pid int
	eventually(t, "grandchild line", func() bool {
		es := p.logs.FilterMessageSnippet("grandchild ").All()
		if len(es) < n {
			return false
		}
		e := es[n-1]
		if e.ContextMap()["stream"] != "stdout" || e.ContextMap()["child"] != "module" || !strings.HasSuffix(e.Message, "env 1") {
			t.Fatalf("stdout line %q %v", e.Message, e.ContextMap())
		}
		pid, _ = strconv.Atoi(strings.Fields(e.Message)[1])
		return true
	})
	return pid
}

func processSupervisor(t *testing.T, cfg ProcessConfig) (*Supervisor, procLogs, *eventLog) {
	core, logs := observer.New(zap.InfoLevel)
	ev := newEventLog()
	s := mustNew(t, Config{Name: "edge"}, WithLogger(zap.New(core)), WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "module", Shutdown: 30 * time.Second, New: func() (Service, error) { return NewProcess(cfg) }})
	return s, procLogs{logs}, ev
}

func TestProcessKilledIsRestartedAndItsGroupCleanedOnStop(t *testing.T) {
	bin := buildProg(t)
	s, logs, ev := processSupervisor(t, ProcessConfig{Path: bin, Args: []string{"parent"}, Env: []string{"KILN_TEST=1"}, Dir: t.TempDir()})
	stop := running(t, s)

	leader1, grand1 := logs.leader(t, 1), logs.grandchild(t, 1)
	if pgid, err := syscall.Getpgid(grand1); err != nil || pgid != leader1 {
		t.Fatalf("grandchild group %d (%v), want the leader's %d", pgid, err, leader1)
	}
	eventually(t, "stderr line", func() bool {
		es := logs.logs.FilterMessage("module up").All()
		return len(es) == 1 && es[0].ContextMap()["stream"] == "stderr"
	})

	if err := syscall.Kill(leader1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e := ev.next(t, EventExited, "module")
	var xe *exec.ExitError
	if !errors.As(e.Err, &xe) || !strings.Contains(e.Err.Error(), "killed") {
		t.Fatalf("exit event %v", e)
	}
	ev.next(t, EventRestarted, "module")
	leader2, grand2 := logs.leader(t, 2), logs.grandchild(t, 2)
	if leader2 == leader1 {
		t.Fatal("no new process")
	}
	// The dead leader's grandchild went with its group.
	eventually(t, "first grandchild gone", func() bool { return !alive(grand1) })

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if alive(leader2) {
		t.Errorf("leader %d alive after stop", leader2)
	}
	eventually(t, "second grandchild gone", func() bool { return !alive(grand2) })
}

func TestProcessIgnoringSIGTERMIsKilled(t *testing.T) {
	bin := buildProg(t)
	s, logs, _ := processSupervisor(t, ProcessConfig{Path: bin, Args: []string{"stubborn"}, Env: []string{"KILN_TEST=1"}, StopTimeout: 200 * time.Millisecond})
	stop := running(t, s)
	leader, grand := logs.leader(t, 1), logs.grandchild(t, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := logs.logs.FilterMessage("process ignored SIGTERM, killing").Len(); n != 1 {
		t.Fatalf("SIGKILL log entries %d, want 1", n)
	}
	if alive(leader) {
		t.Errorf("leader %d alive after stop", leader)
	}
	eventually(t, "grandchild ignoring SIGTERM gone", func() bool { return !alive(grand) })
}

func TestProcessExitStatusDecidesRestart(t *testing.T) {
	process := func(path string) func() (Service, error) {
		return func() (Service, error) { return NewProcess(ProcessConfig{Path: path}) }
	}
	ev := newEventLog()
	s := mustNew(t, Config{}, WithEventHook(ev.hook))
	mustAdd(t, s, Spec{Name: "ok", Restart: Transient, New: process("true")})
	running(t, s)
	if e := ev.next(t, EventExited, "ok"); e.Err != nil {
		t.Fatalf("exit status 0 reported as %v", e.Err)
	}
	eventually(t, "ok done", func() bool { return childStatus(t, s, "ok").State == StateDone })

	s = mustNew(t, Config{Intensity: 1})
	mustAdd(t, s, Spec{Name: "bad", Restart: Transient, New: process("false")})
	err := s.Serve(context.Background())
	var xe *exec.ExitError
	if !errors.Is(err, ErrEscalated) || !errors.As(err, &xe) || xe.ExitCode() != 1 {
		t.Fatalf("Serve = %v, want escalation by exit status 1", err)
	}

	if _, err := NewProcess(ProcessConfig{Path: "x", StopTimeout: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad config: %v", err)
	}
	p, err := NewProcess(ProcessConfig{Path: "/nonexistent/prog"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "/nonexistent/prog") {
		t.Errorf("missing program: %v", err)
	}
}
