package sim

import (
	"fmt"
	"io"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/plc"
)

// Device names of the point database PointDB returns.
const (
	DeviceS7    = "plant-s7"
	DeviceOPCUA = "plant-opcua"
)

// PointDB returns a point database for a gateway reading the plant: the
// device DeviceS7 at s7Endpoint (reconnecting within 2 s), the device DeviceOPCUA at uaEndpoint (no
// security), the tag list's scan groups, and every tag on the device its
// Via names, with its S7 address or its OPC UA node id in namespace
// nsIndex (uasim's default is 2). An empty uaEndpoint moves the OPC UA tags
// to S7. The database is validated.
func (l *TagList) PointDB(s7Endpoint, uaEndpoint string, nsIndex uint16) (*plc.PointDB, error) {
	db := &plc.PointDB{}
	// The plant is local: reconnect within a second or two of a restart.
	db.Devices = append(db.Devices, plc.Device{Name: DeviceS7, Driver: "s7", Endpoint: s7Endpoint,
		Options: map[string]string{"retry.max": "2s", "breaker.open_for": "2s"}})
	if uaEndpoint != "" {
		db.Devices = append(db.Devices, plc.Device{Name: DeviceOPCUA, Driver: "opcua", Endpoint: uaEndpoint,
			Options: map[string]string{"security_policy": "None"}})
	}
	for _, g := range l.Groups {
		sg := plc.ScanGroup{Name: g.Name, Rate: g.Rate}
		sg.FullRefresh, _ = plc.ParseFullRefresh(g.FullRefresh) // checked by ParseTagList
		db.Groups = append(db.Groups, sg)
	}
	for i := range l.Tags {
		t := &l.Tags[i]
		pt := t.plcTag()
		if t.Via == ViaOPCUA && uaEndpoint != "" {
			pt.Device, pt.Address = DeviceOPCUA, "ns="+strconv.Itoa(int(nsIndex))+";s="+t.Name
		} else {
			pt.Device, pt.Address = DeviceS7, t.Address
		}
		db.Tags = append(db.Tags, pt)
	}
	if err := db.Validate(); err != nil {
		return nil, err
	}
	return db, nil
}

// PointDB returns the point database for reading this plant (see
// TagList.PointDB).
func (p *Plant) PointDB() (*plc.PointDB, error) {
	ns := p.cfg.OPCUA.NamespaceIndex
	if ns == 0 {
		ns = 2
	}
	return p.list.PointDB(p.S7Addr(), p.OPCUAEndpoint(), ns)
}

// WritePointDB writes db in the YAML format plc.Load reads, so a gateway
// can be pointed at a running plant with a file.
func WritePointDB(w io.Writer, db *plc.PointDB) error {
	type device struct {
		Name     string            `yaml:"name"`
		Driver   string            `yaml:"driver"`
		Endpoint string            `yaml:"endpoint"`
		Options  map[string]string `yaml:"options,omitempty"`
	}
	type group struct {
		Name        string `yaml:"name"`
		Rate        string `yaml:"rate,omitempty"`
		FullRefresh string `yaml:"full_refresh,omitempty"`
	}
	type tag struct {
		Name        string   `yaml:"name"`
		Device      string   `yaml:"device"`
		Address     string   `yaml:"address"`
		Type        string   `yaml:"type"`
		Access      string   `yaml:"access,omitempty"`
		Group       string   `yaml:"group,omitempty"`
		Deadband    float64  `yaml:"deadband,omitempty"`
		Mode        string   `yaml:"deadband_mode,omitempty"`
		Scaling     *Scaling `yaml:"scaling,omitempty,flow"`
		Min         *float64 `yaml:"min,omitempty"`
		Max         *float64 `yaml:"max,omitempty"`
		Unit        string   `yaml:"unit,omitempty"`
		Description string   `yaml:"description,omitempty"`
	}
	var out struct {
		Devices []device `yaml:"devices"`
		Groups  []group  `yaml:"groups,omitempty"`
		Tags    []tag    `yaml:"tags"`
	}
	for _, d := range db.Devices {
		out.Devices = append(out.Devices, device{d.Name, d.Driver, d.Endpoint, d.Options})
	}
	for _, g := range db.Groups {
		og := group{Name: g.Name}
		if g.Rate != 0 {
			og.Rate = g.Rate.String()
		}
		switch {
		case g.FullRefresh == plc.NoFullRefresh:
			og.FullRefresh = "off"
		case g.FullRefresh != 0:
			og.FullRefresh = g.FullRefresh.String()
		}
		out.Groups = append(out.Groups, og)
	}
	for _, t := range db.Tags {
		ot := tag{Name: t.Name, Device: t.Device, Address: t.Address, Type: t.Type.String(), Group: t.Group,
			Min: t.Limits.Min, Max: t.Limits.Max, Unit: t.Unit, Description: t.Description}
		if t.Access == plc.ReadWrite {
			ot.Access = "rw"
		}
		switch t.Deadband.Mode {
		case plc.DeadbandAbsolute:
			ot.Deadband = t.Deadband.Value
		case plc.DeadbandPercent:
			ot.Deadband, ot.Mode = t.Deadband.Value, "percent"
		}
		if s := t.Scaling; s != nil {
			ot.Scaling = &Scaling{RawMin: s.RawMin, RawMax: s.RawMax, EngMin: s.EngMin, EngMax: s.EngMax}
		}
		out.Tags = append(out.Tags, ot)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("sim: write point database: %w", err)
	}
	return enc.Close()
}
