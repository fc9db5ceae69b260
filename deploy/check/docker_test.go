package check

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// images are the Dockerfiles under deploy/docker and the binary each one
// ships. The platform's image joins them once its binary exists.
var images = []struct{ file, binary string }{
	{"ingestor.Dockerfile", "cloud-ingestor"},
	{"gateway.Dockerfile", "edge-gateway"},
}

// instruction is one parsed Dockerfile instruction.
type instruction struct {
	cmd   string   // lower case: from, run, copy, user, ...
	flags []string // --from=build, --interval=30s, ...
	args  []string
	json  bool // exec form (a JSON array)
	line  int
}

// parse reads a Dockerfile with BuildKit's parser and splits it into
// stages by FROM.
func parse(t *testing.T, path string) [][]instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var stages [][]instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "arg" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

func find(stage []instruction, cmd string) []instruction {
	var out []instruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// buildCommand is the RUN of the build stage that runs go build.
func buildCommand(t *testing.T, path string, stage []instruction) string {
	t.Helper()
	for _, in := range find(stage, "run") {
		if s := strings.Join(in.args, " "); strings.Contains(s, "go build") {
			return s
		}
	}
	t.Fatalf("%s: the build stage has no RUN … go build", path)
	return ""
}

// TestDockerfilesFollowTheRules checks what cannot be run here (there is
// no container engine): a multi-stage build of a static binary stamped as
// scripts/release stamps it, shipped on a minimal base as a non-root user,
// with a health check the image can run without a shell or curl, and the
// writable path a volume so the root filesystem can be read-only.
func TestDockerfilesFollowTheRules(t *testing.T) {
	for _, img := range images {
		t.Run(img.file, func(t *testing.T) {
			path := filepath.Join("..", "docker", img.file)
			stages := parse(t, path)
			if len(stages) < 2 {
				t.Fatalf("%s: %d stages, want a build stage and a runtime stage", path, len(stages))
			}
			for _, st := range stages {
				from := st[0]
				image := from.args[0]
				if !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
					t.Errorf("%s:%d: FROM %s: pin a tag other than latest", path, from.line, image)
				}
			}
			build, final := stages[0], stages[len(stages)-1]
			cmd := buildCommand(t, path, build)
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "$(scripts/ldflags "$VERSION" "$COMMIT" "$DATE")"`, "-o /out/" + img.binary, "./examples/" + img.binary} {
				if !strings.Contains(cmd, want) {
					t.Errorf("%s: the go build lacks %s: %s", path, want, cmd)
				}
			}

			base := final[0].args[0]
			if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
				t.Errorf("%s: runtime base %s: want distroless/static or scratch", path, base)
			}
			if find(final, "run") != nil {
				t.Errorf("%s: the runtime stage RUNs commands; a minimal base has no shell", path)
			}
			bin := "/usr/local/bin/" + img.binary
			copied := false
			for _, c := range find(final, "copy") {
				if slices.Contains(c.flags, "--from=build") && c.args[0] == "/out/"+img.binary && c.args[1] == bin {
					copied = true
				}
			}
			if !copied {
				t.Errorf("%s: the runtime stage does not COPY --from=build /out/%s %s", path, img.binary, bin)
			}
			users := find(final, "user")
			if len(users) == 0 {
				t.Fatalf("%s: no USER: the image would run as root", path)
			}
			if u := users[len(users)-1].args[0]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
				t.Errorf("%s: USER %s is root", path, u)
			}
			vols := find(final, "volume")
			if len(vols) != 1 || !vols[0].json || !slices.Equal(vols[0].args, []string{"/var/lib/kiln"}) {
				t.Errorf("%s: want VOLUME [\"/var/lib/kiln\"], the one writable path, got %+v", path, vols)
			}
			if w := find(final, "workdir"); len(w) != 1 || w[0].args[0] != "/var/lib/kiln" {
				t.Errorf("%s: WORKDIR is not the data volume: %+v", path, w)
			}
			hc := find(final, "healthcheck")
			if len(hc) != 1 || len(hc[0].args) < 3 || hc[0].args[0] != "CMD" || !hc[0].json ||
				hc[0].args[1] != bin || hc[0].args[2] != "-healthcheck" {
				t.Errorf("%s: want HEALTHCHECK CMD [%q, \"-healthcheck\", …] in exec form, got %+v", path, bin, hc)
			}
			if e := find(final, "entrypoint"); len(e) != 1 || !e[0].json || e[0].args[0] != bin {
				t.Errorf("%s: want ENTRYPOINT [%q] in exec form (signals reach the binary), got %+v", path, bin, e)
			}
		})
	}
}

// TestDockerfileBuildsAStaticStampedBinary runs each Dockerfile's own go
// build command here, in the repository, with the image's output
// directory moved to a temporary one, and checks the binary is static
// and names the build it was given.
func TestDockerfileBuildsAStaticStampedBinary(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, img := range images {
		t.Run(img.file, func(t *testing.T) {
			path := filepath.Join("..", "docker", img.file)
			cmd := strings.ReplaceAll(buildCommand(t, path, parse(t, path)[0]), "/out/", out+"/")
			sh := exec.Command("/bin/sh", "-c", cmd)
			sh.Dir = root
			sh.Env = append(os.Environ(), "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH,
				"VERSION=v9.8.7", "COMMIT=0123456789abcdef0123", "DATE=2026-12-08T10:00:00Z")
			if b, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, b)
			}
			bin := filepath.Join(out, img.binary)
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked; distroless/static has no loader", img.binary)
				}
			}
			_ = f.Close()
			v, err := exec.Command(bin, "-version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s -version: %v\n%s", img.binary, err, v)
			}
			if want := "kiln v9.8.7 (commit 0123456789ab, built 2026-12-08T10:00:00Z, go"; !strings.HasPrefix(string(v), want) {
				t.Errorf("%s -version = %q, want %q…", img.binary, v, want)
			}
		})
	}
}
