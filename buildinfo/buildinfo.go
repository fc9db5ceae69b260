package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Set by the linker (-X) in release builds; see the package doc.
var (
	version string
	commit  string
	date    string
)

// Info describes a build.
type Info struct {
	// Version is the module version ("v1.2.0"), or "(devel)" for a
	// build from a work tree without a release version.
	Version string
	// Commit is the VCS revision the binary was built from; empty when
	// unknown.
	Commit string
	// Time is when the build, or the commit it was built from, was made
	// (RFC 3339); empty when unknown.
	Time string
	// Modified is true when the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	info := Info{Version: version, Commit: commit, Time: date, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info = merge(info, bi)
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	return info
}

// merge fills the fields the linker did not set from the toolchain's
// record.
func merge(info Info, bi *debug.BuildInfo) Info {
	if info.Version == "" && bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	fromVCS := info.Commit == ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if fromVCS {
				info.Commit = s.Value
			}
		case "vcs.time":
			if info.Time == "" {
				info.Time = s.Value
			}
		case "vcs.modified":
			if fromVCS {
				info.Modified = s.Value == "true"
			}
		}
	}
	return info
}

// String formats the information on one line, as -version prints it.
func (i Info) String() string {
	s := "kiln " + i.Version
	var details []string
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if i.Modified {
			c += "+modified"
		}
		details = append(details, "commit "+c)
	}
	if i.Time != "" {
		details = append(details, "built "+i.Time)
	}
	details = append(details, i.GoVersion)
	return s + " (" + strings.Join(details, ", ") + ")"
}

// Collector returns the kiln_build_info gauge: always 1, with the build's
// version, commit and Go version as labels, so dashboards and alerts can
// tell which build each process runs.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "kiln_build_info",
		Help:        "The running build of kiln: always 1, labelled with version, commit and Go version.",
		ConstLabels: prometheus.Labels{"version": i.Version, "commit": i.Commit, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}

// Fields returns the information as the fields of a binary's first log
// line.
func (i Info) Fields() []zap.Field {
	return []zap.Field{zap.String("version", i.Version), zap.String("commit", i.Commit), zap.String("built", i.Time),
		zap.String("go", i.GoVersion), zap.Bool("modified", i.Modified)}
}
