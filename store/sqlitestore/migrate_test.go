package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
	"github.com/kiln-iot/kiln/store/internal/codec"
	"github.com/kiln-iot/kiln/store/storetest"
)

// schemaV1 is the schema as the first released version created it,
// kept here verbatim so the upgrade is tested against what is in the
// field, not against today's migration list.
const schemaV1 = `CREATE TABLE kiln_schema_migrations (
		version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
	CREATE TABLE kiln_samples (
		tenant TEXT NOT NULL,
		tag TEXT NOT NULL,
		ts INTEGER NOT NULL, -- Unix microseconds
		kind INTEGER NOT NULL,
		num INTEGER,         -- numbers: BOOL 0/1, integer bits, IEEE 754 bits, Unix ns
		str BLOB,            -- STRING and BYTESTRING
		q_status INTEGER NOT NULL,
		q_reason INTEGER NOT NULL,
		q_code INTEGER NOT NULL,
		q_detail TEXT NOT NULL,
		PRIMARY KEY (tenant, tag, ts)
	) WITHOUT ROWID;
	CREATE TABLE kiln_tags (
		tenant TEXT NOT NULL,
		tag TEXT NOT NULL,
		PRIMARY KEY (tenant, tag)
	) WITHOUT ROWID;
	INSERT INTO kiln_schema_migrations VALUES (1, 0);`

// oldValues are values of every kind, with the floats REAL cannot hold.
var oldValues = []plc.Value{
	plc.BoolValue(true), plc.IntValue(plc.LInt, math.MinInt64), plc.UintValue(plc.ULInt, math.MaxUint64),
	plc.FloatValue(plc.Real, 0.1), plc.FloatValue(plc.LReal, math.NaN()), plc.FloatValue(plc.LReal, math.Copysign(0, -1)),
	plc.FloatValue(plc.LReal, -1234.5), plc.StringValue("Grüße"), plc.BytesValue([]byte{0, 0xff}),
	plc.TimeValue(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)), {},
}

// fillV1 writes samples as version 1 of sqlitestore did: floats as their
// bits in num.
func fillV1(t *testing.T, path string) []plc.Sample {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schemaV1); err != nil {
		t.Fatal(err)
	}
	var in []plc.Sample
	for i, v := range oldValues {
		smp := plc.Sample{Tag: fmt.Sprintf("t%d", i%3), Value: v, Quality: plc.Good, Time: storetest.T0.Add(time.Duration(i) * time.Second)}
		if i == 4 {
			smp.Quality = plc.Bad(plc.ReasonDeviceError, "object does not exist")
			smp.Quality.Code = 10
		}
		kind, num, str, isStr := codec.Split(v)
		var numArg, strArg any
		if isStr {
			strArg = []byte(str)
		} else if codec.HasNum(kind) {
			numArg = num
		}
		q := smp.Quality
		if _, err := db.Exec(`INSERT INTO kiln_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, "acme", smp.Tag, smp.Time.UnixMicro(), kind, numArg, strArg,
			int64(q.Status), int64(q.Reason), int64(q.Code), q.Detail); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO kiln_tags VALUES ('acme', ?) ON CONFLICT DO NOTHING`, smp.Tag); err != nil {
			t.Fatal(err)
		}
		in = append(in, smp)
	}
	return in
}

func TestUpgradeFromVersion1KeepsEverySample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	in := fillV1(t, path)
	s := open(t, Config{Path: path})
	ctx := context.Background()
	var version int
	if err := s.db.QueryRow("SELECT max(version) FROM kiln_schema_migrations").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", version, err, len(migrations))
	}
	n := 0
	for tag := range 3 {
		got, err := s.Range(ctx, "acme", fmt.Sprintf("t%d", tag), storetest.T0, storetest.T0.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			w := in[int(g.Time.Sub(storetest.T0)/time.Second)]
			kind, num, str, _ := codec.Split(w.Value)
			gk, gn, gs, _ := codec.Split(g.Value)
			if g.Tag != w.Tag || gk != kind || gn != num || gs != str || g.Quality != w.Quality {
				t.Errorf("%s at %v: read %s %v %v, wrote %s %v %v", w.Tag, w.Time, g.Value.Kind(), g.Value, g.Quality, w.Value.Kind(), w.Value, w.Quality)
			}
			n++
		}
	}
	if n != len(in) {
		t.Fatalf("read back %d samples, want %d", n, len(in))
	}
	// Floats are in the REAL column now, bits only where REAL cannot
	// hold them.
	var bits int
	if err := s.db.QueryRow("SELECT count(*) FROM kiln_samples WHERE kind IN " + codec.Kinds(plc.Kind.IsFloat) + " AND num IS NOT NULL").Scan(&bits); err != nil || bits != 2 {
		t.Fatalf("%d floats kept as bits, %v; want 2 (NaN and -0)", bits, err)
	}
	// Written after the upgrade, read with the old rows.
	if _, err := s.WriteBatches(ctx, "acme", []store.Batch{{Source: "gw", Seq: 1, Samples: []plc.Sample{
		{Tag: "t0", Value: plc.FloatValue(plc.LReal, 2.5), Quality: plc.Good, Time: storetest.T0.Add(time.Minute)}}}}); err != nil {
		t.Fatal(err)
	}
	latest, err := s.LatestOf(ctx, "acme", []string{"t0"})
	if err != nil || len(latest) != 1 || latest[0].Value.Float() != 2.5 {
		t.Fatalf("latest of t0 after the upgrade: %v, %v", latest, err)
	}
}

func TestDecodedViewShowsValuesAsText(t *testing.T) {
	s := open(t, Config{})
	ctx := context.Background()
	var in []plc.Sample
	for i, v := range oldValues {
		in = append(in, plc.Sample{Tag: "v", Value: v, Quality: plc.Good, Time: storetest.T0.Add(time.Duration(i)*time.Second + 1500*time.Microsecond)})
	}
	in[4].Quality = plc.Bad(plc.ReasonCommFailure, "timeout")
	if _, err := s.Write(ctx, "acme", in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, "globex", in[:1]); err != nil {
		t.Fatal(err)
	}
	rows, err := s.db.Query(`SELECT time, kind, value_text, value_number, quality, reason, detail FROM kiln_samples_view WHERE tenant = 'acme' ORDER BY time_us`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var tm, text, quality, reason, detail sql.NullString
		var kind sql.NullString
		var number sql.NullFloat64
		if err := rows.Scan(&tm, &kind, &text, &number, &quality, &reason, &detail); err != nil {
			t.Fatal(err)
		}
		num := "NULL"
		if number.Valid {
			num = fmt.Sprint(number.Float64)
		}
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s", tm.String, kind.String, text.String, num, quality.String, reason.String, detail.String))
	}
	want := []string{
		"2026-11-25T08:00:00.001500Z|BOOL|true|1|good|none|",
		"2026-11-25T08:00:01.001500Z|LINT|-9223372036854775808|-9.223372036854776e+18|good|none|",
		"2026-11-25T08:00:02.001500Z|ULINT|18446744073709551615|1.8446744073709552e+19|good|none|",
		"2026-11-25T08:00:03.001500Z|REAL|0.10000000149011612|0.10000000149011612|good|none|",
		"2026-11-25T08:00:04.001500Z|LREAL|NaN|NULL|bad|comm failure|timeout",
		"2026-11-25T08:00:05.001500Z|LREAL|-0.0|0|good|none|",
		"2026-11-25T08:00:06.001500Z|LREAL|-1234.5|-1234.5|good|none|",
		"2026-11-25T08:00:07.001500Z|STRING|Grüße|NULL|good|none|",
		"2026-11-25T08:00:08.001500Z|BYTESTRING|00FF|NULL|good|none|",
		"2026-11-25T08:00:09.001500Z|DATETIME|2026-11-25T10:00:00.123456789Z|NULL|good|none|",
		"2026-11-25T08:00:10.001500Z|||NULL|good|none|",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("row %d:\n got %s\nwant %s", i, g, w)
			}
		}
	}
}
