package plc

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrCSVOneTable is returned by WriteCSV for a database that holds more
// than tags: a CSV file holds one table, so devices and groups need YAML.
var ErrCSVOneTable = errors.New("plc: a CSV point database holds only tags; write devices and groups as YAML")

// WriteYAML writes db in the format AddYAML reads: its devices, groups and
// tags, each field only when it is set, so the file reads back as the same
// database. Tags carry their type in the spelling ParseDataType reads.
func (db *PointDB) WriteYAML(w io.Writer) error {
	var doc struct {
		Devices []yamlDevice `yaml:"devices,omitempty"`
		Groups  []yamlGroup  `yaml:"groups,omitempty"`
		Tags    []yamlTag    `yaml:"tags,omitempty"`
	}
	for _, d := range db.Devices {
		doc.Devices = append(doc.Devices, yamlDevice(d))
	}
	for _, g := range db.Groups {
		doc.Groups = append(doc.Groups, yamlGroup{Name: g.Name, Rate: durText(g.Rate), FullRefresh: refreshText(g.FullRefresh)})
	}
	for i := range db.Tags {
		t, err := newYAMLTag(&db.Tags[i])
		if err != nil {
			return err
		}
		doc.Tags = append(doc.Tags, t)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("plc: write YAML: %w", err)
	}
	return enc.Close()
}

// WriteCSV writes db's tags as a CSV tag table in the format AddCSV reads,
// with every column of the format in its documented order. A database with
// devices or groups gets ErrCSVOneTable.
func (db *PointDB) WriteCSV(w io.Writer) error {
	if len(db.Devices) > 0 || len(db.Groups) > 0 {
		return ErrCSVOneTable
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(tagFields)
	for i := range db.Tags {
		row, err := csvRow(&db.Tags[i])
		if err != nil {
			return err
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("plc: write CSV: %w", err)
	}
	return nil
}

// WriteFile writes db to path as YAML (.yaml, .yml) or CSV (.csv), by the
// name's extension, the way Load reads it back.
func (db *PointDB) WriteFile(path string) error {
	var write func(io.Writer) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		write = db.WriteYAML
	case ".csv":
		write = db.WriteCSV
	default:
		return fmt.Errorf("plc: write %s: unknown file kind: want .yaml, .yml or .csv", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plc: write point database: %w", err)
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plc: write point database: %w", err)
	}
	return nil
}

type yamlDevice struct {
	Name     string            `yaml:"name"`
	Driver   string            `yaml:"driver"`
	Endpoint string            `yaml:"endpoint,omitempty"`
	Options  map[string]string `yaml:"options,omitempty"`
}

type yamlGroup struct {
	Name        string `yaml:"name"`
	Rate        string `yaml:"rate,omitempty"`
	FullRefresh string `yaml:"full_refresh,omitempty"`
}

type yamlScaling struct {
	RawMin float64 `yaml:"raw_min"`
	RawMax float64 `yaml:"raw_max"`
	EngMin float64 `yaml:"eng_min"`
	EngMax float64 `yaml:"eng_max"`
}

type yamlTag struct {
	Name         string       `yaml:"name"`
	Device       string       `yaml:"device"`
	Address      string       `yaml:"address"`
	Type         string       `yaml:"type"`
	Access       string       `yaml:"access,omitempty"`
	Group        string       `yaml:"group,omitempty"`
	Deadband     *float64     `yaml:"deadband,omitempty"`
	DeadbandMode string       `yaml:"deadband_mode,omitempty"`
	Scaling      *yamlScaling `yaml:"scaling,omitempty"`
	Min          *float64     `yaml:"min,omitempty"`
	Max          *float64     `yaml:"max,omitempty"`
	Unit         string       `yaml:"unit,omitempty"`
	Description  string       `yaml:"description,omitempty"`
}

func newYAMLTag(t *Tag) (yamlTag, error) {
	typ, err := t.Type.MarshalText()
	if err != nil {
		return yamlTag{}, fmt.Errorf("plc: tag %q: %w", t.Name, err)
	}
	y := yamlTag{
		Name: t.Name, Device: t.Device, Address: t.Address, Type: string(typ),
		Group: t.Group, Min: t.Limits.Min, Max: t.Limits.Max, Unit: t.Unit, Description: t.Description,
	}
	if t.Access == ReadWrite {
		y.Access = "rw"
	}
	if t.Deadband.Mode != DeadbandNone {
		v := t.Deadband.Value
		y.Deadband, y.DeadbandMode = &v, deadbandModeText(t.Deadband.Mode)
	}
	if s := t.Scaling; s != nil {
		y.Scaling = &yamlScaling{RawMin: s.RawMin, RawMax: s.RawMax, EngMin: s.EngMin, EngMax: s.EngMax}
	}
	return y, nil
}

func csvRow(t *Tag) ([]string, error) {
	y, err := newYAMLTag(t)
	if err != nil {
		return nil, err
	}
	num := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'g', -1, 64)
	}
	row := []string{y.Name, y.Device, y.Address, y.Type, t.Access.String(), y.Group,
		num(y.Deadband), y.DeadbandMode, "", "", "", "", num(y.Min), num(y.Max), y.Unit, y.Description}
	if s := y.Scaling; s != nil {
		for i, v := range []float64{s.RawMin, s.RawMax, s.EngMin, s.EngMax} {
			row[8+i] = num(&v)
		}
	}
	return row, nil
}

func deadbandModeText(m DeadbandMode) string {
	if m == DeadbandPercent {
		return "percent"
	}
	return "absolute"
}

func durText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func refreshText(d time.Duration) string {
	if d == NoFullRefresh {
		return "off"
	}
	return durText(d)
}
