//go:build windows

package supervise

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// stopSignal names what terminate sends, for the logs.
const stopSignal = "CTRL_BREAK"

// groupAttr starts the program in a process group of its own, so that
// CTRL_BREAK reaches it and not the supervisor.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP}
}

// procGroup is a job object holding the program and what it starts; the
// job is closed, killing them all, when the supervising process dies.
type procGroup struct {
	job windows.Handle
	pid int
}

func newGroup(p *os.Process) (procGroup, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return procGroup{}, fmt.Errorf("job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return procGroup{}, fmt.Errorf("job object: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(p.Pid))
	if err != nil {
		_ = windows.CloseHandle(job)
		return procGroup{}, fmt.Errorf("open process %d: %w", p.Pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return procGroup{}, fmt.Errorf("job object: %w", err)
	}
	return procGroup{job: job, pid: p.Pid}, nil
}

func (g procGroup) terminate() {
	_ = windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, uint32(g.pid))
}

func (g procGroup) kill()  { _ = windows.TerminateJobObject(g.job, 1) }
func (g procGroup) close() { _ = windows.CloseHandle(g.job) }
