// Package modulesim is a tiny stand-in for an AI function module, run as a
// program by the ai-monitor demo and tests: it counts a heartbeat tag in
// the PLC, and while its enable tag is set it writes an "optimized"
// setpoint. It can be told to misbehave, at random (-flaky) or through a
// fault file whose content is one of:
//
//	crash   exit with status 3 at once
//	hang    stop beating and writing, but keep running
//	bad     write a setpoint far outside any sane envelope
//
// The program is the ai-monitor binary itself ("ai-monitor demo-module
// -plc 127.0.0.1:1102 …"), so the demo needs no build step.
package modulesim
