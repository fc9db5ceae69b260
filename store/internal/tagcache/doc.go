// Package tagcache remembers which tags of which tenants a store already
// has, so a write registers only new tag names.
package tagcache
