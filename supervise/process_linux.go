package supervise

import "syscall"

// setParentDeathSignal makes the kernel SIGKILL the program when the
// thread that started it, and so the supervising process, dies.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
