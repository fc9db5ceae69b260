package tenant

import (
	"context"
	"sync"
	"time"

	"github.com/kiln-iot/kiln/plc"
	"github.com/kiln-iot/kiln/store"
)

// Store is a store.Store bound to one tenant: every call runs as that
// tenant (in PostgreSQL, under its row-level-security setting), and
// writes are held to the tenant's quotas.
type Store struct {
	t *Tenant
	s store.Store

	mu     sync.Mutex
	known  map[string]struct{} // tags with samples, for the tags quota
	loaded bool
}

// NewStore returns s scoped to t. Several scoped stores of one tenant
// share its rate quotas; the tag count is tracked per scoped store
// (loaded from the store on first write), so with many writers of one
// tenant the tags quota is approximate.
func NewStore(t *Tenant, s store.Store) *Store { return &Store{t: t, s: s} }

// Tenant returns the store's tenant.
func (s *Store) Tenant() *Tenant { return s.t }

// Write stores samples as the tenant, after checking the tags quota and
// taking the write and samples quotas; a refused write returns a
// *QuotaError and writes nothing.
func (s *Store) Write(ctx context.Context, samples []plc.Sample) (store.WriteResult, error) {
	newTags, err := s.checkTags(ctx, samples)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := s.t.AllowWrite(len(samples)); err != nil {
		return store.WriteResult{}, err
	}
	res, err := s.s.Write(ctx, s.t.id, samples)
	s.remember(err, newTags)
	return res, err
}

// WriteBatches stores batches as the tenant (see store.Store), held to
// the quotas as Write is, counting every sample of the batches.
func (s *Store) WriteBatches(ctx context.Context, batches []store.Batch) (store.WriteResult, error) {
	var all []plc.Sample
	if s.t.quotas.Tags != 0 {
		for i := range batches {
			all = append(all, batches[i].Samples...)
		}
	}
	newTags, err := s.checkTags(ctx, all)
	if err != nil {
		return store.WriteResult{}, err
	}
	n := 0
	for i := range batches {
		n += len(batches[i].Samples)
	}
	if err := s.t.AllowWrite(n); err != nil {
		return store.WriteResult{}, err
	}
	res, err := s.s.WriteBatches(ctx, s.t.id, batches)
	s.remember(err, newTags)
	return res, err
}

// remember adds the tags of a successful write to the known ones.
func (s *Store) remember(err error, newTags map[string]struct{}) {
	if err != nil || newTags == nil {
		return
	}
	s.mu.Lock()
	for tag := range newTags {
		s.known[tag] = struct{}{}
	}
	s.mu.Unlock()
}

// WriteSamples implements plc.Sink, so a poller or subscription can feed
// the tenant's store directly.
func (s *Store) WriteSamples(ctx context.Context, samples []plc.Sample) error {
	_, err := s.Write(ctx, samples)
	return err
}

var _ plc.Sink = (*Store)(nil)

// checkTags returns the batch's tags not yet known, or a *QuotaError when
// they would take the tenant past its tags quota.
func (s *Store) checkTags(ctx context.Context, samples []plc.Sample) (map[string]struct{}, error) {
	limit := s.t.quotas.Tags
	if limit == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		tags, err := s.s.Tags(ctx, s.t.id)
		if err != nil {
			return nil, err
		}
		s.known = make(map[string]struct{}, len(tags))
		for _, tag := range tags {
			s.known[tag] = struct{}{}
		}
		s.loaded = true
	}
	newTags := map[string]struct{}{}
	for i := range samples {
		if _, ok := s.known[samples[i].Tag]; !ok {
			newTags[samples[i].Tag] = struct{}{}
		}
	}
	if n := len(s.known) + len(newTags); n > limit {
		return nil, &QuotaError{Tenant: s.t.id, Quota: "tags", Limit: float64(limit), Requested: n}
	}
	return newTags, nil
}

// Latest returns the newest sample of each of the tenant's tags.
func (s *Store) Latest(ctx context.Context) ([]plc.Sample, error) { return s.s.Latest(ctx, s.t.id) }

// Range returns up to limit samples of tag with from <= Time < to.
func (s *Store) Range(ctx context.Context, tag string, from, to time.Time, limit int) ([]plc.Sample, error) {
	return s.s.Range(ctx, s.t.id, tag, from, to, limit)
}

// Tags returns the tenant's tags.
func (s *Store) Tags(ctx context.Context) ([]string, error) { return s.s.Tags(ctx, s.t.id) }
