// Package host is a Sparkplug B 3.0 host application: the cloud side of
// kiln's MQTT path. It publishes its STATE (retained, QoS 1, with an
// offline will of the same timestamp), subscribes to the groups it serves,
// each mapped to the tenant that owns it, and follows every edge node:
// births (names, aliases, types), deaths (the node's or device's metrics
// become Bad at the time of death), and seq, asking for a rebirth on a gap
// or on data before a birth. Each message becomes a Delivery of kiln
// samples for the Handler, which stores them; a failing Handler is
// retried, holding later messages back.
//
//	h, err := host.New(host.Config{Servers: []string{"tcp://broker:1883"}, HostID: "kiln",
//		Groups: map[string]string{"acme": "acme"}}, func(ctx context.Context, d host.Delivery) error {
//		return st.Write(ctx, d.Tenant, d.Samples)
//	})
//	go h.Serve(ctx)
//	err = h.Write(ctx, "acme", "gw1", "Line1.Setpoint", plc.FloatValue(plc.LReal, 850))
//
// Groups keep tenants apart a second time, after the broker's ACL: a
// message of a group the host does not map is dropped and counted.
package host
