// Command tagctl reads, writes and watches PLC tags from the command line,
// for engineers and their scripts:
//
//	tagctl -driver s7 -endpoint HOST[:PORT] [-rack 0 -slot 1] read ADDR[:TYPE]...
//	tagctl -driver s7 -endpoint HOST[:PORT] write ADDR[:TYPE]=VALUE... [-verify]
//	tagctl -driver s7 -endpoint HOST[:PORT] watch [-interval 500ms] [-count N] ADDR[:TYPE]...
//	tagctl -driver modbus -endpoint HOST[:PORT] [-unit 1 -byte-order ABCD] read|write|watch ADDR[:TYPE][:ORDER][=VALUE]...
//	tagctl -driver opcua -endpoint opc.tcp://HOST:PORT[/PATH] read|write|watch NODE[:TYPE][=VALUE]...
//	tagctl -tags FILE[,FILE] -device NAME read|write|watch TAGNAME[=VALUE]...
//	tagctl -config gateway.yaml -device NAME read|write|watch ADDR[:TYPE][=VALUE]...
//
// With -config, the device (its driver, endpoint and options) is one of
// the edge gateway's configuration file, read with the gateway's own
// decoding and checks; addresses are in the device's driver syntax. A
// configuration or tag file with problems is refused with every problem
// listed, each with file, line and field; a -tags file that is not there
// is named with the directory it was looked for in.
//
// The S7 port defaults to 102 and a type to the address's width (X BOOL,
// B BYTE, W WORD, D DWORD). Driver s7 also takes -conn-type (pg, op,
// basic), -remote-tsap and -local-tsap (HH.LL or 0xHHLL) and -pdu (the
// PDU size to propose). Driver modbus reads addresses such as 40001,
// 3!HR100:REAL:CDAB, HR7.3 and CO12 (see package plc/modbus), port 502 by
// default, and takes -mode (tcp, rtu with a serial device as the
// endpoint, rtuovertcp), -unit, -byte-order and -zero-based. It prints one JSON object per line and tag:
//
//	{"tag":"DB1.DBW4:INT","value":-12,"quality":"good","error":null,"ts":"2026-11-25T22:00:00.123456789Z"}
//
// where tag echoes the argument as given, value is a JSON number (64-bit
// integers exact), string or boolean, and error explains a quality that is
// not good or a write that failed; for a device that cannot be reached it
// names the cause (connection refused, the PLC refusing the rack and
// slot's TSAP), without -v. All tags of one read go to the driver
// in one call, so the driver packs them into few requests. Writes go
// through plc.Writer, the checked-write path: a value that does not fit
// the type or the tag's limits is refused before anything is sent;
// -verify reads each value back. With -tags, values are in engineering
// units (scaled as the point database says).
//
// Driver opcua takes an endpoint opc.tcp://HOST:PORT[/PATH], node ids
// (ns=2;s=Line1.Temp, ns=3;i=1001, nsu=URI;s=Line1.Temp) or browse
// paths (/2:Line1/Temp) with an optional :TYPE as addresses (without one,
// the node's data type is read from the server, so write converts VALUE
// to it; a node the server does not have gets a bad line and the others
// are read all the same), and
// -security-policy (None, Basic256Sha256), -security-mode (None, Sign,
// SignAndEncrypt), -cert-file, -key-file, -trusted-cert, -username and
// -password. Its watch subscribes instead of polling (-interval is the
// publishing interval): a line per value or quality change, Bad lines
// while the server is unreachable, good ones once it is back; -count N
// stops after N lines. It adds
//
//	tagctl -driver modbus -endpoint HOST[:PORT] [-unit 1 -byte-order ABCD] read|write|watch ADDR[:TYPE][:ORDER][=VALUE]...
//	tagctl -driver opcua -endpoint opc.tcp://HOST:PORT browse [NODE] [-depth N]
//
// printing one JSON object per node: nodeid, browse_name, class, type,
// depth, path (browse names below NODE joined by dots), access (ro, rw)
// and description. With -export FILE.yaml|FILE.csv it writes the
// variables instead as a point database for device -device (default
// opcua): tags named by NODE's name and the path, at their node ids
// with namespace URI (nsu=…, valid when the server reorders its
// namespaces), with
// the server's types, access and descriptions.
//
// Commissioning: import turns TIA Portal's exports into a point-database
// tag file (package plc/s7/tia), without a device:
//
//	tagctl import [-device NAME] [-db N] [-o FILE.yaml|FILE.csv] TAGS.xlsx|BLOCK.db...
//
// An .xlsx is a PLC tag table export, a .db/.scl a data block's source
// (its variables at the offsets of a block without optimized access;
// -db gives the number of a block the source names symbolically). The
// file is YAML or CSV by -o's extension, YAML on stdout without -o;
// entries without a plc type are listed on stderr.
//
// Exit status: 0 when every tag is good or every write succeeded, 1
// otherwise, 2 on usage errors (with a message naming the bad argument).
//
// tagctl is driver-neutral: it opens devices through plc.Open, and a file
// of this package can add a driver's flags (drivers map) or a subcommand
// (subcommands map) from an init function; see s7.go.
package main
