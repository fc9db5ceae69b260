package plc_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/config"
	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/plc/plctest"
)

func init() { plctest.Register() }

func TestLoadExamplePointDB(t *testing.T) {
	db, err := plc.Load("testdata/plant.yaml", "testdata/tags.csv")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(db.Devices) != 1 || len(db.Groups) != 2 || len(db.Tags) != 7 {
		t.Fatalf("got %d devices, %d groups, %d tags", len(db.Devices), len(db.Groups), len(db.Tags))
	}
	dev, ok := db.Device("kiln1")
	if !ok || dev.Driver != "plctest" || dev.Options["rack"] != "0" || dev.Options["slot"] != "1" {
		t.Fatalf("device = %+v", dev)
	}
	fast, _ := db.Group("fast")
	if fast.ScanRate() != 100*time.Millisecond || fast.RefreshInterval() != time.Minute {
		t.Errorf("fast = %+v", fast)
	}
	slow, _ := db.Group("slow")
	if slow.ScanRate() != 5*time.Second || slow.RefreshInterval() != 0 {
		t.Errorf("slow = %+v (refresh %v)", slow, slow.RefreshInterval())
	}
	def, ok := db.Group("")
	if !ok || def.Name != plc.DefaultGroup || def.ScanRate() != plc.DefaultRate || def.RefreshInterval() != plc.DefaultFullRefresh {
		t.Errorf("default group = %+v, %v", def, ok)
	}

	sp, ok := db.Tag("Kiln1.Setpoint")
	if !ok {
		t.Fatal("Kiln1.Setpoint missing")
	}
	if sp.Type != plc.TypeInt || !sp.Writable() || sp.Group != "slow" || sp.Unit != "°C" ||
		*sp.Scaling != (plc.Scaling{RawMin: 0, RawMax: 27648, EngMin: 0, EngMax: 1200}) ||
		*sp.Limits.Min != 200 || *sp.Limits.Max != 1100 {
		t.Errorf("Kiln1.Setpoint = %+v", sp)
	}
	z2, _ := db.Tag("Kiln1.Zone2.Temp")
	if z2.Deadband != (plc.Deadband{Mode: plc.DeadbandPercent, Value: 1}) || z2.Band() != 12 {
		t.Errorf("Zone2 deadband = %+v band %v", z2.Deadband, z2.Band())
	}
	fan, _ := db.Tag("Kiln1.Fan.Speed")
	if fan.Deadband != (plc.Deadband{Mode: plc.DeadbandAbsolute, Value: 0.1}) || fan.Scaling != nil || fan.EngRange() != 1500 {
		t.Errorf("fan = %+v", fan)
	}
	batch, _ := db.Tag("Kiln1.Batch")
	if batch.Type != plc.StringType(20) || batch.Description != "Current batch id" {
		t.Errorf("batch = %+v", batch)
	}
	if c, _ := db.Tag("Kiln1.Counter"); c.Group != "" || c.Access != plc.ReadOnly {
		t.Errorf("counter = %+v", c)
	}
}

// messages returns the error's ConfigErrors as strings.
func messages(err error) []string {
	var out []string
	for _, ce := range config.List(err) {
		out = append(out, ce.Error())
	}
	return out
}

func checkMessages(t *testing.T, err error, want []string) {
	t.Helper()
	got := messages(err)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadYAMLReportsEveryProblemWithFileLineField(t *testing.T) {
	const src = `devices:
  - name: kiln1
    driver: plctest
  - name: kiln1
    driver: plctest
  - name: press
    driver: modbus
groups:
  - name: fast
    rate: 5ms
  - name: slow
    rate: 1s
    full_refresh: 500ms
  - name: odd
    rate: soon
tags:
  - name: A
    device: kiln1
    address: DB1.DBW0
    type: INT
  - name: A
    device: kiln1
    address: DB1.DBW2
    type: INT
  - name: B
    device: kiln9
    address: X
    type: FLOT
  - name: C
    device: kiln1
    address: "has space"
    type: DINT
    group: medium
  - name: D
    device: kiln1
    address: M0.0
    type: BOOL
    deadband: 1
  - name: E
    device: kiln1
    address: MW2
    type: INT
    min: 10
    max: 5
    colour: red
  - name: F
    device: kiln1
    address: MW4
    type: INT
    deadband: 2
    deadband_mode: percent
  - name: G
    device: kiln1
    address: MW6
    type: INT
    scaling: {raw_min: 0, raw_max: 0, eng_min: 0, eng_max: 100}
  - name: H
    device: kiln1
    address: MW8
    type: STRING[8]
    deadband: 1
    access: maybe
  - name: I
    device: kiln1
    address: MW10
    type: INT
    scaling: {raw_min: 0, raw_max: 10}
    max: lots
`
	p := writeFile(t, "plant.yaml", src)
	_, err := plc.Load(p)
	if err == nil {
		t.Fatal("Load succeeded")
	}
	want := []string{
		p + `:4: name: duplicate device name "kiln1" (first at ` + p + `:2)`,
		p + `:7: driver: device "press": unknown driver "modbus" (registered: [plctest])`,
		p + `:10: rate: group "fast": rate 5ms is below the minimum 10ms`,
		p + `:13: full_refresh: group "slow": full refresh 500ms is shorter than the rate 1s`,
		p + `:15: rate: "soon" is not a positive duration like 100ms or 5s`,
		p + `:21: name: duplicate tag name "A" (first at ` + p + `:17)`,
		p + `:26: device: tag "B": unknown device "kiln9"`,
		p + `:28: type: tag "B": unknown type "FLOT"`,
		p + `:31: address: tag "C": plctest driver rejects address "has space": plctest: address "has space" contains spaces or control characters`,
		p + `:33: group: tag "C": unknown scan group "medium"`,
		p + `:38: deadband: tag "D": deadband on a BOOL tag (every change of it is reported)`,
		p + `:43: min: tag "E": min 10 > max 5`,
		p + `:45: colour: unknown field`,
		p + `:50: deadband: tag "F": a percent deadband needs a range: scaling or both min and max`,
		p + `:56: scaling.raw_max: tag "G": scaling raw range is empty (raw_min = raw_max = 0)`,
		p + `:61: deadband: tag "H": deadband on a STRING[8] tag (every change of it is reported)`,
		p + `:62: access: tag "H": access "maybe": want ro or rw`,
		p + `:67: scaling.eng_min: tag "I": scaling needs all four of raw_min, raw_max, eng_min, eng_max`,
		p + `:68: max: "lots" is not a finite number`,
	}
	checkMessages(t, err, want)

	if !errors.Is(err, plc.ErrUnknownDriver) {
		t.Error("errors.Is(err, ErrUnknownDriver) = false")
	}
	var te *plc.TypeError
	if !errors.As(err, &te) || te.Text != "FLOT" {
		t.Errorf("errors.As *TypeError = %v", te)
	}
	var ce *config.FieldError
	if !errors.As(err, &ce) || ce.File != p || ce.Line != 4 || ce.Path != "name" {
		t.Errorf("first ConfigError = %+v", ce)
	}
}

func TestLoadCSVReportsEveryProblemWithFileLineField(t *testing.T) {
	devices := writeFile(t, "plant.yaml", "devices:\n  - {name: kiln1, driver: plctest}\ngroups:\n  - {name: fast, rate: 100ms}\n")
	const tags = `# exported 2026-11-25
name,device,address,type,access,group,deadband,deadband_mode,min,max,unit,description
T1,kiln1,DB1.DBW0,INT,ro,fast,0.5,,,,°C,ok
T1,kiln1,DB1.DBW2,INT,ro,fast,,,,,,duplicate
T2,kiln2,DB1.DBW4,INT,,,,,,,,unknown device

T3,kiln1,DB1.DBW6,WORDS,,,,,,,,unknown type
T4,kiln1,,INT,,,,,,,,no address
T5,kiln1,M0.0,BOOL,,,0.1,,,,,deadband on bool
T6,kiln1,MW0,INT,rw,,,,100,0,,min > max
T7,kiln1,MW2,INT,xx,slowest,,,,,,bad access and group
T8,kiln1,MW4,INT,,,1,relative,,,,bad mode
T9,kiln1,MW6,INT,,,,,,,,too many,fields
`
	p := writeFile(t, "tags.csv", tags)
	_, err := plc.Load(devices, p)
	want := []string{
		p + `:4: name: duplicate tag name "T1" (first at ` + p + `:3)`,
		p + `:5: device: tag "T2": unknown device "kiln2"`,
		p + `:7: type: tag "T3": unknown type "WORDS"`,
		p + `:8: address: tag "T4" has no address`,
		p + `:9: deadband: tag "T5": deadband on a BOOL tag (every change of it is reported)`,
		p + `:10: min: tag "T6": min 100 > max 0`,
		p + `:11: access: tag "T7": access "xx": want ro or rw`,
		p + `:11: group: tag "T7": unknown scan group "slowest"`,
		p + `:12: deadband_mode: tag "T8": deadband mode "relative": want absolute, percent or none`,
		p + `:13: 13 fields, but the header has 12 columns`,
	}
	checkMessages(t, err, want)
}

func TestLoadCSVHeaderProblems(t *testing.T) {
	tests := []struct {
		name, csv string
		want      []string
	}{
		{"unknown and missing columns", "name,device,adress,address,colour\n", []string{
			`:1: adress: unknown column for a tag table: want name, device, address, type, access, group, deadband, deadband_mode, scale_raw_min, scale_raw_max, scale_eng_min, scale_eng_max, min, max, unit, description, write_role, critical`,
			`:1: colour: unknown column for a tag table: want name, device, address, type, access, group, deadband, deadband_mode, scale_raw_min, scale_raw_max, scale_eng_min, scale_eng_max, min, max, unit, description, write_role, critical`,
			`:1: type: missing column`,
		}},
		{"what table", "name,value\nA,1\n", []string{
			`:1: cannot tell what the table holds: want a column address (tags), driver (devices) or rate (scan groups)`,
		}},
		{"duplicate column", "name,name,address,device,type\n", []string{`:1: name: column given twice`}},
		{"bad quote", "name,device,address,type\nA,kiln1,\"MW0,INT\n", []string{`:2: CSV syntax: extraneous or missing " in quoted-field (at byte 18 of the line)`}},
		{"not utf8", "name,device,address,type\nA,kiln1,MW0,\xff\n", []string{`: not UTF-8 text (save the sheet as CSV UTF-8)`}},
		{"group table", "name,rate,full_refresh\nfast,1ms,\nslow,10s,5s\n", []string{
			`:2: rate: group "fast": rate 1ms is below the minimum 10ms`,
			`:3: full_refresh: group "slow": full refresh 5s is shorter than the rate 10s`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "x.csv", tt.csv)
			_, err := plc.Load(p)
			var want []string
			for _, w := range tt.want {
				want = append(want, p+w)
			}
			checkMessages(t, err, want)
		})
	}
}

func TestLoadCSVAsSpreadsheetsExportIt(t *testing.T) {
	// A device table and a group table in CSV, and a tag table as a German
	// Excel saves it: BOM, semicolons, decimal commas, header in other case.
	devs := writeFile(t, "devices.csv", "name,driver,endpoint,rack,slot\nkiln1,plctest,127.0.0.1:102,0,1\noven,plctest,127.0.0.1:103,,\n")
	groups := writeFile(t, "groups.csv", "name,rate,full_refresh\nfast,100ms,off\n")
	tags := writeFile(t, "tags.csv", "\xef\xbb\xbfName;Device;Address;Type;Deadband;Deadband Mode;Scale Raw Min;Scale Raw Max;Scale Eng Min;Scale Eng Max;Group\r\n"+
		"Z1;kiln1;DB1.DBW4;int;0,5;;0;27648;0;1200,5;fast\r\n"+
		"\"Z2;x\";oven;DB1.DBW6;INT;2;percent;0;100;0;50;\r\n")
	db, err := plc.Load(devs, groups, tags)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := db.Device("kiln1")
	if k.Options["rack"] != "0" || k.Options["slot"] != "1" || k.Endpoint != "127.0.0.1:102" {
		t.Errorf("kiln1 = %+v", k)
	}
	if o, _ := db.Device("oven"); o.Options != nil {
		t.Errorf("oven options = %v, want none for empty cells", o.Options)
	}
	if g, _ := db.Group("fast"); g.FullRefresh != plc.NoFullRefresh {
		t.Errorf("fast = %+v", g)
	}
	z1, ok := db.Tag("Z1")
	if !ok || z1.Deadband.Value != 0.5 || z1.Scaling.EngMax != 1200.5 || z1.Type != plc.TypeInt {
		t.Fatalf("Z1 = %+v, %v", z1, ok)
	}
	z2, ok := db.Tag("Z2;x")
	if !ok || z2.Band() != 1 || z2.Group != "" {
		t.Fatalf("Z2 = %+v", z2)
	}
}

func TestLoadYAMLSyntaxAndShapeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", "devices:\n  - name: a\n\tdriver: b\n", []string{`:2: YAML syntax: found a tab character that violates indentation`}},
		{"not a mapping", "- a\n- b\n", []string{`:1: want a mapping with devices, groups and tags`}},
		{"unknown section", "sensors: []\n", []string{`:1: sensors: unknown section: want devices, groups or tags`}},
		{"section not a list", "tags: {name: a}\n", []string{`:1: tags: want a list`}},
		{"entry not a mapping", "tags:\n  - a\n", []string{`:2: tags: want a mapping for each entry`}},
		{"field not a scalar", "devices:\n  - name: [a, b]\n    driver: plctest\n", []string{
			`:2: name: want a single value`, `:2: name: device has no name`}},
		{"twice", "devices:\n  - name: a\n    name: b\n    driver: plctest\n", []string{`:3: name: device field given twice`}},
		{"bad options", "devices:\n  - name: a\n    driver: plctest\n    options: [1]\n", []string{`:4: options: want a mapping of option names to values`}},
		{"scaling not a mapping", "devices: [{name: d, driver: plctest}]\ntags:\n  - {name: a, device: d, address: x, type: INT, scaling: 5}\n", []string{
			`:3: scaling: want a mapping of raw_min, raw_max, eng_min, eng_max`}},
		{"scaling unknown key", "devices: [{name: d, driver: plctest}]\ntags:\n  - {name: a, device: d, address: x, type: INT, scaling: {raw_min: 0, raw_max: 1, eng_min: 0, eng_max: 1, offset: 3}}\n", []string{
			`:3: scaling.offset: unknown field: want raw_min, raw_max, eng_min, eng_max`}},
		{"scaling on bool", "devices: [{name: d, driver: plctest}]\ntags:\n  - name: a\n    device: d\n    address: x\n    type: BOOL\n    scaling: {raw_min: 0, raw_max: 1, eng_min: 0, eng_max: 1}\n", []string{
			`:7: scaling: tag "a": scaling on a BOOL tag`}},
		{"missing basics", "tags:\n  - {description: nothing}\n", []string{
			`:2: name: tag has no name`, `:2: device: tag "#1" names no device`, `:2: type: tag "#1": invalid type INVALID`, `:2: address: tag "#1" has no address`}},
		{"device without driver", "devices:\n  - name: a\n", []string{`:2: driver: device "a" names no driver (registered: [plctest])`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "x.yaml", tt.yaml)
			_, err := plc.Load(p)
			var want []string
			for _, w := range tt.want {
				want = append(want, p+w)
			}
			checkMessages(t, err, want)
		})
	}
}

func TestLoadYAMLAnchorsAndEmptyFiles(t *testing.T) {
	p := writeFile(t, "x.yaml", "devices:\n  - {name: d, driver: plctest}\ntags:\n  - {name: a, device: &dev d, address: x, type: &t REAL}\n  - {name: b, device: *dev, address: y, type: *t}\n")
	empty := writeFile(t, "empty.yaml", "")
	emptyCSV := writeFile(t, "empty.csv", "")
	db, err := plc.Load(p, empty, emptyCSV)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := db.Tag("b"); b.Device != "d" || b.Type != plc.TypeReal {
		t.Fatalf("b = %+v", b)
	}
}

func TestLoadFileProblems(t *testing.T) {
	txt := writeFile(t, "tags.txt", "x")
	_, err := plc.Load(txt, filepath.Join(t.TempDir(), "missing.yaml"))
	got := messages(err)
	if len(got) != 2 || !strings.HasSuffix(got[0], "tags.txt: unknown file kind: want .yaml, .yml or .csv") || !strings.Contains(got[1], "missing.yaml: cannot read file") {
		t.Fatalf("errors = %q", got)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Error("the read error is not wrapped")
	}
}

func TestValidateDatabaseBuiltByCode(t *testing.T) {
	lo, hi := 5.0, 1.0
	db := &plc.PointDB{
		Devices: []plc.Device{{Name: "d", Driver: "plctest"}},
		Tags: []plc.Tag{
			{Name: "ok", Device: "d", Address: "x", Type: plc.TypeInt},
			{Name: "limits", Device: "d", Address: "y", Type: plc.TypeInt, Limits: plc.Limits{Min: &lo, Max: &hi}},
			{Name: " padded", Device: "d", Address: "z", Type: plc.TypeInt},
			{Name: "mode", Device: "d", Address: "w", Type: plc.TypeInt, Deadband: plc.Deadband{Value: 3}},
			{Name: "neg", Device: "d", Address: "v", Type: plc.TypeInt, Deadband: plc.Deadband{Mode: plc.DeadbandAbsolute, Value: -1}},
			{Name: "pct", Device: "d", Address: "u", Type: plc.TypeInt, Deadband: plc.Deadband{Mode: plc.DeadbandPercent, Value: 150}},
			{Name: "strlimits", Device: "d", Address: "t", Type: plc.StringType(4), Limits: plc.Limits{Max: &hi}},
		},
	}
	checkMessages(t, db.Validate(), []string{
		`min: tag "limits": min 5 > max 1`,
		`name: tag name " padded" has surrounding spaces or control characters`,
		`deadband_mode: tag "mode": deadband 3 without a mode`,
		`deadband: tag "neg": deadband must be a finite number >= 0`,
		`deadband: tag "pct": percent deadband 150 is over 100`,
		`min: tag "strlimits": limits on a STRING[4] tag`,
	})
	db.Tags = db.Tags[:1]
	if err := db.Validate(); err != nil {
		t.Fatal(err)
	}
	if tag, ok := db.Tag("ok"); !ok || tag.Address != "x" {
		t.Fatal("Tag(ok) not found")
	}
	if _, ok := db.Tag("nope"); ok {
		t.Fatal("Tag(nope) found")
	}
	if _, ok := db.Group("nope"); ok {
		t.Fatal("Group(nope) found")
	}
}

func FuzzAddYAML(f *testing.F) {
	seed, _ := os.ReadFile("testdata/plant.yaml")
	f.Add(seed)
	f.Add([]byte("tags:\n  - {name: a, device: d, address: x, type: INT, scaling: {raw_min: 0}}\n"))
	f.Add([]byte("devices: &x [{name: a, driver: plctest, options: *x}]\n"))
	f.Add([]byte("groups: [{name: g, rate: 1ms, full_refresh: off}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db := &plc.PointDB{}
		err := db.AddYAML("f.yaml", data)
		checkFuzzErrors(t, err)
		checkFuzzErrors(t, db.Validate())
	})
}

func FuzzAddCSV(f *testing.F) {
	seed, _ := os.ReadFile("testdata/tags.csv")
	f.Add(seed)
	f.Add([]byte("name;rate\nfast;10ms\n"))
	f.Add([]byte("name,driver,rack\nd,plctest,0\n"))
	f.Add([]byte("name,device,address,type,scale_raw_min\n\"a\",b,c,INT,1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db := &plc.PointDB{Devices: []plc.Device{{Name: "kiln1", Driver: "plctest"}}}
		err := db.AddCSV("f.csv", data)
		checkFuzzErrors(t, err)
		checkFuzzErrors(t, db.Validate())
	})
}

// checkFuzzErrors asserts that every problem is a located ConfigError.
func checkFuzzErrors(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	ces := config.List(err)
	if len(ces) == 0 {
		t.Fatalf("error without ConfigError: %v", err)
	}
	for _, ce := range ces {
		if ce.Msg == "" {
			t.Fatalf("ConfigError without message: %+v", ce)
		}
	}
}

func TestParseFullRefresh(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"", 0, false},
		{"off", plc.NoFullRefresh, false},
		{"Never", plc.NoFullRefresh, false},
		{"30s", 30 * time.Second, false},
		{"0s", 0, true},
		{"-1m", 0, true},
		{"soon", 0, true},
	} {
		got, err := plc.ParseFullRefresh(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseFullRefresh(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestWriteRoleAndCriticalFromYAMLAndCSV(t *testing.T) {
	yml := writeFile(t, "plant.yaml", `devices:
  - {name: d, driver: plctest}
tags:
  - {name: sp, device: d, address: a, type: REAL, access: rw, write_role: operator, critical: true}
  - {name: pv, device: d, address: b, type: REAL}
`)
	csvFile := writeFile(t, "tags.csv", "name,device,address,type,write_role,critical\nc1,d,c,INT,Engineer,no\nc2,d,e,INT,,yes\n")
	db, err := plc.Load(yml, csvFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tag, role string
		critical  bool
	}{{"sp", "operator", true}, {"pv", "engineer", false}, {"c1", "engineer", false}, {"c2", "engineer", true}} {
		tg, _ := db.Tag(c.tag)
		if tg.MinWriteRole() != c.role || tg.Critical != c.critical {
			t.Errorf("%s: role %q critical %v, want %q %v", c.tag, tg.MinWriteRole(), tg.Critical, c.role, c.critical)
		}
	}

	bad := writeFile(t, "bad.csv", "name,device,address,type,write_role,critical\nx,d,c,INT,admin,maybe\n")
	_, err = plc.Load(yml, bad)
	checkMessages(t, err, []string{
		bad + `:2: write_role: tag "x": write role "admin": want operator or engineer`,
		bad + `:2: critical: tag "x": critical "maybe": want true or false`,
	})
	code := &plc.PointDB{Devices: []plc.Device{{Name: "d", Driver: "plctest"}},
		Tags: []plc.Tag{{Name: "y", Device: "d", Address: "a", Type: plc.TypeInt, WriteRole: "viewer"}}}
	checkMessages(t, code.Validate(), []string{`write_role: tag "y": write role "viewer": want operator or engineer`})
}
