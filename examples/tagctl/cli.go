package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/kiln-iot/kiln/buildinfo"
	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/examples/internal/gatewayconf"
	"github.com/kiln-iot/kiln/plc"
)

// DriverSpec is how tagctl drives one kind of device without a point
// database (-driver NAME -endpoint …).
type DriverSpec struct {
	// Flags registers the driver's own flags on fs. It runs for every
	// driver before the command line is parsed, so a driver's flag names
	// must not clash with another driver's or tagctl's.
	Flags func(fs *flag.FlagSet)
	// Device builds the device to open from the endpoint, once the flags
	// are parsed.
	Device func(endpoint string) (plc.Device, error)
	// Resolve turns a command-line address of device dev, optionally
	// with an inline type ("DB1.DBW4:INT"), into the tag's address and
	// type; the error names what is wrong with it. An error the device
	// answered (an OPC UA node the server does not have) is a
	// *lookupError: read prints a bad line for that tag and reads the
	// others.
	Resolve func(dev plc.Device, arg string) (address string, t plc.DataType, err error)
	// Release, when not nil, is called when the command ends, to close
	// what Resolve kept open between calls.
	Release func()
	// Watch, when not nil, replaces polling for "watch" on the driver's
	// devices (named with -driver or from a point database): it prints a
	// line per value or quality change of tags (named by Tag.Name) until
	// ctx ends, which exits 0, or until count lines (count > 0) were
	// printed, which exits 1 when a tag's last quality is not good.
	// interval is -interval.
	Watch func(ctx context.Context, cmd *Command, tags []plc.Tag, interval time.Duration, count int) int
}

// Subcommand is a subcommand beyond read, write and watch.
type Subcommand struct {
	// Usage is one line for the usage text, e.g. "browse [NODE]".
	Usage string
	// Flags, when not nil, registers the subcommand's flags; as with
	// DriverSpec.Flags, names must not clash.
	Flags func(fs *flag.FlagSet)
	// Run runs the subcommand and returns the exit status.
	Run func(ctx context.Context, cmd *Command) int
	// Offline says the subcommand works on files, without a device: it
	// runs before -driver, -endpoint or -tags are looked at, with
	// cmd.Device, DB and Open unset.
	Offline bool
}

// Extension points. A file of this package adds a driver or a subcommand
// from an init function, without editing the others:
//
//	func init() {
//		drivers["opcua"] = DriverSpec{Flags: …, Device: …, Resolve: …, Watch: …}
//		subcommands["browse"] = Subcommand{Usage: "browse [NODE]", Run: browse}
//	}
//
// s7.go adds driver "s7" this way.
var (
	drivers     = map[string]DriverSpec{}
	subcommands = map[string]Subcommand{}
)

// Command is what a subcommand runs with.
type Command struct {
	// Name is the subcommand, Args its positional arguments.
	Name string
	Args []string
	// Device is the device the command addresses: from -driver and
	// -endpoint, or from the point database.
	Device plc.Device
	// DeviceName is -device as given.
	DeviceName string
	// DB is the point database of -tags, nil without it.
	DB             *plc.PointDB
	Stdout, Stderr io.Writer
	Logger         *zap.Logger
	// Open opens Device's driver.
	Open func() (plc.Driver, error)
	// conn is the opened driver when it can say why its device is
	// unreachable, for the error field of a comm-failure line.
	conn plc.ConnectionReporter
}

// lookupError is a failure of Resolve that comes from the device, not
// from the argument's syntax.
type lookupError struct{ err error }

func (e *lookupError) Error() string { return e.err.Error() }
func (e *lookupError) Unwrap() error { return e.err }

// Usagef reports a usage error on Stderr and returns exit status 2.
func (c *Command) Usagef(format string, args ...any) int {
	fmt.Fprintf(c.Stderr, "tagctl: "+format+"\n", args...)
	return 2
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// run is tagctl with its arguments and outputs; it returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tagctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	driver := fs.String("driver", "", "driver of the device: "+strings.Join(driverNames(), ", "))
	endpoint := fs.String("endpoint", "", "the device's address, HOST[:PORT]")
	tagsFile := fs.String("tags", "", "point database file(s), comma-separated (YAML, CSV)")
	gatewayFile := fs.String("config", "", "the edge gateway's configuration file; -device names one of its devices")
	device := fs.String("device", "", "the device of the point database or of the gateway's configuration to use")
	verify := fs.Bool("verify", false, "write: read each value back and compare")
	interval := fs.Duration("interval", 500*time.Millisecond, "watch: time between reads (opcua: the publishing interval)")
	count := fs.Int("count", 0, "watch: stop after this many reads (opcua: lines; 0: until interrupted)")
	timeout := fs.Duration("timeout", 10*time.Second, "read, write: give up after this long")
	verbose := fs.Bool("v", false, "log to stderr")
	showVersion := fs.Bool("version", false, "print the build (version, commit, time) and exit")
	for _, name := range driverNames() {
		if f := drivers[name].Flags; f != nil {
			f(fs)
		}
	}
	for _, name := range sortedKeys(subcommands) {
		if f := subcommands[name].Flags; f != nil {
			f(fs)
		}
	}
	cmd := &Command{Stdout: stdout, Stderr: stderr, Logger: zap.NewNop()}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stderr, fs)
			return exitUsage
		}
		return cmd.Usagef("%v", err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, buildinfo.Get())
		return exitOK
	}
	if len(pos) == 0 {
		usage(stderr, fs)
		return exitUsage
	}
	cmd.Name, cmd.Args = pos[0], pos[1:]
	switch {
	case *count < 0:
		return cmd.Usagef("-count %d: must not be negative", *count)
	case *timeout <= 0:
		return cmd.Usagef("-timeout %v: must be positive", *timeout)
	}
	if *verbose {
		enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
		cmd.Logger = zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), zap.DebugLevel))
		cmd.Logger.Debug("kiln tagctl", buildinfo.Get().Fields()...)
	}

	cmd.DeviceName = *device
	if sc, ok := subcommands[cmd.Name]; ok && sc.Offline {
		return sc.Run(ctx, cmd)
	}

	var resolve func(string) (plc.Tag, error)
	switch {
	case *tagsFile != "":
		if *driver != "" || *endpoint != "" || *gatewayFile != "" {
			return cmd.Usagef("-tags cannot be combined with -driver, -endpoint or -config")
		}
		files := strings.Split(*tagsFile, ",")
		if code := checkFiles(cmd, files); code != exitOK {
			return code
		}
		db, err := plc.Load(files...)
		if err != nil {
			return cmd.problems(*tagsFile, err)
		}
		dev, code := pickDevice(cmd, db, *device)
		if code != exitOK {
			return code
		}
		cmd.DB, cmd.Device = db, dev
		resolve = func(name string) (plc.Tag, error) {
			t, ok := db.Tag(name)
			if !ok {
				return plc.Tag{}, fmt.Errorf("no tag %q in %s", name, *tagsFile)
			}
			if t.Device != dev.Name {
				return plc.Tag{}, fmt.Errorf("tag %q belongs to device %q, not %q", name, t.Device, dev.Name)
			}
			return *t, nil
		}
	case *gatewayFile != "":
		if *driver != "" || *endpoint != "" {
			return cmd.Usagef("-config cannot be combined with -driver or -endpoint (the device is the gateway's)")
		}
		cfg, err := gatewayconf.Load(*gatewayFile)
		if err != nil {
			return cmd.problems(*gatewayFile, err)
		}
		devs := make([]plc.Device, len(cfg.Devices))
		for i, d := range cfg.Devices {
			devs[i] = d.PLC()
		}
		dev, code := pickDevice(cmd, &plc.PointDB{Devices: devs}, *device)
		if code != exitOK {
			return code
		}
		spec, ok := drivers[dev.Driver]
		if !ok {
			return cmd.Usagef("device %q: tagctl has no driver %q (known: %s)", dev.Name, dev.Driver, strings.Join(driverNames(), ", "))
		}
		if spec.Release != nil {
			defer spec.Release()
		}
		cmd.Device = dev
		resolve = addressResolver(spec, dev)
	case *driver != "":
		spec, ok := drivers[*driver]
		if !ok {
			return cmd.Usagef("-driver %q: unknown driver (known: %s)", *driver, strings.Join(driverNames(), ", "))
		}
		if spec.Release != nil {
			defer spec.Release()
		}
		if *endpoint == "" {
			return cmd.Usagef("-endpoint is missing")
		}
		dev, err := spec.Device(*endpoint)
		if err != nil {
			return cmd.Usagef("%v", err)
		}
		cmd.Device = dev
		resolve = addressResolver(spec, dev)
	default:
		return cmd.Usagef("need -driver and -endpoint, -tags (and -device), or -config and -device")
	}
	cmd.Open = func() (plc.Driver, error) {
		drv, err := plc.Open(cmd.Device, plc.OpenOptions{Logger: cmd.Logger})
		if cr, ok := drv.(plc.ConnectionReporter); ok {
			cmd.conn = cr
		}
		return drv, err
	}

	switch cmd.Name {
	case "read":
		return readCmd(ctx, cmd, resolve, *timeout)
	case "write":
		return writeCmd(ctx, cmd, resolve, *timeout, *verify)
	case "watch":
		if *interval <= 0 {
			return cmd.Usagef("-interval %v: must be positive", *interval)
		}
		return watchCmd(ctx, cmd, resolve, *interval, *count)
	}
	if sc, ok := subcommands[cmd.Name]; ok {
		return sc.Run(ctx, cmd)
	}
	return cmd.Usagef("unknown command %q (want read, write, watch%s)", cmd.Name, extraNames())
}

// addressResolver resolves addresses in the driver's syntax to tags of
// dev.
func addressResolver(spec DriverSpec, dev plc.Device) func(string) (plc.Tag, error) {
	return func(arg string) (plc.Tag, error) {
		addr, t, err := spec.Resolve(dev, arg)
		if err != nil {
			return plc.Tag{}, err
		}
		return plc.Tag{Name: arg, Device: dev.Name, Address: addr, Type: t, Access: plc.ReadWrite}, nil
	}
}

// checkFiles reports the files of -tags that are not there, naming the
// flag and the directory a relative name was looked for in.
func checkFiles(cmd *Command, files []string) int {
	wd, _ := os.Getwd()
	code := exitOK
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			where := "in the working directory " + wd
			if filepath.IsAbs(f) {
				where = "there"
			}
			fmt.Fprintf(cmd.Stderr, "tagctl: -tags: %q is not %s: %v\n", f, where, errors.Unwrap(err))
			code = exitUsage
		}
	}
	return code
}

// problems prints the problems of a file that tagctl could not use, one
// a line with file, line and field, and returns the usage status.
func (c *Command) problems(file string, err error) int {
	if !errors.Is(err, config.ErrInvalid) {
		return c.Usagef("%v", err)
	}
	fmt.Fprintf(c.Stderr, "tagctl: %s in %s:\n", config.Count(err), file)
	for _, fe := range config.List(err) {
		fmt.Fprintln(c.Stderr, fe)
	}
	return exitUsage
}

// parseInterleaved parses flags that may come before, between and after
// the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func pickDevice(cmd *Command, db *plc.PointDB, name string) (plc.Device, int) {
	if name == "" {
		if len(db.Devices) == 1 {
			return db.Devices[0], exitOK
		}
		names := make([]string, len(db.Devices))
		for i, d := range db.Devices {
			names[i] = d.Name
		}
		return plc.Device{}, cmd.Usagef("-device is missing (devices: %s)", strings.Join(names, ", "))
	}
	d, ok := db.Device(name)
	if !ok {
		return plc.Device{}, cmd.Usagef("-device %q: no such device in the point database", name)
	}
	return *d, exitOK
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `usage:
  tagctl -driver DRIVER -endpoint HOST[:PORT] [driver flags] read ADDR[:TYPE]...
  tagctl -driver DRIVER -endpoint HOST[:PORT] write ADDR[:TYPE]=VALUE... [-verify]
  tagctl -driver DRIVER -endpoint HOST[:PORT] watch [-interval 500ms] [-count N] ADDR[:TYPE]...
  tagctl -tags FILE -device NAME read|write|watch TAGNAME[=VALUE]...
  tagctl -config GATEWAY.yaml -device NAME read|write|watch ADDR[:TYPE][=VALUE]...
`)
	for _, name := range sortedKeys(subcommands) {
		fmt.Fprintf(w, "  tagctl … %s\n", subcommands[name].Usage)
	}
	fmt.Fprintln(w, "\nOne JSON object per line and tag: {\"tag\",\"value\",\"quality\",\"error\",\"ts\"}.")
	fmt.Fprintln(w, "Exit status 0 when every tag is good or every write succeeded, 1 otherwise, 2 on usage errors.")
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func driverNames() []string { return sortedKeys(drivers) }

func extraNames() string {
	var b strings.Builder
	for _, n := range sortedKeys(subcommands) {
		b.WriteString(", " + n)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// line is one line of output.
type line struct {
	Tag     string    `json:"tag"`
	Value   plc.Value `json:"value"`
	Quality string    `json:"quality"`
	Error   *string   `json:"error"`
	TS      string    `json:"ts"`
}

// printLine writes one JSON line to Stdout; err (or a quality that is
// not good, which for a device that cannot be reached names the cause:
// connection refused, the PLC refusing the rack and slot) fills the
// error field.
func (c *Command) printLine(tag string, v plc.Value, q plc.Quality, err error, ts time.Time) {
	w := c.Stdout
	l := line{Tag: tag, Value: v, Quality: q.Status.String(), TS: ts.UTC().Format(time.RFC3339Nano)}
	switch {
	case err != nil:
		s := err.Error()
		l.Error = &s
	case !q.IsGood():
		s := q.String()
		if q.Reason == plc.ReasonCommFailure && c.conn != nil {
			if cause := c.conn.ConnectionError(); cause != nil {
				s += ": " + cause.Error()
			}
		}
		l.Error = &s
	}
	b, mErr := json.Marshal(l)
	if mErr != nil { // a value JSON cannot hold: report it rather than lose the line
		s := mErr.Error()
		l.Value, l.Error = plc.Value{}, &s
		b, _ = json.Marshal(l)
	}
	_, _ = fmt.Fprintf(w, "%s\n", b)
}

// resolveAll resolves the arguments to tags; the error names the bad one.
func resolveAll(args []string, resolve func(string) (plc.Tag, error)) ([]plc.Tag, error) {
	tags := make([]plc.Tag, len(args))
	for i, a := range args {
		t, err := resolve(a)
		if err != nil {
			return nil, fmt.Errorf("bad argument %q: %w", a, err)
		}
		tags[i] = t
	}
	return tags, nil
}

// openAndPrepare opens the driver and prepares tags in one reader, so the
// driver packs them all into its requests.
func openAndPrepare(cmd *Command, tags []plc.Tag) (plc.Driver, plc.Reader, int) {
	drv, err := cmd.Open()
	if err != nil {
		return nil, nil, cmd.Usagef("open %s: %v", cmd.Device.Name, err)
	}
	r, err := drv.Prepare(tags)
	if err != nil {
		_ = drv.Close()
		fmt.Fprintf(cmd.Stderr, "tagctl: %v\n", err)
		return nil, nil, exitFail
	}
	return drv, r, exitOK
}

func readCmd(ctx context.Context, cmd *Command, resolve func(string) (plc.Tag, error), timeout time.Duration) int {
	if len(cmd.Args) == 0 {
		return cmd.Usagef("read: name at least one tag")
	}
	// A tag the device does not know (an OPC UA node the server lacks)
	// gets a bad line; the others are read all the same.
	var tags []plc.Tag
	var args []string
	lookups := make([]error, len(cmd.Args))
	for i, a := range cmd.Args {
		t, err := resolve(a)
		var le *lookupError
		switch {
		case errors.As(err, &le):
			lookups[i] = err
		case err != nil:
			return cmd.Usagef("read: bad argument %q: %v", a, err)
		default:
			tags, args = append(tags, t), append(args, a)
		}
	}
	status := exitOK
	out := make([]plc.Sample, len(tags))
	var readErr error
	if len(tags) > 0 {
		drv, r, code := openAndPrepare(cmd, tags)
		if code != exitOK {
			return code
		}
		defer drv.Close()
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		readErr = r.Read(ctx, out)
	}
	j := 0
	for i, a := range cmd.Args {
		if lookups[i] != nil {
			cmd.printLine(a, plc.Value{}, plc.Bad(plc.ReasonConfigError, "unknown to the device"), lookups[i], time.Now())
			status = exitFail
			continue
		}
		s := out[j]
		cmd.printLine(args[j], tags[j].ToEngineering(s.Value), s.Quality, nil, s.Time)
		if !s.Quality.IsGood() {
			status = exitFail
		}
		j++
	}
	if readErr != nil {
		fmt.Fprintf(cmd.Stderr, "tagctl: read: %v\n", readErr)
		status = exitFail
	}
	return status
}

func watchCmd(ctx context.Context, cmd *Command, resolve func(string) (plc.Tag, error), interval time.Duration, count int) int {
	if len(cmd.Args) == 0 {
		return cmd.Usagef("watch: name at least one tag")
	}
	tags, err := resolveAll(cmd.Args, resolve)
	if err != nil {
		return cmd.Usagef("watch: %v", err)
	}
	if w := drivers[cmd.Device.Driver].Watch; w != nil {
		return w(ctx, cmd, tags, interval, count)
	}
	drv, r, code := openAndPrepare(cmd, tags)
	if code != exitOK {
		return code
	}
	defer drv.Close()
	out := make([]plc.Sample, len(tags))
	last := make([]plc.Sample, len(tags))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	status := exitOK
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return exitOK // interrupted: a normal end of watching
			case <-tick.C:
			}
		}
		if err := r.Read(ctx, out); err != nil && ctx.Err() != nil {
			return exitOK
		}
		status = exitOK
		for i, s := range out {
			eng := tags[i].ToEngineering(s.Value)
			if n == 0 || !eng.Equal(last[i].Value) || s.Quality != last[i].Quality {
				cmd.printLine(cmd.Args[i], eng, s.Quality, nil, s.Time)
			}
			last[i] = plc.Sample{Value: eng, Quality: s.Quality}
			if !s.Quality.IsGood() {
				status = exitFail
			}
		}
	}
	return status
}

func writeCmd(ctx context.Context, cmd *Command, resolve func(string) (plc.Tag, error), timeout time.Duration, verify bool) int {
	if len(cmd.Args) == 0 {
		return cmd.Usagef("write: name at least one TAG=VALUE")
	}
	type req struct {
		arg, value string
		tag        plc.Tag
	}
	reqs := make([]req, len(cmd.Args))
	for i, a := range cmd.Args {
		name, value, t, err := splitWrite(a, resolve)
		if err != nil {
			return cmd.Usagef("write: bad argument %q: %v", a, err)
		}
		reqs[i] = req{arg: name, value: value, tag: t}
	}
	// The checked-write path works on a point database: the one of -tags,
	// or one made of the command line's tags.
	db := &plc.PointDB{Devices: []plc.Device{cmd.Device}}
	names := make([]string, len(reqs))
	for i := range reqs {
		t := reqs[i].tag
		if cmd.DB == nil {
			t.Name = fmt.Sprintf("arg%d", i+1) // arguments may repeat
		}
		names[i] = t.Name
		if _, dup := db.Tag(t.Name); !dup {
			db.Tags = append(db.Tags, t)
		}
	}
	if cmd.DB != nil {
		db.Groups = cmd.DB.Groups
	}
	if err := db.Validate(); err != nil {
		return cmd.Usagef("write: %v", err)
	}
	drv, err := cmd.Open()
	if err != nil {
		return cmd.Usagef("open %s: %v", cmd.Device.Name, err)
	}
	defer drv.Close()
	audit := plc.AuditFunc(func(context.Context, plc.AuditRecord) error { return nil })
	w, err := plc.NewWriter(plc.WriterConfig{Verify: verify}, db, map[string]plc.Driver{cmd.Device.Name: drv}, audit, plc.WithWriterLogger(cmd.Logger))
	if err != nil {
		fmt.Fprintf(cmd.Stderr, "tagctl: %v\n", err)
		return exitFail
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status := exitOK
	for i, rq := range reqs {
		err := w.WriteText(ctx, names[i], rq.value)
		t, _ := db.Tag(names[i])
		v, perr := plc.ParseValue(rq.value, t.EngType())
		if perr != nil {
			v = plc.Value{}
		}
		q := plc.Good
		if err != nil {
			q = plc.Bad(plc.ReasonDeviceError, "")
			status = exitFail
		}
		cmd.printLine(rq.arg, v, q, err, time.Now())
	}
	return status
}

// splitWrite splits TAG=VALUE at the first "=" whose left side resolves,
// so addresses that contain "=" themselves (OPC UA node ids,
// "ns=2;s=Line1.Temp=21.5") work; the error is that of the first "=".
func splitWrite(a string, resolve func(string) (plc.Tag, error)) (string, string, plc.Tag, error) {
	var first error
	for i := 0; i < len(a); i++ {
		if a[i] != '=' {
			continue
		}
		t, err := resolve(a[:i])
		if err == nil {
			return a[:i], a[i+1:], t, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = errors.New("want TAG=VALUE")
	}
	return "", "", plc.Tag{}, first
}
