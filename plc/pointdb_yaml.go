package plc

import (
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/internal/yamlconf"
)

// AddYAML parses a YAML point database and appends its devices, groups and
// tags to db. file names the source in errors. It reports every problem of
// the file it can find without the rest of the database (syntax, unknown
// fields, bad numbers, unknown types), each a *config.FieldError, joined; call
// Validate afterwards (Load does both). The format:
//
//	devices:
//	  - name: kiln1            # unique
//	    driver: s7             # a registered driver
//	    endpoint: 10.0.0.5:102
//	    options: {rack: 0, slot: 1}
//	groups:
//	  - name: fast
//	    rate: 100ms            # >= 10ms; default 1s
//	    full_refresh: 1m       # default 1m; "off" for never
//	tags:
//	  - name: Kiln1.Zone1.Temp
//	    device: kiln1
//	    address: DB1.DBW4      # in the driver's syntax
//	    type: INT
//	    access: ro             # ro (default) or rw
//	    group: fast            # default: the group "default"
//	    deadband: 0.5
//	    deadband_mode: absolute   # absolute (default with a deadband), percent, none
//	    scaling: {raw_min: 0, raw_max: 27648, eng_min: 0, eng_max: 1200}
//	    min: 0                 # write limits, engineering units
//	    max: 1200
//	    unit: °C
//	    description: Zone 1 temperature
//	    write_role: operator   # lowest role that may write: operator, engineer (default)
//	    critical: true         # consoles ask twice before writing
//
// Every section is optional, so devices and groups may live in one file
// and tags in others.
func (db *PointDB) AddYAML(file string, data []byte) error {
	var errs errList
	top := &source{file: file, line: 1, bad: map[string]bool{}, yaml: true}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		errs = append(errs, &config.FieldError{File: file, Line: line, Msg: msg, Err: err})
		return errs.join()
	}
	if len(doc.Content) == 0 {
		return nil // an empty file
	}
	root := yamlconf.Resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		errs.add(ysrc(file, root.Line), "", "want a mapping with devices, groups and tags")
		return errs.join()
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], yamlconf.Resolve(root.Content[i+1])
		top.line = k.Line
		switch k.Value {
		case "devices":
			forEachItem(file, k.Value, v, &errs, func(item *yaml.Node) {
				f, src := yamlFields(file, item, "device", &errs)
				opts := src.fields["options"]
				delete(f, "options")
				dev := Device{Name: f["name"].text, Driver: f["driver"].text, Endpoint: f["endpoint"].text}
				unknownFields(f, src, &errs, "name", "driver", "endpoint")
				if opts.line > 0 {
					dev.Options = yamlOptions(item, src, &errs)
				}
				db.Devices = append(db.Devices, dev)
				db.deviceSrc = append(db.deviceSrc, *src)
			})
		case "groups":
			forEachItem(file, k.Value, v, &errs, func(item *yaml.Node) {
				f, src := yamlFields(file, item, "group", &errs)
				unknownFields(f, src, &errs, "name", "rate", "full_refresh")
				p := parser{src: src, errs: &errs}
				g := ScanGroup{Name: f["name"].text, Rate: p.duration(f, "rate", false), FullRefresh: p.duration(f, "full_refresh", true)}
				db.Groups = append(db.Groups, g)
				db.groupSrc = append(db.groupSrc, *src)
			})
		case "tags":
			forEachItem(file, k.Value, v, &errs, func(item *yaml.Node) {
				f, src := yamlFields(file, item, "tag", &errs)
				unknownFields(f, src, &errs, tagFields...)
				p := parser{src: src, errs: &errs}
				db.Tags = append(db.Tags, p.tag(f))
				db.tagSrc = append(db.tagSrc, *src)
			})
		default:
			errs.add(top, k.Value, "unknown section: want devices, groups or tags")
		}
	}
	return errs.join()
}

// yamlErrorLine pulls the line out of a yaml.v3 error ("yaml: line 3: ...").
func yamlErrorLine(err error) (int, string) {
	line, msg := yamlconf.Split(err)
	return line, "YAML syntax: " + msg
}

// forEachItem calls fn for each mapping in the sequence v.
func forEachItem(file, section string, v *yaml.Node, errs *errList, fn func(*yaml.Node)) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return // "tags:" with nothing under it
	}
	if v.Kind != yaml.SequenceNode {
		errs.add(ysrc(file, v.Line), section, "want a list")
		return
	}
	for _, item := range v.Content {
		item = yamlconf.Resolve(item)
		if item.Kind != yaml.MappingNode {
			errs.add(ysrc(file, item.Line), section, "want a mapping for each entry")
			continue
		}
		fn(item)
	}
}

// yamlFields reads the scalar fields of one entry, flattening the scaling
// mapping into scale_* fields. Non-scalar values other than scaling and
// options are reported.
func yamlFields(file string, item *yaml.Node, what string, errs *errList) (rawFields, *source) {
	src := &source{file: file, line: item.Line, fields: map[string]fieldRef{}, bad: map[string]bool{}, yaml: true}
	f := rawFields{}
	set := func(canon, name string, k, v *yaml.Node) {
		if _, dup := f[canon]; dup {
			src.bad[canon] = true
			errs.add(ysrc(file, k.Line), name, "%s field given twice", what)
			return
		}
		src.fields[canon] = fieldRef{line: k.Line, name: name}
		if v.Kind != yaml.ScalarNode {
			src.bad[canon] = true
			errs.add(ysrc(file, v.Line), name, "want a single value")
			return
		}
		text := v.Value
		if v.Tag == "!!null" {
			text = ""
		}
		f[canon] = fieldText{text: strings.TrimSpace(text), line: k.Line, name: name}
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], yamlconf.Resolve(item.Content[i+1])
		switch {
		case what == "tag" && k.Value == "scaling":
			src.fields["scaling"] = fieldRef{line: k.Line, name: "scaling"}
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				src.bad["scaling"] = true
				errs.add(ysrc(file, v.Line), "scaling", "want a mapping of raw_min, raw_max, eng_min, eng_max")
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				sk, sv := v.Content[j], yamlconf.Resolve(v.Content[j+1])
				switch sk.Value {
				case "raw_min", "raw_max", "eng_min", "eng_max":
					set("scale_"+sk.Value, "scaling."+sk.Value, sk, sv)
				default:
					errs.add(ysrc(file, sk.Line), "scaling."+sk.Value, "unknown field: want raw_min, raw_max, eng_min, eng_max")
				}
			}
		case what == "device" && k.Value == "options":
			src.fields["options"] = fieldRef{line: k.Line, name: "options"}
			f["options"] = fieldText{line: k.Line, name: "options"}
		default:
			set(k.Value, k.Value, k, v)
		}
	}
	return f, src
}

// yamlOptions reads a device's options mapping.
func yamlOptions(item *yaml.Node, src *source, errs *errList) map[string]string {
	var v *yaml.Node
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == "options" {
			v = yamlconf.Resolve(item.Content[i+1])
		}
	}
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return nil
	}
	if v.Kind != yaml.MappingNode {
		errs.add(ysrc(src.file, v.Line), "options", "want a mapping of option names to values")
		return nil
	}
	opts := make(map[string]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], yamlconf.Resolve(v.Content[i+1])
		if val.Kind != yaml.ScalarNode {
			errs.add(ysrc(src.file, val.Line), "options."+k.Value, "want a single value")
			continue
		}
		opts[k.Value] = val.Value
	}
	return opts
}

// unknownFields reports fields not in allowed.
func unknownFields(f rawFields, src *source, errs *errList, allowed ...string) {
	names := make([]string, 0, len(f))
	for canon := range f {
		names = append(names, canon)
	}
	sort.Strings(names) // a stable order for fields on one line
	for _, canon := range names {
		if t := f[canon]; !slices.Contains(allowed, canon) {
			errs.add(ysrc(src.file, t.line), t.name, "unknown field")
		}
	}
}

// ysrc locates a problem in a YAML file.
func ysrc(file string, line int) *source { return &source{file: file, line: line, yaml: true} }
