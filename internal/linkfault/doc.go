// Package linkfault is a TCP proxy for tests of clients on bad links (a
// 4G modem, a VPN): it forwards to a real server and can drop every
// connection at once, refuse new ones for a while and add latency to each
// direction, so a test drives a client through the faults a cellular
// link has without touching the server.
//
//	p := linkfault.Start(t, broker.Addr())
//	client connects to p.Addr()
//	p.Drop()          // every connection reset, as when the modem loses its cell
//	p.SetDown(true)   // new connections refused until SetDown(false)
//	p.SetLatency(300 * time.Millisecond)
package linkfault
