package gatewayconf

// MemoryLimitOff is the memory_limit value that turns the gateway's own soft
// memory limit off: it sets none, and only GOMEMLIMIT (if set) applies.
const MemoryLimitOff = -1

// The automatic soft memory limit: a base for the runtime, the HTTP server,
// the spool and the transport, plus an allowance per tag a little above the
// live heap a tag costs (the point database's tag, the poller's buffers,
// the driver's prepared reads and the writer's index: about 830 bytes,
// measured by plc/s7's BenchmarkFootprint), so the allowance grows faster
// than the live heap; never below a floor that small configurations do not
// notice. 100,000 tags get about 119 MiB.
const (
	autoMemoryBase   = 24 << 20
	autoMemoryPerTag = 1000
	autoMemoryFloor  = 64 << 20
)

// AutoMemoryLimit is the soft memory limit in bytes the gateway sets for a
// point database of tags tags when neither memory_limit nor GOMEMLIMIT
// says otherwise: 24 MiB plus 1,000 bytes per tag, at least 64 MiB.
func AutoMemoryLimit(tags int) int64 {
	limit := int64(autoMemoryBase) + int64(max(tags, 0))*autoMemoryPerTag
	return max(limit, autoMemoryFloor)
}

// MemoryLimitSource says where the gateway's soft memory limit comes from.
type MemoryLimitSource string

// The sources MemoryLimitFor reports.
const (
	// MemoryLimitFromConfig: memory_limit (or a flag) gave the bytes.
	MemoryLimitFromConfig MemoryLimitSource = "config"
	// MemoryLimitFromEnv: the GOMEMLIMIT environment variable, which the
	// Go runtime has already applied.
	MemoryLimitFromEnv MemoryLimitSource = "GOMEMLIMIT"
	// MemoryLimitAuto: AutoMemoryLimit of the tag count.
	MemoryLimitAuto MemoryLimitSource = "auto"
	// MemoryLimitDisabled: memory_limit is MemoryLimitOff.
	MemoryLimitDisabled MemoryLimitSource = "off"
)

// MemoryLimitFor decides the soft memory limit for a point database of tags
// tags, given the GOMEMLIMIT environment variable's value (env; "" when it
// is not set). In order: memory_limit > 0 is used as it is; memory_limit
// MemoryLimitOff sets none; a set GOMEMLIMIT is left to the runtime; else
// AutoMemoryLimit(tags). It returns the bytes the gateway must pass to
// runtime/debug.SetMemoryLimit (0: set nothing) and where the decision came
// from.
func (c Config) MemoryLimitFor(tags int, env string) (int64, MemoryLimitSource) {
	switch {
	case c.MemoryLimit > 0:
		return c.MemoryLimit, MemoryLimitFromConfig
	case c.MemoryLimit == MemoryLimitOff:
		return 0, MemoryLimitDisabled
	case env != "":
		return 0, MemoryLimitFromEnv
	default:
		return AutoMemoryLimit(tags), MemoryLimitAuto
	}
}
