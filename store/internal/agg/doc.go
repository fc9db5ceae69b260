// Package agg folds one tag's samples, in time order, into the buckets
// of a store.AggregateQuery, in one pass whatever the backend:
//
//	f := agg.New(q)
//	f.Prior(p)          // the tag's last sample before q.From, if any
//	for each sample { f.Add(agg.Of(kind, num, status, micros)) }
//	buckets := f.Buckets()
package agg
