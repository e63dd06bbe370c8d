package logs

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// inflight bounds the bytes of request bodies that are being decoded or
// wait for their events to be committed.
//
// A 10,000-line batch of access logs is ~3 MB on the wire and three times
// that once parsed, and it stays in memory until the writer commits it.
// The writer, not the parser, sets the pace, so letting every client parse
// at once only piles up parsed batches: bodies beyond the bound wait, with
// just their bytes, for earlier ones to be committed. Small batches from
// many clients fit side by side and still share commits. A body larger
// than the bound takes all of it and runs alone.
type inflight struct {
	sem *semaphore.Weighted
	max int64
}

// newInflight returns a bound of max bytes, or nil (no bound) for max <= 0.
func newInflight(max int64) *inflight {
	if max <= 0 {
		return nil
	}
	return &inflight{sem: semaphore.NewWeighted(max), max: max}
}

// acquire waits until n bytes fit and returns the function that gives them
// back. It fails only when ctx ends first.
func (f *inflight) acquire(ctx context.Context, n int) (func(), error) {
	if f == nil {
		return func() {}, nil
	}
	w := min(int64(n), f.max)
	if err := f.sem.Acquire(ctx, w); err != nil {
		return nil, fmt.Errorf("wait for ingest capacity: %w", err)
	}
	return func() { f.sem.Release(w) }, nil
}
