package tagcache

import (
	"sync"

	"github.com/kiln-iot/kiln/plc"
)

// maxEntries bounds the memory held; past it the cache starts over, which
// costs only some redundant (idempotent) registrations.
const maxEntries = 1 << 20

// Cache is a set of (tenant, tag) pairs, safe for concurrent use.
type Cache struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
	n  int
}

// Missing returns the distinct tags of samples not known for tenant.
func (c *Cache) Missing(tenant string, samples []plc.Sample) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := c.m[tenant]
	var out []string
	var seen map[string]struct{}
	prev := ""
	for i := range samples {
		tag := samples[i].Tag
		if tag == prev {
			continue
		}
		prev = tag
		if _, ok := known[tag]; ok {
			continue
		}
		if seen == nil {
			seen = make(map[string]struct{})
		}
		if _, ok := seen[tag]; ok {
			continue
		}
		seen[tag] = struct{}{}
		out = append(out, tag)
	}
	return out
}

// Add records tags as known for tenant.
func (c *Cache) Add(tenant string, tags []string) {
	if len(tags) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.n+len(tags) > maxEntries {
		c.m, c.n = make(map[string]map[string]struct{}), 0
	}
	known := c.m[tenant]
	if known == nil {
		known = make(map[string]struct{})
		c.m[tenant] = known
	}
	for _, t := range tags {
		if _, ok := known[t]; !ok {
			known[t] = struct{}{}
			c.n++
		}
	}
}
