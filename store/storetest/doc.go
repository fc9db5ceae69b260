// Package storetest checks that a store.Store keeps the contract every
// implementation shares: faithful values, idempotent writes, tenants kept
// apart, ranges, latest values and validation. pgstore and sqlitestore run
// it against a real PostgreSQL and a real SQLite file:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmptyStore(t) })
//	}
package storetest
