// Package modulesim is a tiny stand-in for an AI function module, run as a
// program by the failsafe tests and the ai-monitor demo (as the simulators
// s7sim and uasim stand in for PLCs), so a fail-safe configuration can be
// tried before the real module exists: it counts a heartbeat tag in
// the PLC, and while its enable tag is set it writes an "optimized"
// setpoint. It can be told to misbehave, at random (-flaky) or through a
// fault file whose content is one of:
//
//	crash   exit with status 3 at once
//	hang    stop beating and writing, but keep running
//	bad     write a setpoint far outside any sane envelope
//
// A binary becomes the module by handing its arguments to Main, as the
// ai-monitor command does ("ai-monitor demo-module -plc 127.0.0.1:1102 …")
// and the failsafe tests do with their test binary, so no build step is
// needed:
//
//	if len(os.Args) > 1 && os.Args[1] == "demo-module" {
//		os.Exit(modulesim.Main(os.Args[2:], os.Stdout, os.Stderr))
//	}
package modulesim
