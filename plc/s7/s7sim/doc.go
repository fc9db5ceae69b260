// Package s7sim is a simulated Siemens S7 PLC: a real S7comm server on a
// TCP socket (RFC 1006 TPKT, ISO 8073 COTP, S7), for tests, benchmarks,
// demos and users' own tests. Any S7 client (kiln's plc/s7 driver, gos7,
// snap7) can connect to it.
//
// It answers connection requests (checking the remote TSAP against its
// rack and slot, and the client's TSAP against Config.LocalTSAP when set), setup communication (agreeing to the client's PDU size
// up to Config.MaxPDU), and Read Var and Write Var jobs with several items
// (up to Config.MaxItems), on data blocks of any numbers and sizes and the
// M, I and Q areas, with the item return codes of a real CPU for a missing
// DB (0x0A), an address out of range (0x05) and an unsupported transport
// size (0x06). It checks that every request and every answer fits the
// negotiated PDU and counts those that do not (Violations), so tests can
// assert that a client plans its requests well.
//
// Like a real CPU it grants in the setup communication how many jobs a
// client may keep outstanding (Config.MaxJobs, default 1; a client that
// sends more loses the connection) and answers each job SetLatency after
// it came, the jobs in flight waiting out their latency together (2 ms
// and 3 jobs are typical of an S7-1500). SetReorder answers jobs in
// flight together last one first; LoseAnswers does jobs without ever
// answering them; MostJobsInFlight says how many a client kept in flight.
//
// Memory is readable and writable from Go, by address or by area, DB and
// offset, and WithOnWrite reports clients' writes, so a plant simulation
// can drive signals and mirror writes. Faults can be injected: latency,
// dropping a connection after N requests, refusing connections, an error
// code for chosen items, refusing whole jobs as a CPU with PUT/GET
// disabled does (SetJobError), and stopping and restarting on the same port.
// Of the user-data functions it answers the system status list reads
// gos7's GetCPUInfo, GetCPInfo and PLCGetStatus make (SZL 0x001C, 0x0131,
// 0x0424), unfragmented; others (clock, blocks, security) close the
// connection.
//
//	srv, err := s7sim.New(s7sim.Config{DBs: map[int]int{1: 1024}})
//	if err != nil { … }
//	defer srv.Close()
//	_ = srv.Set("DB1.DBD0:REAL", plc.FloatValue(plc.Real, 21.5))
//	drv, err := s7.New(s7.Config{Endpoint: srv.Addr()})
package s7sim
