//go:build unix

package supervise

import (
	"os"
	"syscall"
)

// stopSignal names what terminate sends, for the logs.
const stopSignal = "SIGTERM"

// groupAttr starts the program as the leader of its own process group.
func groupAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(a)
	return a
}

// procGroup is the process group of a started program, named after its
// leader.
type procGroup struct{ pgid int }

func newGroup(p *os.Process) (procGroup, error) { return procGroup{p.Pid}, nil }

func (g procGroup) terminate() { _ = syscall.Kill(-g.pgid, syscall.SIGTERM) }
func (g procGroup) kill()      { _ = syscall.Kill(-g.pgid, syscall.SIGKILL) }
func (g procGroup) close()     {}
