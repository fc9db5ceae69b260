package plc

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-iot/kiln/config"
)

// Scan group defaults and bounds.
const (
	// MinRate is the fastest scan rate a group may have.
	MinRate = 10 * time.Millisecond
	// DefaultRate is the rate of a group that declares none.
	DefaultRate = time.Second
	// DefaultFullRefresh is the full-refresh interval of a group that
	// declares none.
	DefaultFullRefresh = time.Minute
	// NoFullRefresh as a group's FullRefresh turns full refreshes off:
	// only changes are reported. Files spell it "off".
	NoFullRefresh time.Duration = -1
	// DefaultGroup is the group of a tag that names none. It need not be
	// declared; undeclared, it has the default rate and refresh.
	DefaultGroup = "default"
)

// ScanGroup is a set of tags polled together at one rate. Its zero
// durations mean the defaults.
type ScanGroup struct {
	// Name is unique within a point database.
	Name string
	// Rate is the scan period: 0 means DefaultRate (1 s); at least MinRate
	// (10 ms).
	Rate time.Duration
	// FullRefresh is how often every tag of the group is reported whether
	// it changed or not: 0 means DefaultFullRefresh (1 min), NoFullRefresh
	// means never; otherwise at least Rate.
	FullRefresh time.Duration
}

// ScanRate returns the group's rate with the default applied.
func (g ScanGroup) ScanRate() time.Duration {
	if g.Rate == 0 {
		return DefaultRate
	}
	return g.Rate
}

// RefreshInterval returns the full-refresh interval with the default
// applied; 0 means never.
func (g ScanGroup) RefreshInterval() time.Duration {
	switch {
	case g.FullRefresh == 0:
		return DefaultFullRefresh
	case g.FullRefresh < 0:
		return 0
	}
	return g.FullRefresh
}

// PointDB is a point database: the devices, scan groups and tags of a
// plant. Load fills one from files; code may also build one and call
// Validate.
type PointDB struct {
	Devices []Device
	Groups  []ScanGroup
	Tags    []Tag

	// Where each entry came from, parallel to the slices above; shorter
	// when entries were added by code.
	deviceSrc []source
	groupSrc  []source
	tagSrc    []source

	// Built by Validate.
	tagIndex    map[string]int
	deviceIndex map[string]int
	groupIndex  map[string]int
}

// source is where one entry of a point database was defined.
type source struct {
	file string
	line int
	// fields maps a field's canonical name (the CSV column name) to where
	// it was written and how the file spells it.
	fields map[string]fieldRef
	// bad holds the fields already reported while parsing, so Validate
	// does not report them twice.
	bad map[string]bool
	// yaml says the entry came from a YAML file, which spells some fields
	// differently (scaling.raw_min for scale_raw_min).
	yaml bool
}

type fieldRef struct {
	line int
	name string
}

// at returns the line and the file's name for a field, falling back to the
// entry's line and the canonical name when the field was not written.
func (s *source) at(field string) (int, string) {
	if r, ok := s.fields[field]; ok {
		return r.line, r.name
	}
	if parent, _, ok := strings.Cut(field, "."); ok {
		if r, ok := s.fields[parent]; ok {
			return r.line, field // an option, at its section's line
		}
	}
	if field == "scaling" && !s.yaml {
		return s.at("scale_raw_min")
	}
	if n, ok := yamlNames[field]; ok && s.yaml {
		if r, ok := s.fields["scaling"]; ok {
			return r.line, n
		}
		return s.line, n
	}
	return s.line, field
}

// errList collects the problems of a point database.
type errList []*config.FieldError

func (l *errList) add(src *source, field, format string, args ...any) {
	l.addErr(src, field, nil, format, args...)
}

func (l *errList) addErr(src *source, field string, err error, format string, args ...any) {
	ce := &config.FieldError{Msg: fmt.Sprintf(format, args...), Err: err, Path: field}
	if src != nil {
		ce.File = src.file
		ce.Line, ce.Path = src.at(field)
	}
	*l = append(*l, ce)
}

// join sorts the errors by file (in the order of files, then of first
// appearance) and line, and joins them; nil when empty.
func (l errList) join(files ...string) error {
	if len(l) == 0 {
		return nil
	}
	rank := map[string]int{}
	for _, f := range files {
		if _, ok := rank[f]; !ok {
			rank[f] = len(rank)
		}
	}
	for _, e := range l {
		if _, ok := rank[e.File]; !ok {
			rank[e.File] = len(rank)
		}
	}
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].File != l[j].File {
			return rank[l[i].File] < rank[l[j].File]
		}
		return l[i].Line < l[j].Line
	})
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Load reads a point database from files and validates it. A file ending
// in .yaml or .yml holds devices, groups and tags (see AddYAML); a file
// ending in .csv holds one table of tags, devices or groups (see AddCSV).
// Typically a plant has one YAML file for its devices and groups and a
// CSV tag list exported from a spreadsheet:
//
//	db, err := plc.Load("plant.yaml", "tags.csv")
//
// Every problem of every file is reported, each a *config.FieldError (Path: the field or column as the file spells it), joined; config.List lists them.
func Load(paths ...string) (*PointDB, error) {
	db := &PointDB{}
	var errs errList
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, &config.FieldError{File: p, Msg: "cannot read file", Err: err})
			continue
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml":
			err = db.AddYAML(p, data)
		case ".csv":
			err = db.AddCSV(p, data)
		default:
			err = &config.FieldError{File: p, Msg: "unknown file kind: want .yaml, .yml or .csv"}
		}
		errs = append(errs, config.List(err)...)
	}
	errs = append(errs, config.List(db.Validate())...)
	return db, errs.join(paths...)
}

// Tag returns the tag with the given name. It uses the index that Validate
// builds, and searches the list when Validate has not run.
func (db *PointDB) Tag(name string) (*Tag, bool) {
	if db.tagIndex != nil {
		i, ok := db.tagIndex[name]
		if ok && i < len(db.Tags) && db.Tags[i].Name == name {
			return &db.Tags[i], true
		}
	}
	for i := range db.Tags {
		if db.Tags[i].Name == name {
			return &db.Tags[i], true
		}
	}
	return nil, false
}

// Device returns the device with the given name.
func (db *PointDB) Device(name string) (*Device, bool) {
	for i := range db.Devices {
		if db.Devices[i].Name == name {
			return &db.Devices[i], true
		}
	}
	return nil, false
}

// Group returns the scan group with the given name. The empty name and
// DefaultGroup give the declared default group or, when none is declared,
// one with the default settings.
func (db *PointDB) Group(name string) (ScanGroup, bool) {
	if name == "" {
		name = DefaultGroup
	}
	for _, g := range db.Groups {
		if g.Name == name {
			return g, true
		}
	}
	if name == DefaultGroup {
		return ScanGroup{Name: DefaultGroup}, true
	}
	return ScanGroup{}, false
}

func srcAt(list []source, i int) *source {
	if i < len(list) {
		return &list[i]
	}
	return &source{}
}

// Validate checks the database as a whole and reports every problem, each
// a *config.FieldError naming file, line and field, joined: duplicate names,
// tags of unknown devices or scan groups, devices of unregistered drivers,
// addresses the device's driver rejects (Registration.CheckAddress), bad
// types, min > max, deadbands on BOOL or STRING tags, percent deadbands
// without a range, empty scaling ranges, scan rates below MinRate.
func (db *PointDB) Validate() error {
	var errs errList

	db.deviceIndex = make(map[string]int, len(db.Devices))
	drivers := make(map[string]*Registration, len(db.Devices))
	for i := range db.Devices {
		d, src := &db.Devices[i], srcAt(db.deviceSrc, i)
		switch first, dup := db.deviceIndex[d.Name]; {
		case d.Name == "":
			errs.add(src, "name", "device has no name")
		case dup:
			errs.add(src, "name", "duplicate device name %q (first at %s)", d.Name, srcAt(db.deviceSrc, first).pos())
		default:
			db.deviceIndex[d.Name] = i
		}
		switch r, ok := Lookup(d.Driver); {
		case src.bad["driver"]:
		case d.Driver == "":
			errs.add(src, "driver", "device %q names no driver (registered: %v)", d.Name, Drivers())
		case !ok:
			errs.addErr(src, "driver", ErrUnknownDriver, "device %q: unknown driver %q (registered: %v)", d.Name, d.Driver, Drivers())
		default:
			drivers[d.Name] = &r
			if r.CheckDevice != nil {
				for _, fe := range config.List(r.CheckDevice(*d)) {
					errs.addErr(src, fe.Path, fe.Err, "%s", fe.Msg)
				}
			}
		}
	}

	db.groupIndex = make(map[string]int, len(db.Groups))
	for i, g := range db.Groups {
		src := srcAt(db.groupSrc, i)
		switch first, dup := db.groupIndex[g.Name]; {
		case g.Name == "":
			errs.add(src, "name", "scan group has no name")
		case dup:
			errs.add(src, "name", "duplicate scan group %q (first at %s)", g.Name, srcAt(db.groupSrc, first).pos())
		default:
			db.groupIndex[g.Name] = i
		}
		if !src.bad["rate"] && g.Rate != 0 && g.Rate < MinRate {
			errs.add(src, "rate", "group %q: rate %v is below the minimum %v", g.Name, g.Rate, MinRate)
		}
		if !src.bad["full_refresh"] && g.FullRefresh != NoFullRefresh && g.FullRefresh != 0 && g.FullRefresh < g.ScanRate() {
			errs.add(src, "full_refresh", "group %q: full refresh %v is shorter than the rate %v", g.Name, g.FullRefresh, g.ScanRate())
		}
	}

	db.tagIndex = make(map[string]int, len(db.Tags))
	for i := range db.Tags {
		db.validateTag(i, drivers, &errs)
	}
	return errs.join()
}

func (s *source) pos() string {
	if s.file == "" {
		return "an entry made by code"
	}
	return s.file + ":" + strconv.Itoa(s.line)
}

func (db *PointDB) validateTag(i int, drivers map[string]*Registration, errs *errList) {
	t, src := &db.Tags[i], srcAt(db.tagSrc, i)
	name := t.Name
	switch first, dup := db.tagIndex[name]; {
	case name == "":
		errs.add(src, "name", "tag has no name")
		name = "#" + strconv.Itoa(i+1)
	case strings.TrimSpace(name) != name || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		errs.add(src, "name", "tag name %q has surrounding spaces or control characters", name)
	case dup:
		errs.add(src, "name", "duplicate tag name %q (first at %s)", name, srcAt(db.tagSrc, first).pos())
	default:
		db.tagIndex[name] = i
	}

	var reg *Registration
	_, knownDevice := db.deviceIndex[t.Device]
	switch {
	case t.Device == "":
		errs.add(src, "device", "tag %q names no device", name)
	case !knownDevice:
		errs.add(src, "device", "tag %q: unknown device %q", name, t.Device)
	default:
		reg = drivers[t.Device]
	}

	typeOK := t.Type.Valid()
	if !typeOK && !src.bad["type"] {
		errs.add(src, "type", "tag %q: invalid type %v", name, t.Type)
	}
	switch {
	case src.bad["address"]:
	case t.Address == "":
		errs.add(src, "address", "tag %q has no address", name)
	case reg != nil && typeOK:
		if err := reg.CheckAddress(t.Address, t.Type); err != nil {
			errs.addErr(src, "address", err, "tag %q: %s driver rejects address %q: %v", name, reg.Name, t.Address, err)
		}
	}

	if t.Group != "" && t.Group != DefaultGroup && !src.bad["group"] {
		if _, ok := db.groupIndex[t.Group]; !ok {
			errs.add(src, "group", "tag %q: unknown scan group %q", name, t.Group)
		}
	}
	if r := t.WriteRole; r != "" && r != WriteOperator && r != WriteEngineer && !src.bad["write_role"] {
		errs.add(src, "write_role", "tag %q: write role %q: want operator or engineer", name, r)
	}
	if t.Access != ReadOnly && t.Access != ReadWrite {
		errs.add(src, "access", "tag %q: invalid access %d", name, t.Access)
	}

	numeric := t.Type.Kind.IsNumeric()
	if s := t.Scaling; s != nil && !src.bad["scaling"] {
		switch {
		case typeOK && !numeric:
			errs.add(src, "scaling", "tag %q: scaling on a %v tag", name, t.Type)
		case !finite(s.RawMin, s.RawMax, s.EngMin, s.EngMax):
			errs.add(src, "scaling", "tag %q: scaling bounds must be finite numbers", name)
		case s.RawMin == s.RawMax:
			errs.add(src, "scale_raw_max", "tag %q: scaling raw range is empty (raw_min = raw_max = %g)", name, s.RawMin)
		case s.EngMin == s.EngMax:
			errs.add(src, "scale_eng_max", "tag %q: scaling engineering range is empty (eng_min = eng_max = %g)", name, s.EngMin)
		}
	}

	lo, hi := t.Limits.Min, t.Limits.Max
	if (lo != nil || hi != nil) && typeOK && !numeric {
		errs.add(src, "min", "tag %q: limits on a %v tag", name, t.Type)
	} else if lo != nil && hi != nil && *lo > *hi {
		errs.add(src, "min", "tag %q: min %g > max %g", name, *lo, *hi)
	}

	d := t.Deadband
	switch {
	case src.bad["deadband"] || src.bad["deadband_mode"]:
	case d.Mode == DeadbandNone && d.Value != 0:
		errs.add(src, "deadband_mode", "tag %q: deadband %g without a mode", name, d.Value)
	case d.Mode == DeadbandNone:
	case d.Mode > DeadbandPercent:
		errs.add(src, "deadband_mode", "tag %q: invalid deadband mode %d", name, d.Mode)
	case typeOK && !numeric:
		errs.add(src, "deadband", "tag %q: deadband on a %v tag (every change of it is reported)", name, t.Type)
	case math.IsNaN(d.Value) || math.IsInf(d.Value, 0) || d.Value < 0:
		errs.add(src, "deadband", "tag %q: deadband must be a finite number >= 0", name)
	case d.Mode == DeadbandPercent && d.Value > 100:
		errs.add(src, "deadband", "tag %q: percent deadband %g is over 100", name, d.Value)
	case d.Mode == DeadbandPercent && t.EngRange() == 0:
		errs.add(src, "deadband", "tag %q: a percent deadband needs a range: scaling or both min and max", name)
	}
}

func finite(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// EngRange returns the width of the tag's engineering range, on which a
// percent deadband is measured: |EngMax-EngMin| of its scaling, else
// max-min of its limits, else 0 (no range).
func (t *Tag) EngRange() float64 {
	if s := t.Scaling; s != nil {
		return math.Abs(s.EngMax - s.EngMin)
	}
	if t.Limits.Min != nil && t.Limits.Max != nil {
		return *t.Limits.Max - *t.Limits.Min
	}
	return 0
}

// Band returns the deadband in engineering units: the absolute value, or
// the percentage of EngRange; 0 when the tag reports every change.
func (t *Tag) Band() float64 {
	switch t.Deadband.Mode {
	case DeadbandAbsolute:
		return t.Deadband.Value
	case DeadbandPercent:
		return t.Deadband.Value / 100 * t.EngRange()
	}
	return 0
}
