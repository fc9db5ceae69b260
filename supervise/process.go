package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/kiln-iot/kiln/config"
)

// ProcessConfig describes an external program run as a child (an AI
// module written in Python, say).
type ProcessConfig struct {
	// Path is the program; a name without '/' is looked up in PATH.
	Path string `yaml:"path"`
	// Args are the arguments after the program name.
	Args []string `yaml:"args"`
	// Env holds "KEY=value" entries added to the supervisor's own
	// environment (later entries win).
	Env []string `yaml:"env"`
	// Dir is the working directory (default: the supervisor's).
	Dir string `yaml:"dir"`
	// StopTimeout is the grace between SIGTERM and SIGKILL when the child
	// is stopped (default 5s). Keep the Spec's Shutdown above it.
	StopTimeout time.Duration `yaml:"stop_timeout"`
}

// Validate reports every bad field of c, each a *config.FieldError with
// its YAML key.
func (c ProcessConfig) Validate() error {
	var p config.Problems
	if c.Path == "" {
		p.Add("path", "is required")
	}
	if c.StopTimeout < 0 {
		p.Add("stop_timeout", "%v is negative", c.StopTimeout)
	}
	return p.Err()
}

// Process is a Service running an external program in its own process
// group. Its stdout and stderr lines are logged through the child's
// logger (see Logger) with a "stream" field. Stopping sends SIGTERM to the
// group and SIGKILL after StopTimeout; whenever the program ends, what is
// left of its group is killed. On Linux the program also gets SIGKILL
// when the supervising process dies (a parent-death signal), so a crashed
// gateway does not leave a module running that its restart would start
// twice; what the program started itself is its own to stop then. On
// Windows the group is a job object that dies with the supervising
// process: stopping sends CTRL_BREAK (which a console program can handle)
// and terminates the job after StopTimeout. Exit status 0 is a clean
// exit; any other end is an error wrapping the *exec.ExitError.
type Process struct {
	cfg ProcessConfig
	pid atomic.Int64
}

// PID returns the process id of the running program, or 0 before it
// started and after it ended.
func (p *Process) PID() int { return int(p.pid.Load()) }

// NewProcess returns a Process for cfg. Make one per start, in the Spec's
// New.
func NewProcess(cfg ProcessConfig) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	return &Process{cfg: cfg}, nil
}

// Serve runs the program until it exits or ctx is cancelled.
func (p *Process) Serve(ctx context.Context) error {
	log := Logger(ctx)
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Dir = p.cfg.Dir
	if len(p.cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), p.cfg.Env...)
	}
	cmd.SysProcAttr = groupAttr()
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("supervise: process %s: %w", p.cfg.Path, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("supervise: process %s: %w", p.cfg.Path, err)
	}
	defer outR.Close()
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	// The program is started and waited for on a thread of its own: the
	// parent-death signal (Linux) fires when the thread that forked the
	// program ends, so that thread must live as long as the program.
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	err = <-started
	outW.Close()
	errW.Close()
	if err != nil {
		return fmt.Errorf("supervise: process %s: %w", p.cfg.Path, err)
	}
	pid := cmd.Process.Pid
	g, err := newGroup(cmd.Process)
	if err != nil {
		// The program runs but cannot be stopped as a group: end it.
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("supervise: process %s: %w", p.cfg.Path, err)
	}
	defer g.close()
	p.pid.Store(int64(pid))
	defer p.pid.Store(0)
	log.Info("process started", zap.String("path", p.cfg.Path), zap.Int("pid", pid))

	var readers sync.WaitGroup
	readers.Go(func() { logLines(outR, log, "stdout") })
	readers.Go(func() { logLines(errR, log, "stderr") })

	select {
	case err = <-exited:
	case <-ctx.Done():
		g.terminate()
		t := time.NewTimer(p.cfg.StopTimeout)
		select {
		case err = <-exited:
		case <-t.C:
			log.Warn("process ignored "+stopSignal+", killing", zap.Int("pid", pid), zap.Duration("waited", p.cfg.StopTimeout))
			g.kill()
			err = <-exited
		}
		t.Stop()
	}
	// Whatever the leader left running in its group goes with it.
	g.kill()
	// The pipes end when the last holder dies; one that left the group
	// (setsid) must not hold Serve up.
	unblock := time.AfterFunc(time.Second, func() {
		_ = outR.SetReadDeadline(time.Now())
		_ = errR.SetReadDeadline(time.Now())
	})
	readers.Wait()
	unblock.Stop()

	if st := cmd.ProcessState; st != nil {
		log.Info("process exited", zap.Int("pid", pid), zap.Stringer("status", st))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("supervise: process %s: %w", p.cfg.Path, err)
	}
	return nil
}

// maxLine is the longest line logged whole; longer ones are split.
const maxLine = 64 << 10

func logLines(r io.Reader, log *zap.Logger, stream string) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if n := len(line); n > 0 {
			if line[n-1] == '\n' {
				line = line[:n-1]
			}
			log.Info(string(line), zap.String("stream", stream))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
