// Package supervise keeps kiln's modules alive: supervisor trees in the
// manner of Erlang/OTP, with health probes, watchdogs and external
// processes, for the PLC read/write module, the AI modules and the
// services of an edge gateway.
//
// A child is a Service, made fresh by its Spec's New on every start so
// that a restart never reuses broken state:
//
//	sup, err := supervise.New(supervise.Config{Name: "edge"}, supervise.WithLogger(log))
//	if err != nil { ... }
//	sup.Add(ctx, supervise.Spec{Name: "spool", New: newSpool})
//	sup.Add(ctx, supervise.Spec{Name: "forwarder", New: newForwarder, Restart: supervise.Transient})
//	err = sup.Serve(ctx) // until ctx is cancelled, or an *EscalationError
//
// A Supervisor is itself a Service, so supervisors nest into trees.
//
// # Restarts
//
// Children start in order and stop in reverse order. When one ends, its
// restart type decides: Permanent children always restart, Transient ones
// only after an abnormal end (an error, a panic, a missed watchdog, a
// failed liveness or startup probe), Temporary ones never. A nil return is
// the only clean end: a child returning its own context's error, while
// the supervisor had not cancelled it, has failed. Panics are recovered,
// logged with their stack and count as failures (*PanicError).
//
// The strategy says who restarts with it: OneForOne restarts the child
// alone; OneForAll stops every other running child (in reverse order) and
// restarts them all in order; RestForOne does so for the children started
// after it. Unlike OTP, a Temporary child stopped by a group restart is
// restarted with the group, and a child that is Done or Failed stays so.
//
// A child's first restart is immediate; consecutive ones wait a growing,
// jittered, capped delay (Config.Retry), per child, reset once the child
// has run StableAfter. A flapping child therefore never delays a healthy
// sibling's restart (suture pauses the whole supervisor instead).
//
// # Intensity and escalation
//
// More than Intensity restarts within Period (default 5 in 30s) and the
// supervisor stops all its children and returns an *EscalationError
// (errors.Is(err, ErrEscalated)). Its parent handles that as any failure
// of a child, by the restart type the supervisor has there: a Permanent
// sub-supervisor is restarted (fresh, by its New) and counts toward the
// parent's own intensity, so a persistent fault climbs the tree until the
// root's Serve returns it.
//
// To declare a subtree failed and keep it down, as a monitor of AI modules
// needs, give each module a supervisor of its own and add it to the
// monitor as a Temporary child (see Example_failedModule). When the module
// exceeds its intensity its supervisor escalates, the monitor emits
// EventFailed (errors.Is(e.Err, ErrEscalated)), Status shows the child
// Failed, the other children run on, and Restart(ctx, name) brings the
// module back when an operator (or a fail-safe handover) says so.
//
// # Shutdown
//
// Stopping a child cancels its context and waits up to its Spec.Shutdown
// (default 5s). A child still running then is reported (log, EventStopTimeout,
// metric, and the error Serve returns names it) and left behind: Go cannot
// kill a goroutine, and the tree must not block forever. Its goroutine
// leaks until it returns by itself.
//
// # Watchdog and health probes
//
// A Spec with a Watchdog deadline expects Beat(ctx) at least that often
// from its start on; a missed deadline is a hang (ErrHung): the child is
// cancelled and handled as failed. Health probes follow Kubernetes: a
// Startup probe holds the others back until it succeeds once; Liveness
// failing FailureThreshold times in a row restarts the child
// (ErrLivenessFailed); Readiness is reported in Status and events, never
// acted on. Periods, watchdog deadlines, backoff and intensity run on the
// injectable clock (WithClock), so tests are exact and never sleep; a
// probe's Timeout is real time.
//
// # External processes and services
//
// NewProcess runs a program (an AI module in Python, say) with args, env
// and working directory in its own process group; stdout and stderr lines
// go to the child's zap logger with its name. Stopping sends SIGTERM to
// the group and SIGKILL after StopTimeout, and whatever is left of the
// group when the program ends is killed. On Linux the program also gets
// SIGKILL when the supervising process dies, so a crashed gateway leaves
// no module running beside the one its restart starts. On Windows the
// group is a job object that goes with the supervising process, stopping
// sends CTRL_BREAK and the job is terminated after StopTimeout. Exit
// status 0 is a clean exit; anything else is a failure wrapping
// *exec.ExitError.
// NewHTTPCheck probes a service kiln does not own and calls a restart
// hook when it fails FailureThreshold times in a row.
//
// # Observability
//
// WithEventHook receives every Event (started, restarted, exited,
// panicked, hung, backoff, failed, escalated, health changed, stop
// timeout) in order on a goroutine of its own, so a slow hook never
// blocks the tree. Logs go to the WithLogger zap logger (no-op by
// default); Logger(ctx) gives a child its own. NewMetrics makes Prometheus
// counters to register and share across a tree with WithMetrics. Status
// returns a snapshot of the tree (state, restarts, last error, uptime,
// probe verdicts, nested supervisors) that marshals to JSON.
//
// # Restart latency
//
// A restart takes about a microsecond, level with
// github.com/thejerf/suture/v4 measured in the same run by the runner in
// bench/supervise; BenchmarkRestart in this package measures kiln alone.
// The figures, with their commands, are in docs/BENCHMARKS.md.
package supervise
