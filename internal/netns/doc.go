// Package netns builds small networks of Linux network namespaces for
// kiln's fault tests: each namespace is one host (a gateway, the PLC, the
// uplink), joined to another by its own point-to-point veth link, so a
// test cuts exactly one link (active↔standby, active↔PLC) and nothing
// else. Addresses are link-local (169.254.0.0/16) and exist only inside
// the lab: reach them from a Host (Dial, Do, Command), never from the
// test's own namespace, whose default route would send the packets off
// the machine. It needs root and iproute2; without them New fails the
// test, it never skips.
//
//	lab := netns.New(t)
//	gw, plcHost := lab.Host("gw"), lab.Host("plc")
//	link := lab.Link(gw, plcHost)
//	ln, _ := plcHost.Listen("tcp", ":102")     // a server inside "plc"
//	cmd := gw.Command("./edge-gateway", "-config", cfg) // a process inside "gw"
//	link.Cut()                                  // the cable is pulled
package netns
