package deploy

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// releaseBinaries are the commands scripts/release builds.
var releaseBinaries = []string{"edge-gateway", "cloud-ingestor", "ai-monitor", "plcsim", "tagctl", "pulsartest"}

// gitEnv is the environment of the test's git and release commands: a
// fixed identity, so commits and the tag need no user configuration.
var gitEnv = append(os.Environ(),
	"GIT_AUTHOR_NAME=kiln release test", "GIT_AUTHOR_EMAIL=release@kiln.invalid",
	"GIT_COMMITTER_NAME=kiln release test", "GIT_COMMITTER_EMAIL=release@kiln.invalid")

// inDir runs name args in dir and returns its combined output.
func inDir(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func must(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	out, err := inDir(t, dir, gitEnv, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// releaseClone clones the repository's HEAD into a temporary directory,
// with the work tree's scripts/release and scripts/ldflags in it, and
// returns the clone.
func releaseClone(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "kiln")
	must(t, root, "git", "clone", "--quiet", "--no-hardlinks", root, clone)
	for _, s := range []string{"scripts/release", "scripts/ldflags"} {
		b, err := os.ReadFile(filepath.Join(root, s))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clone, s), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return clone
}

// release runs scripts/release in clone without the suite.
func release(t *testing.T, clone string, version string, extraEnv ...string) (string, error) {
	t.Helper()
	env := append(slices.Clone(gitEnv), "KILN_RELEASE_SKIP_TESTS=1")
	return inDir(t, clone, append(env, extraEnv...), "./scripts/release", version)
}

func TestReleaseRefusesADirtyTreeAndAVersionTheChangelogLacks(t *testing.T) {
	clone := releaseClone(t)
	must(t, clone, "git", "commit", "--quiet", "--allow-empty", "-am", "release scripts of the work tree")
	if err := os.WriteFile(filepath.Join(clone, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := release(t, clone, "9.9.9")
	if err == nil || !strings.Contains(out, "uncommitted changes") {
		t.Errorf("release in a dirty tree: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(clone, "stray.txt")); err != nil {
		t.Fatal(err)
	}
	out, err = release(t, clone, "9.9.9")
	if err == nil || !strings.Contains(out, `no "## [9.9.9]" section`) {
		t.Errorf("release of a version CHANGELOG.md lacks: %v\n%s", err, out)
	}
	out, err = release(t, clone, "9.9")
	if err == nil || !strings.Contains(out, "want X.Y.Z") {
		t.Errorf("release of a malformed version: %v\n%s", err, out)
	}
	if tags := must(t, clone, "git", "tag"); tags != "" {
		t.Errorf("refused releases left tags %q", tags)
	}
}

// TestReleaseTagsAndBuildsStampedBinariesWithChecksums runs the release
// in a clone as a user would, with the suite skipped (this is the suite),
// and checks the tag, the binaries, their checksums and their -version.
func TestReleaseTagsAndBuildsStampedBinariesWithChecksums(t *testing.T) {
	clone := releaseClone(t)
	changelog := filepath.Join(clone, "CHANGELOG.md")
	b, err := os.ReadFile(changelog)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "## [Unreleased]\n", "## [Unreleased]\n\n## [9.9.9] - 2026-12-08\n", 1)
	if err := os.WriteFile(changelog, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, clone, "git", "commit", "--quiet", "-am", "release 9.9.9")
	head := must(t, clone, "git", "rev-parse", "HEAD")

	// The suite releases for this machine's platform only: each further
	// platform compiles every dependency again, minutes on a 2-core
	// machine. The cross builds are the script's default and the same
	// go build with another GOOS/GOARCH.
	platforms := []string{runtime.GOOS + "/" + runtime.GOARCH}
	out, err := release(t, clone, "9.9.9", "KILN_RELEASE_PLATFORMS="+strings.Join(platforms, " "))
	if err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, out)
	}

	if tagged := must(t, clone, "git", "rev-parse", "v9.9.9^{commit}"); tagged != head {
		t.Errorf("v9.9.9 tags %s, want HEAD %s", tagged, head)
	}
	if kind := must(t, clone, "git", "cat-file", "-t", "v9.9.9"); kind != "tag" {
		t.Errorf("v9.9.9 is a %s, want an annotated tag", kind)
	}
	dist := filepath.Join(clone, "dist", "9.9.9")
	var want []string
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		for _, name := range releaseBinaries {
			file := name + "-v9.9.9-" + goos + "-" + goarch
			if goos == "windows" {
				file += ".exe"
			}
			want = append(want, file)
		}
	}
	slices.Sort(want)
	sums := checkSums(t, dist)
	if got := slices.Sorted(maps.Keys(sums)); !slices.Equal(got, want) {
		t.Errorf("SHA256SUMS lists %v, want %v", got, want)
	}
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want)+1 {
		t.Errorf("dist/9.9.9 holds %d files, want %d binaries and SHA256SUMS", len(entries), len(want))
	}

	// The binaries of this machine's platform run and name the release.
	date := must(t, clone, "git", "show", "-s", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "HEAD")
	native := 0
	for _, name := range releaseBinaries {
		bin := filepath.Join(dist, name+"-v9.9.9-"+runtime.GOOS+"-"+runtime.GOARCH)
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		native++
		assertStatic(t, bin)
		got := must(t, dist, bin, "-version")
		prefix := "kiln v9.9.9 (commit " + head[:12] + ", built " + date + ", go"
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("%s -version = %q, want %q…", name, got, prefix)
		}
	}
	if native != len(releaseBinaries) {
		t.Errorf("%d of %d binaries built for this machine (%s/%s)", native, len(releaseBinaries), runtime.GOOS, runtime.GOARCH)
	}
}

// checkSums reads dir/SHA256SUMS, checks every listed file's hash and
// returns them by file name.
func checkSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not \"<sha256>  <file>\"", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file hashes to %x", name, sum, h)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// assertStatic fails unless bin is an ELF executable without a dynamic
// loader (CGO_ENABLED=0), as distroless/static and scratch images need.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has an ELF interpreter)", filepath.Base(bin))
		}
	}
}
