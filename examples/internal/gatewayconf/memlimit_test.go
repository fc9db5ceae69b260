package gatewayconf

import "testing"

func TestAutoMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		tags int
		want int64
	}{
		{-5, 64 * mib},
		{0, 64 * mib},
		{19, 64 * mib},
		{40_000, 64 * mib}, // 24 MiB + 40 MB is just under the floor
		{50_000, 24*mib + 50_000_000},
		{100_000, 24*mib + 100_000_000},
		{1_000_000, 24*mib + 1_000_000_000},
	}
	for _, c := range cases {
		if got := AutoMemoryLimit(c.tags); got != c.want {
			t.Errorf("AutoMemoryLimit(%d) = %d, want %d", c.tags, got, c.want)
		}
	}
	// The target: 100k tags land at about 120 MiB, leaving room under 150 MiB RSS.
	if got := AutoMemoryLimit(100_000); got < 115*mib || got > 122*mib {
		t.Errorf("AutoMemoryLimit(100000) = %.1f MiB, want about 120 MiB", float64(got)/mib)
	}
}

func TestMemoryLimitFor(t *testing.T) {
	cases := []struct {
		name       string
		cfg        int64
		env        string
		want       int64
		wantSource MemoryLimitSource
	}{
		{"config wins over env", 200 << 20, "120MiB", 200 << 20, MemoryLimitFromConfig},
		{"config without env", 200 << 20, "", 200 << 20, MemoryLimitFromConfig},
		{"env when config is automatic", 0, "120MiB", 0, MemoryLimitFromEnv},
		{"env off is still the env's", 0, "off", 0, MemoryLimitFromEnv},
		{"automatic", 0, "", AutoMemoryLimit(100_000), MemoryLimitAuto},
		{"disabled", MemoryLimitOff, "", 0, MemoryLimitDisabled},
		{"disabled leaves env alone", MemoryLimitOff, "120MiB", 0, MemoryLimitDisabled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, src := Config{MemoryLimit: c.cfg}.MemoryLimitFor(100_000, c.env)
			if got != c.want || src != c.wantSource {
				t.Fatalf("MemoryLimitFor = %d, %q; want %d, %q", got, src, c.want, c.wantSource)
			}
		})
	}
}

func TestMemoryLimitParsed(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want int64
	}{
		{"id: gw\n", 0},
		{"id: gw\nmemory_limit: -1\n", MemoryLimitOff},
		{"id: gw\nmemory_limit: 134217728\n", 128 << 20},
	} {
		cfg, err := Parse("gw.yaml", []byte(c.yaml))
		if err != nil {
			t.Fatalf("%q: %v", c.yaml, err)
		}
		if cfg.MemoryLimit != c.want {
			t.Errorf("%q: memory_limit %d, want %d", c.yaml, cfg.MemoryLimit, c.want)
		}
	}
}
