package sim

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/s7"
)

//go:embed kiln-line.yaml
var kilnLine []byte

// KilnLineFile is the name the demo tag list is reported under in errors.
const KilnLineFile = "kiln-line.yaml"

// KilnLine returns the demo tag list: a small kiln line with zone
// temperatures, pressures, motor speeds, setpoints, alarm bits and a recipe
// string. Its text is KilnLineYAML.
func KilnLine() *TagList {
	l, err := ParseTagList(KilnLineFile, kilnLine)
	if err != nil {
		panic("sim: the embedded demo tag list is invalid: " + err.Error())
	}
	return l
}

// KilnLineYAML returns the text of the demo tag list, for users to copy and
// edit.
func KilnLineYAML() []byte { return bytes.Clone(kilnLine) }

// Via says which protocol a gateway reads a tag through. The plant serves
// every tag over both; Via only shapes the point database of PointDB.
type Via string

// The protocols.
const (
	ViaS7    Via = "s7"
	ViaOPCUA Via = "opcua"
)

// Tag is one tag of the simulated plant: where it lives in the S7 memory
// (which the OPC UA server serves too), what a gateway should know about it,
// and what drives it.
type Tag struct {
	// Name is the tag's name, also its OPC UA node id's string part.
	Name string `yaml:"name"`
	// Address is the S7 address of the tag's memory ("DB1.DBD0").
	Address string `yaml:"address"`
	// Type is the raw type in the PLC.
	Type plc.DataType `yaml:"type"`
	// Access is "ro" (default) or "rw".
	Access string `yaml:"access"`
	// Via is how PointDB's gateway reads the tag: "s7" (default) or
	// "opcua".
	Via Via `yaml:"via"`
	// Group is the scan group for PointDB (default: plc.DefaultGroup).
	Group string `yaml:"group"`
	// Deadband is an absolute deadband in engineering units for PointDB.
	Deadband float64 `yaml:"deadband"`
	// Scaling maps raw values onto engineering units; signals are given in
	// engineering units.
	Scaling *Scaling `yaml:"scaling"`
	// Min and Max are the write limits in engineering units.
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// Unit and Description document the tag.
	Unit        string `yaml:"unit"`
	Description string `yaml:"description"`
	// Initial is the value the tag starts with, as text in engineering
	// units ("850", "true", "BRICK-RED-07"); default zero.
	Initial string `yaml:"initial"`
	// Signal drives the tag; without one the tag holds what is written.
	Signal *Signal `yaml:"signal"`

	addr    s7.Address
	initial plc.Value
	line    int
}

// Scaling is plc.Scaling with yaml names.
type Scaling struct {
	RawMin float64 `yaml:"raw_min"`
	RawMax float64 `yaml:"raw_max"`
	EngMin float64 `yaml:"eng_min"`
	EngMax float64 `yaml:"eng_max"`
}

// Group is a scan group for PointDB.
type Group struct {
	Name string `yaml:"name"`
	// Rate is the scan period ("100ms").
	Rate time.Duration `yaml:"rate"`
	// FullRefresh is how often every tag is reported ("1m"; "off" never).
	FullRefresh string `yaml:"full_refresh"`
}

// TagList is the plant's tag list.
type TagList struct {
	Groups []Group `yaml:"groups"`
	Tags   []Tag   `yaml:"tags"`
}

// LoadTagList reads a tag list file (see ParseTagList).
func LoadTagList(path string) (*TagList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return ParseTagList(path, data)
}

// ParseTagList parses a tag list in YAML and checks it. file names the
// source in errors: every problem of the file (syntax, unknown fields,
// values of the wrong kind, bad tags) is reported at once, each a
// *config.FieldError naming file, line and YAML path, joined (list them
// with config.List). The format (see
// kiln-line.yaml):
//
//	groups:
//	  - {name: fast, rate: 100ms}
//	tags:
//	  - name: Kiln1.Zone1.Temp
//	    address: DB1.DBD0        # S7 address of its memory
//	    type: REAL
//	    access: ro               # or rw
//	    via: s7                  # or opcua: how PointDB reads it
//	    group: fast
//	    deadband: 0.5
//	    unit: °C
//	    signal: {kind: sine, offset: 850, amplitude: 15, period: 2m, noise: 0.3}
//	  - name: Kiln1.Recipe
//	    address: DB2.DBB100[32]
//	    type: STRING[32]
//	    access: rw
//	    initial: BRICK-RED-07
//
// Tags without a signal hold what is written to them.
func ParseTagList(file string, data []byte) (*TagList, error) {
	var l TagList
	doc, decodeErr := config.DecodeYAML(file, data, &l)
	var problems config.Problems
	bad := func(path, format string, args ...any) { problems.Add(path, format, args...) }
	groups := map[string]bool{plc.DefaultGroup: true}
	for i, g := range l.Groups {
		p := fmt.Sprintf("groups[%d]", i)
		if g.Name == "" {
			bad(p+".name", "is required")
		}
		if groups[g.Name] && g.Name != plc.DefaultGroup {
			bad(p+".name", "group %q declared twice", g.Name)
		}
		groups[g.Name] = true
		if g.Rate != 0 && g.Rate < plc.MinRate {
			bad(p+".rate", "%v is below %v", g.Rate, plc.MinRate)
		}
		if _, err := plc.ParseFullRefresh(g.FullRefresh); err != nil {
			bad(p+".full_refresh", "%q is not a positive duration or off", g.FullRefresh)
		}
	}
	names := map[string]bool{}
	for i := range l.Tags {
		t := &l.Tags[i]
		p := fmt.Sprintf("tags[%d]", i)
		t.line = doc.Line(p)
		if t.Name == "" {
			bad(p+".name", "is required")
		} else if names[t.Name] {
			bad(p+".name", "tag %q declared twice", t.Name)
		}
		names[t.Name] = true
		if !t.Type.Valid() {
			bad(p+".type", "is required")
			continue
		}
		a, err := s7.ParseAddress(t.Address, t.Type)
		if err != nil {
			bad(p+".address", "tag %q: %v", t.Name, err)
			continue
		}
		t.addr = a
		switch t.Access {
		case "", "ro", "rw":
		default:
			bad(p+".access", "want ro or rw, not %q", t.Access)
		}
		switch t.Via {
		case "":
			t.Via = ViaS7
		case ViaS7, ViaOPCUA:
		default:
			bad(p+".via", "want s7 or opcua, not %q", t.Via)
		}
		if !groups[t.Group] && t.Group != "" {
			bad(p+".group", "tag %q: unknown group %q", t.Name, t.Group)
		}
		if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
			bad(p+".min", "tag %q: min %v above max %v", t.Name, *t.Min, *t.Max)
		}
		if t.Scaling != nil && (t.Scaling.RawMin == t.Scaling.RawMax || t.Scaling.EngMin == t.Scaling.EngMax) {
			bad(p+".scaling", "tag %q: empty range", t.Name)
		}
		pt := t.plcTag()
		if t.Initial != "" {
			v, err := plc.ParseValue(t.Initial, pt.EngType())
			if err == nil {
				v, err = pt.ToRaw(v)
			}
			if err != nil {
				bad(p+".initial", "tag %q: %v", t.Name, err)
			}
			t.initial = v
		}
		if t.Signal != nil {
			if err := t.Signal.check(t.Type); err != nil {
				bad(p+".signal"+err.field, "tag %q: %s", t.Name, err.msg)
			}
		}
	}
	if err := errors.Join(decodeErr, doc.Locate(problems.Err())); err != nil {
		return nil, err
	}
	return &l, nil
}

// plcTag returns the tag as the point database knows it, without device
// and address.
func (t *Tag) plcTag() plc.Tag {
	pt := plc.Tag{
		Name:        t.Name,
		Type:        t.Type,
		Group:       t.Group,
		Unit:        t.Unit,
		Description: t.Description,
		Limits:      plc.Limits{Min: t.Min, Max: t.Max},
	}
	if t.Access == "rw" {
		pt.Access = plc.ReadWrite
	}
	if t.Deadband > 0 {
		pt.Deadband = plc.Deadband{Mode: plc.DeadbandAbsolute, Value: t.Deadband}
	}
	if t.Scaling != nil {
		pt.Scaling = &plc.Scaling{RawMin: t.Scaling.RawMin, RawMax: t.Scaling.RawMax, EngMin: t.Scaling.EngMin, EngMax: t.Scaling.EngMax}
	}
	return pt
}
