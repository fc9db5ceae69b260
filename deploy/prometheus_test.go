package deploy

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// promtool finds Prometheus's promtool; the suite installs it
// (./scripts/test), so its absence is a failure, not a skip.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (install Debian's prometheus package, as ./scripts/test does): %v", err)
	}
	return path
}

func TestAlertRulesAreValid(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", filepath.Join("prometheus", "kiln-rules.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// The rule tests fire every alert on a synthetic failing series and check
// that a healthy plant and cloud fire none.
func TestAlertRulesFireOnFaultsAndStayQuietWhenHealthy(t *testing.T) {
	cmd := exec.Command(promtool(t), "test", "rules", "kiln-rules-test.yaml")
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
