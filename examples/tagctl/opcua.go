package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/kiln-iot/kiln/opcua"
	"github.com/kiln-iot/kiln/plc"
)

// Flags of driver opcua and its subcommands.
var (
	uaPolicy   *string
	uaMode     *string
	uaCert     *string
	uaKey      *string
	uaTrust    *string
	uaUser     *string
	uaPassword *string
	uaDepth    *int
	uaExport   *string
	// uaTypes is the client Resolve learns data types with: opened by the
	// first lookup, shared by the others, closed by uaRelease.
	uaTypes *opcua.Client
)

func init() {
	drivers["opcua"] = DriverSpec{
		Flags: func(fs *flag.FlagSet) {
			uaPolicy = fs.String("security-policy", "None", "opcua: security policy None or Basic256Sha256")
			uaMode = fs.String("security-mode", "", "opcua: security mode None, Sign or SignAndEncrypt (default: None, or SignAndEncrypt with Basic256Sha256)")
			uaCert = fs.String("cert-file", "", "opcua: client certificate, generated on first use when missing (default in the user config dir)")
			uaKey = fs.String("key-file", "", "opcua: client private key (PEM), generated with the certificate")
			uaTrust = fs.String("trusted-cert", "", "opcua: trusted server certificate file or directory; the server's certificate must be in it or issued by it (default: not checked)")
			uaUser = fs.String("username", "", "opcua: user name (default: anonymous)")
			uaPassword = fs.String("password", "", "opcua: password of -username")
		},
		Device:  uaDeviceFor,
		Resolve: uaResolve,
		Release: uaRelease,
		Watch:   uaWatch,
	}
	subcommands["browse"] = Subcommand{
		Usage: "-driver opcua -endpoint opc.tcp://HOST:PORT browse [NODE] [-depth N] [-export FILE.yaml|FILE.csv [-device NAME]]",
		Flags: func(fs *flag.FlagSet) {
			uaDepth = fs.Int("depth", 1, "browse: levels below NODE to list (0: all)")
			uaExport = fs.String("export", "", "browse: write the variables found as a point database file (YAML or CSV by extension) for device -device (default opcua)")
		},
		Run: browseCmd,
	}
}

func uaDeviceFor(endpoint string) (plc.Device, error) {
	opts := map[string]string{"security_policy": *uaPolicy}
	for k, v := range map[string]string{"security_mode": *uaMode, "cert_file": *uaCert, "key_file": *uaKey, "trusted_certs": *uaTrust, "username": *uaUser, "password": *uaPassword} {
		if v != "" {
			opts[k] = v
		}
	}
	dev := plc.Device{Name: endpoint, Driver: "opcua", Endpoint: endpoint, Options: opts}
	if _, err := opcua.ConfigFromDevice(dev); err != nil {
		return plc.Device{}, err
	}
	return dev, nil
}

// uaResolve splits NODE[:TYPE]; without a type it reads the node's data
// type from the server, so "write NODE=VALUE" converts VALUE to it.
func uaResolve(dev plc.Device, arg string) (string, plc.DataType, error) {
	addr := arg
	if i := strings.LastIndexByte(arg, ':'); i > 0 {
		if t, err := plc.ParseDataType(arg[i+1:]); err == nil {
			if _, err := opcua.ParseAddress(arg[:i]); err == nil {
				return arg[:i], t, nil
			}
		}
	}
	a, err := opcua.ParseAddress(addr)
	if err != nil {
		return "", plc.DataType{}, err
	}
	t, err := uaNodeType(dev, a)
	if err != nil {
		return "", plc.DataType{}, err
	}
	return addr, t, nil
}

// uaRelease closes the client of the data type lookups.
func uaRelease() {
	if uaTypes != nil {
		_ = uaTypes.Close()
		uaTypes = nil
	}
}

// uaNodeType reads the data type of a node from dev's server. A failure
// of the server's (the node is unknown, the server unreachable) is a
// *lookupError; a bad setting (a missing trust list) is not.
func uaNodeType(dev plc.Device, a opcua.Address) (plc.DataType, error) {
	if uaTypes == nil {
		cfg, err := opcua.ConfigFromDevice(dev)
		if err != nil {
			return plc.DataType{}, err
		}
		if uaTypes, err = opcua.New(cfg); err != nil {
			return plc.DataType{}, err
		}
	}
	c := uaTypes
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.Resolve(ctx, a)
	if err != nil {
		return plc.DataType{}, lookupErrorf("cannot learn the type of %s from the server (give it as %s:TYPE): %w", a, a, err)
	}
	dvs, err := c.ReadAttribute(ctx, ua.AttributeIDDataType, []*ua.NodeID{id})
	if err != nil {
		return plc.DataType{}, lookupErrorf("cannot learn the type of %s from the server (give it as %s:TYPE): %w", a, a, err)
	}
	if dvs[0] == nil {
		return plc.DataType{}, lookupErrorf("node %s: the server returned no data type", a)
	}
	if opcua.IsBad(dvs[0].Status) {
		return plc.DataType{}, lookupErrorf("node %s: %w", a, dvs[0].Status)
	}
	var tid *ua.NodeID
	if dvs[0].Value != nil {
		tid, _ = dvs[0].Value.Value().(*ua.NodeID)
	}
	if tid == nil || tid.Namespace() != 0 {
		return plc.DataType{}, lookupErrorf("node %s has data type %v, which tagctl does not map; give one as :TYPE", a, tid)
	}
	t, ok := opcua.DataTypeOf(tid.IntID())
	if !ok {
		return plc.DataType{}, lookupErrorf("node %s has data type %v, which tagctl does not map; give one as :TYPE", a, tid)
	}
	return t, nil
}

// lookupErrorf is a *lookupError formatted as fmt.Errorf does.
func lookupErrorf(format string, args ...any) error {
	return &lookupError{fmt.Errorf(format, args...)}
}

// uaDriver opens the command's device as an OPC UA driver.
func uaDriver(cmd *Command) (*opcua.Driver, int) {
	if cmd.Device.Driver != "opcua" {
		return nil, cmd.Usagef("%s needs -driver opcua (or an opcua device)", cmd.Name)
	}
	drv, err := cmd.Open()
	if err != nil {
		return nil, cmd.Usagef("open %s: %v", cmd.Device.Name, err)
	}
	d, ok := drv.(*opcua.Driver)
	if !ok {
		_ = drv.Close()
		return nil, cmd.Usagef("%s: device %s is not an OPC UA device", cmd.Name, cmd.Device.Name)
	}
	return d, exitOK
}

// browseCmd prints one JSON object per node below NODE (the Objects
// folder by default): {"nodeid","browse_name","class","type","depth"}.
func browseCmd(ctx context.Context, cmd *Command) int {
	if len(cmd.Args) > 1 {
		return cmd.Usagef("browse: at most one NODE")
	}
	if *uaDepth < 0 {
		return cmd.Usagef("browse: -depth %d: must not be negative", *uaDepth)
	}
	var root *ua.NodeID
	var rootAddr opcua.Address
	if len(cmd.Args) == 1 {
		a, err := opcua.ParseAddress(cmd.Args[0])
		if err != nil {
			return cmd.Usagef("browse: %v", err)
		}
		rootAddr = a
	}
	drv, code := uaDriver(cmd)
	if code != exitOK {
		return code
	}
	defer drv.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := drv.Client()
	if rootAddr.NodeID != nil || rootAddr.Path != nil {
		id, err := c.Resolve(ctx, rootAddr)
		if err != nil {
			fmt.Fprintf(cmd.Stderr, "tagctl: browse: %v\n", err)
			return exitFail
		}
		root = id
	}
	nodes, err := c.Browse(ctx, root, *uaDepth)
	if *uaExport != "" {
		if err != nil {
			fmt.Fprintf(cmd.Stderr, "tagctl: browse: %v\n", err)
			return exitFail
		}
		prefix := ""
		if root != nil {
			// Name the tags from the root down: "Line1.Kiln.Temp", not "Kiln.Temp".
			dvs, err := c.ReadAttribute(ctx, ua.AttributeIDBrowseName, []*ua.NodeID{root})
			if err != nil {
				fmt.Fprintf(cmd.Stderr, "tagctl: browse: %v\n", err)
				return exitFail
			}
			if dvs[0] != nil && dvs[0].Value != nil {
				if qn, ok := dvs[0].Value.Value().(*ua.QualifiedName); ok && qn != nil {
					prefix = qn.Name + "."
				}
			}
		}
		return exportNodes(cmd, nodes, prefix, *uaExport)
	}
	enc := json.NewEncoder(cmd.Stdout)
	for _, n := range nodes {
		_ = enc.Encode(n)
	}
	if err != nil {
		fmt.Fprintf(cmd.Stderr, "tagctl: browse: %v\n", err)
		return exitFail
	}
	return exitOK
}

// uaWatch is watch for driver opcua: instead of polling it subscribes
// to the nodes (publishing interval: -interval) and prints a line for
// every value or quality change the server pushes, Bad lines while the
// server is unreachable and good ones after it is back, until interrupted
// (SIGINT, exit 0) or count lines were printed.
func uaWatch(ctx context.Context, cmd *Command, tags []plc.Tag, interval time.Duration, count int) int {
	drv, code := uaDriver(cmd)
	if code != exitOK {
		return code
	}
	defer drv.Close()
	byName := make(map[string]plc.Tag, len(tags))
	for _, t := range tags {
		byName[t.Name] = t
	}
	var (
		mu      sync.Mutex
		printed int
		last    = make(map[string]plc.Sample, len(tags))
		enough  = make(chan struct{})
	)
	sink := plc.SinkFunc(func(_ context.Context, ss []plc.Sample) error {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range ss {
			if count > 0 && printed >= count {
				return nil
			}
			t := byName[s.Tag]
			eng := t.ToEngineering(s.Value)
			if p, ok := last[s.Tag]; ok && p.Quality == s.Quality && p.Value.Equal(eng) {
				continue
			}
			last[s.Tag] = plc.Sample{Value: eng, Quality: s.Quality}
			cmd.printLine(s.Tag, eng, s.Quality, nil, s.Time)
			if printed++; printed == count {
				close(enough)
			}
		}
		return nil
	})
	sub, err := drv.Subscribe(ctx, opcua.SubscriptionConfig{PublishingInterval: interval}, tags, sink)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK // interrupted before the subscription was made
		}
		fmt.Fprintf(cmd.Stderr, "tagctl: watch: %v\n", err)
		return exitFail
	}
	select {
	case <-ctx.Done():
		_ = sub.Close()
		return exitOK // interrupted: a normal end of watching
	case <-enough:
	}
	_ = sub.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, t := range tags {
		if s, ok := last[t.Name]; !ok || !s.Quality.IsGood() {
			return exitFail
		}
	}
	return exitOK
}

// exportNodes writes the variables among nodes as tags of device -device
// (default "opcua") to file: named by their browse path below the root
// (after prefix, the root's name), addressed by
// node id with its namespace URI (nsu=…), with the server's type, access and description. Variables of
// a type kiln does not map are listed on stderr and left out.
func exportNodes(cmd *Command, nodes []opcua.Node, prefix, file string) int {
	device := cmd.DeviceName
	if device == "" {
		device = "opcua"
	}
	var tags []plc.Tag
	for _, n := range nodes {
		if n.Class != "Variable" {
			continue
		}
		t, err := plc.ParseDataType(n.Type)
		if err != nil {
			fmt.Fprintf(cmd.Stderr, "tagctl: browse: skipped %s (%s): type %q has no plc type\n", n.NodeID, n.Path, n.Type)
			continue
		}
		addr := n.ExpandedNodeID // stays valid when the server reorders its namespaces
		if addr == "" {
			addr = n.NodeID
		}
		tag := plc.Tag{Name: prefix + n.Path, Device: device, Address: addr, Type: t, Description: n.Description}
		if n.Access == "rw" {
			tag.Access = plc.ReadWrite
		}
		tags = append(tags, tag)
	}
	return writeTags(cmd, "browse", tags, file)
}
