// Package plc is kiln's device-neutral model of industrial data: what a
// tag is, what a value and its quality are, how drivers read and write
// devices, and the three parts every service built on kiln needs above the
// drivers: the point database, the poller and checked writes.
//
// # Types
//
// A [DataType] is an IEC 61131-3 / S7 elementary type (BOOL … LREAL,
// STRING[n]) or an OPC UA one (DATETIME, BYTESTRING); [ParseDataType]
// reads it as engineers write it. A [Value] holds one value of a kind
// without allocating for numbers; [Convert] and [ParseValue] change and
// parse values only when nothing is lost. A [Quality] says whether a
// [Sample] is good, and if not why; the zero Quality is Bad/not read, so a
// sample that was never read never passes for good.
//
// A [Tag] names a point in a [Device]: its address in the driver's syntax,
// raw type, access, scan group, deadband, linear scaling to engineering
// units ([Tag.ToEngineering], [Tag.ToRaw]) and write limits.
//
// # Drivers
//
// A [Driver] (the s7 and opcua packages, or plctest in tests) reads
// prepared sets of tags and writes raw values. Drivers register by name
// ([Register]); [Open] opens one for a device.
//
// # Point database
//
// [Load] reads devices, scan groups and tags from YAML and CSV files (see
// [PointDB.AddYAML] and [PointDB.AddCSV] for the formats, and
// testdata/plant.yaml and testdata/tags.csv for an example) and validates
// them in one pass, reporting every problem as a [config.FieldError] with file,
// line and field:
//
//	db, err := plc.Load("plant.yaml", "tags.csv")
//	for _, e := range config.List(err) {
//		fmt.Println(e) // tags.csv:14: type: tag "Kiln1.Temp": unknown type "FLOT"
//	}
//
// # Poller
//
// A [Poller] reads every scan group at its own rate, one Read per device
// and group per tick, applies scaling and deadbands and reports by
// exception (changes beyond the deadband, every quality change, a full
// refresh every interval) to a [Sink] in batches. Each device of a group
// is scanned by a loop of its own on the group's rate grid, so a device
// whose reads hang until their timeout delays only its own tags. The
// Poller implements Serve(ctx) for a supervisor, skips and counts ticks
// that overrun, keeps the latest value of every tag ([Poller.Latest],
// [Poller.Snapshot]), counts per group and device ([Poller.Stats]) and is
// a Prometheus collector:
//
//	p, err := plc.NewPoller(db, drivers, sink)
//	reg.MustRegister(p)
//	err = p.Serve(ctx)
//
// # Checked writes
//
// A [Writer] writes engineering values given as a Value, text or JSON.
// Before anything reaches the device it checks the tag exists and is
// writable, the value converts without loss and lies within the limits,
// and scales it back to raw; optionally it reads the value back. Every
// request yields an [AuditRecord] with the [Principal] that
// [WithPrincipal] put into the request's context:
//
//	w, err := plc.NewWriter(plc.WriterConfig{Verify: true}, db, drivers, audit)
//	err = w.WriteText(plc.WithPrincipal(ctx, plc.Principal{Who: "alice", Tenant: "acme"}), "Kiln1.Setpoint", "850")
//
// Refusals are [ErrUnknownTag], [ErrReadOnly], *[ConversionError],
// *[LimitError] and *[VerifyError] (errors.Is [ErrVerifyMismatch]).
//
// # Performance
//
// The scan path allocates nothing: sample buffers are reused, the batch
// handed to the sink is a reused slice, the latest values are published by
// swapping two buffers. BenchmarkPoller polls 100,000 tags in 10 groups of
// 10,000 against plctest, the tags of each group on one device or split
// over two, with 10 % or all of the tags changing beyond their deadband
// every tick (one op = one tick of all groups; half the tags are scaled
// INTs with a percent deadband). The remaining allocations are the fake
// clock's (about 4 per scan loop and tick, whatever the number of tags).
// Scanning each device of a group on its own loop costs nothing measurable
// against the one loop per group it replaced (medians of three runs of 30
// ticks; "before" is the same benchmark run on commit 1bac332, one loop
// per group):
//
//	$ go test ./plc -run '^$' -bench BenchmarkPoller -benchtime 30x -count 3
//	cpu: AMD EPYC (2 cores, shared)   ns/op before  ns/op after  allocs/sample after  samples/s after
//	devices=1/changed=10%                1884056       1921537      0.0042                5.2 M
//	devices=1/changed=100%               2304975       2170793      0.00042              46.1 M
//	devices=2/changed=10%                2259717       2184150      0.0082                4.6 M
//	devices=2/changed=100%               2451469       2343296      0.00082              42.7 M
//
// That is under 0.01 allocations per emitted sample (target: at most 1)
// and 43 to 52 million tag reads per second on two shared cores.
// TestPollerScanDoesNotAllocate pins the zero.
//
// Memory: a Poller keeps pointers into the point database, not copies of
// its tags (so db must not change while it polls), and per tag only its
// two sample buffers and the value and quality last reported;
// [WithPollerMaxBatch] bounds the batch buffer. [WithSharedTags] lets a
// Writer use the database in place too. BenchmarkFootprint in plc/s7
// measures the live heap per tag of a point database of 100,000 DINT tags
// with a Poller (prepared and planned by the s7 driver) and a Writer:
//
//	$ go test ./plc/s7 -run '^$' -bench BenchmarkFootprint -benchtime 1x
//	before (tags copied by poller, writer and s7 reader):  1308 B/tag   1025 B/tag beyond the database
//	after:                                                   827 B/tag    544 B/tag beyond the database
package plc
