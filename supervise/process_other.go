//go:build unix && !linux

package supervise

import "syscall"

// setParentDeathSignal does nothing: only Linux has parent-death signals.
func setParentDeathSignal(*syscall.SysProcAttr) {}
