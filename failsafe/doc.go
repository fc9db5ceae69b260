// Package failsafe supervises a plant's AI function modules (inference
// services that read plant data and write optimized setpoints) and, when
// one fails, makes the plant safe instead of only restarting the process:
// it writes the module's fail-safe plan to the PLC through the checked
// write path (plc.Writer, verified by read-back, audited) and hands
// control back only after the module has been healthy for a stable
// period.
//
// The package is named for what it guarantees, not for the kind of module
// it watches: any program that writes setpoints (an AI optimizer, a
// vendor's model server, a script) gets the same fail-safe handover, and
// restarting alone is what supervise already does. It sits above supervise
// (the module trees), plc (the checked writes) and transport (status
// events), and nothing in kiln but the ai-monitor command imports it. The
// stand-in module of its tests and of the demo is failsafe/modulesim.
//
//	cfg, err := failsafe.Load("ai-monitor.yaml")     // file:line: field: errors
//	mon, err := failsafe.New(cfg, db, drivers,       // db: the point database, drivers by device
//		failsafe.WithLogger(log), failsafe.WithEvents(pub))
//	reg.MustRegister(mon)                           // Prometheus
//	http.Handle("/", mon.Handler())                 // the API
//	err = mon.Serve(ctx)
//
// # Modules
//
// A module is a program the monitor runs (supervise.NewProcess: own
// process group, logs through zap) or an HTTP service it only probes
// (URL and expected status). Its health is judged by
//
//   - the process: any exit, whatever the status, loses control;
//   - liveness: an HTTP probe failing FailureThreshold times in a row
//     (restarts the module, Kubernetes semantics; it passes while the
//     monitor holds the module back for its fail-safe plan, and its
//     initial delay runs from the program's actual start); readiness
//     only holds the hand-back back;
//   - a heartbeat, the watchdog: a PLC tag the module changes (a
//     counter), messages keyed with the module's name on a transport
//     subscription, or a successful HTTP probe, at least every timeout;
//     while the PLC cannot be read a tag heartbeat does not blame the
//     module;
//   - its output envelope: tags (the setpoints it writes) read from the
//     PLC every period and compared with configured limits.
//
// Each module runs under a supervisor of its own (supervise), with its
// restart intensity and backoff, added to the monitor's root supervisor
// as a Temporary child: a module past its intensity is declared failed,
// stays down with its fail-safe values held, and comes back only when an
// operator resets it (POST /api/modules/{name}/reset).
//
// # Control handover
//
// A module's states: starting → in_control → handing_over → fail_safe →
// in_control …, and failed. When the module is declared unhealthy the
// controller writes its fail-safe plan (tags and safe values, in order,
// each verified by read-back) at once, and a restarted instance of the
// module waits (its watchdog fed) until that plan is verified, so it
// always starts against a safe plant. A write that fails raises the alarm (log,
// event, metric, status) and is retried with backoff until it succeeds.
// Once the module is healthy again (running, live, ready, beating) for the
// plan's stable period, without a failure in between (hysteresis), and
// its last heartbeat is within the heartbeat timeout, the
// hand-back tags (its enable bit, typically) are written and the module
// has control again; with manual_only only an operator hands back (POST
// /api/modules/{name}/hand-back). When the monitor stops, it stops the
// modules and writes every fail-safe plan once more.
//
// # Limits
//
//   - A PLC outage: fail-safe writes are retried with the alarm up, and a
//     module that failed meanwhile is not restarted until its plan is
//     verified. The wait is not held against it: its watchdog is fed and
//     its liveness probe passes, so however long the outage lasts it does
//     not count toward the restart intensity.
//   - A tag heartbeat while the PLC cannot be read: the module is not
//     blamed (nobody can read the tag), so a module that hangs during the
//     outage is caught only once the PLC answers again, one heartbeat
//     timeout later; meanwhile only a liveness probe can catch it. A hung
//     module cannot write to the unreachable PLC either. Give modules
//     whose hang matters during outages a liveness probe or a topic or
//     http heartbeat, which do not depend on the PLC.
//   - Topic heartbeats need a transport several processes can reach: the
//     library takes any transport.Subscriber (WithHeartbeats); the
//     command subscribes over Pulsar only (heartbeats:), since the
//     embedded spool is opened by one process and the modules cannot
//     publish into it.
//   - An operator's hand-back (HandBack, the API) requires the module
//     healthy and its fail-safe plan verified (409 otherwise), not the
//     stable period or a fresh heartbeat.
//
// # Configuration
//
// YAML; Parse and Load report every problem as a *config.FieldError with file,
// line and field path, and New checks the tags against the point database
// (they exist, fail-safe tags are writable, values parse and lie within the
// tags' limits):
//
//	listen: 127.0.0.1:8090
//	points: [plant.yaml]            # plc.Load files
//	events: {spool: {dir: /var/lib/kiln/ai-monitor/events}}   # or pulsar: {...}
//	heartbeats: {client: {url: pulsar://broker:6650}, topic: ai-heartbeats, subscription: ai-monitor}
//	modules:
//	  - name: combustion
//	    process: {path: /opt/ai/combustion, args: [--serve], env: [MODEL=/models/c.onnx], dir: /opt/ai, stop_timeout: 10s}
//	    # or service: {url: http://10.0.0.7:8080/health, expect_status: 200}
//	    liveness: {url: http://127.0.0.1:8081/healthz, period: 5s, failure_threshold: 3}
//	    readiness: {url: http://127.0.0.1:8081/ready}
//	    heartbeat: {source: tag, tag: AI.Combustion.Heartbeat, period: 1s, timeout: 5s}   # or topic (key), http (url)
//	    envelope:
//	      period: 1s
//	      limits: [{tag: Kiln1.Zone2.Setpoint, min: 1000, max: 1100}]
//	    restart: {intensity: 3, period: 1m, retry: {initial: 1s, max: 30s}}
//	    fail_safe:
//	      write:
//	        - {tag: AI.Combustion.Enable, value: false}
//	        - {tag: Kiln1.Zone2.Setpoint, value: 1050}
//	      retry: {initial: 100ms, max: 5s}
//	      hand_back:
//	        stable: 30s
//	        manual_only: false
//	        write: [{tag: AI.Combustion.Enable, value: true}]
//
// # Observability
//
// Handler serves the API (tree status from supervise, module states, last
// failures, handovers with timestamps, reset and hand-back). The Monitor
// is a Prometheus collector (kiln_ai_monitor_handovers_total,
// kiln_ai_monitor_write_failures_total, kiln_ai_monitor_alarm,
// kiln_ai_monitor_module_state, kiln_ai_monitor_failsafe_seconds,
// kiln_ai_monitor_events_dropped_total, kiln_ai_monitor_events_failed_total);
// WithSupervisorMetrics adds the tree's. Every change (unhealthy,
// handover, hand_back, alarm, alarm_cleared, failed, reset) is published
// as a JSON Event, keyed by module, on the transport.Publisher given with
// WithEvents (the embedded spool by default in the command), so the cloud
// sees module health. Time runs on an injectable clock (WithClock).
//
// # Detection-to-fail-safe latency
//
// From SIGKILL of the module process to its two-tag fail-safe plan written
// and verified by read-back in the simulated PLC (s7sim, over S7 on
// loopback), 100 kills per run, runs 1–3 on a quiet machine and 4–8 on a
// busy one ("load" is the load average); go1.26.8, 2 shared AMD EPYC
// cores. "detect" is the kill until the monitor declared the module
// unhealthy, "write" the verified write of both tags:
//
//	$ go test ./failsafe -run '^$' -bench DetectionToFailSafe -benchtime 100x -count 3   # runs 4–8: -count 1 each
//	load  run  total p50  total p99  total max  detect p50  detect p99  write p50  write p99
//	0.9   1      0.39ms     1.09ms     1.12ms     0.24ms      0.46ms     0.16ms     0.74ms
//	0.9   2      0.34ms     0.95ms     1.01ms     0.17ms      0.48ms     0.15ms     0.38ms
//	0.9   3      0.38ms     0.89ms     1.04ms     0.23ms      0.73ms     0.15ms     0.27ms
//	5.1   4      0.52ms    10.22ms    12.46ms     0.31ms      9.98ms     0.19ms     1.88ms
//	5.6   5      0.54ms     9.53ms    24.55ms     0.34ms      5.39ms     0.19ms     1.53ms
//	6.8   6      0.53ms     3.02ms     4.59ms     0.34ms      2.31ms     0.20ms     1.78ms
//	7.6   7      0.57ms     4.08ms     5.59ms     0.35ms      2.02ms     0.21ms     1.15ms
//	9.3   8      0.54ms     3.88ms     5.37ms     0.29ms      3.38ms     0.17ms     1.16ms
//
// A process supervisor alone (suture, systemd) never writes the plant
// safe: the dead module's last setpoints stay in the PLC.
//
// Process exits are seen when the kernel reaps the process, not by
// polling, so detection needs no probe period; the hung-heartbeat and
// liveness paths add their configured timeout and period on top.
package failsafe
