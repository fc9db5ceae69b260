package plc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The columns of a CSV tag table, which are also the canonical field names
// used in errors. YAML spells the scaling fields as a nested mapping.
var tagFields = []string{
	"name", "device", "address", "type", "access", "group",
	"deadband", "deadband_mode",
	"scale_raw_min", "scale_raw_max", "scale_eng_min", "scale_eng_max",
	"min", "max", "unit", "description", "write_role", "critical",
}

// yamlNames maps canonical field names to their YAML spelling where the
// two differ.
var yamlNames = map[string]string{
	"scale_raw_min": "scaling.raw_min",
	"scale_raw_max": "scaling.raw_max",
	"scale_eng_min": "scaling.eng_min",
	"scale_eng_max": "scaling.eng_max",
}

// rawFields holds an entry's fields as text, keyed by canonical name.
type rawFields map[string]fieldText

type fieldText struct {
	text string
	line int
	name string // as the file spells it
}

// parser turns text fields into typed ones, recording problems.
type parser struct {
	src  *source
	errs *errList
	// decimalComma accepts "0,5" for 0.5, as semicolon-separated CSV
	// exports in many European locales write numbers.
	decimalComma bool
}

func (p *parser) fail(field, format string, args ...any) {
	p.src.bad[field] = true
	p.errs.add(p.src, field, format, args...)
}

func (p *parser) number(f rawFields, field string) (float64, bool) {
	t, ok := f[field]
	if !ok || t.text == "" {
		return 0, false
	}
	s := t.text
	if p.decimalComma && strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.fail(field, "%q is not a finite number", t.text)
		return 0, false
	}
	return v, true
}

func (p *parser) duration(f rawFields, field string, allowOff bool) time.Duration {
	t, ok := f[field]
	if !ok || t.text == "" {
		return 0
	}
	if allowOff {
		d, err := ParseFullRefresh(t.text)
		if err != nil {
			p.fail(field, "%s", err)
		}
		return d
	}
	d, err := parsePositiveDuration(t.text)
	if err != nil {
		p.fail(field, "%s", err)
	}
	return d
}

// ParseFullRefresh parses a scan group's full-refresh setting as files
// spell it: "" for the default (0, meaning DefaultFullRefresh), "off" or
// "never" in any case for NoFullRefresh, otherwise a positive duration
// such as "30s".
func ParseFullRefresh(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if strings.EqualFold(s, "off") || strings.EqualFold(s, "never") {
		return NoFullRefresh, nil
	}
	return parsePositiveDuration(s)
}

func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration like 100ms or 5s", s)
	}
	return d, nil
}

func (p *parser) tag(f rawFields) Tag {
	t := Tag{
		Name:        f["name"].text,
		Device:      f["device"].text,
		Address:     f["address"].text,
		Group:       f["group"].text,
		Unit:        f["unit"].text,
		Description: f["description"].text,
	}
	if s, ok := f["type"]; ok && s.text != "" {
		dt, err := ParseDataType(s.text)
		if err != nil {
			p.src.bad["type"] = true
			p.errs.addErr(p.src, "type", err, "tag %q: unknown type %q", t.Name, s.text)
		}
		t.Type = dt
	}
	switch s := strings.ToLower(f["write_role"].text); s {
	case "", WriteOperator, WriteEngineer:
		t.WriteRole = s
	default:
		p.fail("write_role", "tag %q: write role %q: want operator or engineer", t.Name, f["write_role"].text)
	}
	switch s := strings.ToLower(f["critical"].text); s {
	case "", "false", "no", "0":
	case "true", "yes", "1":
		t.Critical = true
	default:
		p.fail("critical", "tag %q: critical %q: want true or false", t.Name, f["critical"].text)
	}
	if s := f["access"].text; s != "" {
		switch strings.ToLower(s) {
		case "ro", "r", "read", "readonly", "read-only", "read_only":
			t.Access = ReadOnly
		case "rw", "w", "write", "readwrite", "read-write", "read_write":
			t.Access = ReadWrite
		default:
			p.fail("access", "tag %q: access %q: want ro or rw", t.Name, s)
		}
	}

	band, hasBand := p.number(f, "deadband")
	t.Deadband.Value = band
	switch mode := strings.ToLower(f["deadband_mode"].text); mode {
	case "":
		if hasBand {
			t.Deadband.Mode = DeadbandAbsolute
		}
	case "none":
	case "absolute", "abs":
		t.Deadband.Mode = DeadbandAbsolute
	case "percent", "pct", "%":
		t.Deadband.Mode = DeadbandPercent
	default:
		p.fail("deadband_mode", "tag %q: deadband mode %q: want absolute, percent or none", t.Name, f["deadband_mode"].text)
	}

	var sc [4]float64
	var have [4]bool
	n := 0
	for i, k := range tagFields[8:12] {
		if sc[i], have[i] = p.number(f, k); have[i] {
			n++
		}
	}
	switch {
	case n == 4:
		t.Scaling = &Scaling{RawMin: sc[0], RawMax: sc[1], EngMin: sc[2], EngMax: sc[3]}
	case n > 0:
		for i, k := range tagFields[8:12] {
			if !have[i] && !p.src.bad[k] {
				p.fail(k, "tag %q: scaling needs all four of raw_min, raw_max, eng_min, eng_max", t.Name)
				break
			}
		}
	}
	if v, ok := p.number(f, "min"); ok {
		t.Limits.Min = &v
	}
	if v, ok := p.number(f, "max"); ok {
		t.Limits.Max = &v
	}
	return t
}
