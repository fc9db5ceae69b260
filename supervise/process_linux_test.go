package supervise

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func init() { childMain = superviseProgram }

// superviseProgram supervises $SUPERVISE_TEST_PROG in "sleep" mode, prints
// the program's pid and waits to be killed.
func superviseProgram() {
	var proc atomic.Pointer[Process]
	s, err := New(Config{})
	if err == nil {
		err = s.Add(context.Background(), Spec{Name: "module", New: func() (Service, error) {
			p, err := NewProcess(ProcessConfig{Path: os.Getenv("SUPERVISE_TEST_PROG"), Args: []string{"sleep"}})
			proc.Store(p)
			return p, err
		}})
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go func() { _ = s.Serve(context.Background()) }()
	for proc.Load() == nil || proc.Load().PID() == 0 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println(proc.Load().PID())
	select {}
}

func TestProcessDiesWithItsSupervisingProcess(t *testing.T) {
	prog := buildProg(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "SUPERVISE_TEST_CHILD=1", "SUPERVISE_TEST_PROG="+prog)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil || !alive(pid) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("supervising process said %q (%v), want the pid of a running program", line, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "the program dies with its supervising process", func() bool { return !alive(pid) })
}
