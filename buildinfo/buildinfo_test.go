package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLinkerValuesWinOverTheToolchainRecord(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-x"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "deadbeef"}, {Key: "vcs.time", Value: "2026-01-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := merge(Info{Version: "v1.2.0", Commit: "cafe", Time: "2026-12-08T00:00:00Z"}, bi)
	if got.Version != "v1.2.0" || got.Commit != "cafe" || got.Time != "2026-12-08T00:00:00Z" || got.Modified {
		t.Errorf("merge kept %+v", got)
	}
	got = merge(Info{}, bi)
	if got.Version != "v0.0.0-x" || got.Commit != "deadbeef" || got.Time != "2026-01-01T00:00:00Z" || !got.Modified {
		t.Errorf("merge from the record = %+v", got)
	}
}

func TestStringNamesVersionCommitAndTime(t *testing.T) {
	s := Info{Version: "v1.2.0", Commit: "1a2b3c4d5e6f7a8b", Time: "2026-12-08T10:00:00Z", GoVersion: "go1.26.8", Modified: true}.String()
	want := "kiln v1.2.0 (commit 1a2b3c4d5e6f+modified, built 2026-12-08T10:00:00Z, go1.26.8)"
	if s != want {
		t.Errorf("String = %q, want %q", s, want)
	}
	if s := (Info{Version: "(devel)", GoVersion: "go1"}).String(); s != "kiln (devel) (go1)" {
		t.Errorf("String = %q", s)
	}
}

func TestCollectorExportsBuildInfo(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(Collector())
	n, err := testutil.GatherAndCount(reg, "kiln_build_info")
	if err != nil || n != 1 {
		t.Fatalf("kiln_build_info: %d series, %v", n, err)
	}
	mfs, _ := reg.Gather()
	var labels []string
	for _, l := range mfs[0].GetMetric()[0].GetLabel() {
		labels = append(labels, l.GetName())
	}
	if strings.Join(labels, ",") != "commit,goversion,version" {
		t.Errorf("labels %v", labels)
	}
}
