package metrics

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// seriesCache maps the encoded labels of a remote-written series to its
// built labels and TSDB reference, so that a series seen before is appended
// without decoding, validating, sorting or allocating its labels. Senders
// encode a series the same way every time (Prometheus sends sorted labels),
// so the hash of the encoded labels finds it; a hit is then verified label
// by label, so a hash collision or a sender that reorders labels only costs
// the slow path.
type seriesCache struct {
	shards      [cacheShards]cacheShard
	maxPerShard int
}

const (
	cacheShards = 64
	// maxCachedSeries bounds the memory of the cache (about 300 bytes a
	// series); a full shard is emptied and refilled by the next requests.
	maxCachedSeries = 1 << 20
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*cachedSeries
}

// cachedSeries is a known series. ref is the TSDB's ephemeral reference:
// when the head has dropped the series, the TSDB looks it up by lset and
// returns a new reference, which replaces this one.
type cachedSeries struct {
	lset labels.Labels
	ref  atomic.Uint64
}

func newSeriesCache() *seriesCache {
	c := &seriesCache{maxPerShard: maxCachedSeries / cacheShards}
	for i := range c.shards {
		c.shards[i].m = map[uint64]*cachedSeries{}
	}
	return c
}

func (c *seriesCache) get(hash uint64) *cachedSeries {
	sh := &c.shards[hash%cacheShards]
	sh.mu.RLock()
	e := sh.m[hash]
	sh.mu.RUnlock()
	return e
}

func (c *seriesCache) put(hash uint64, lset labels.Labels, ref storage.SeriesRef) *cachedSeries {
	e := &cachedSeries{lset: lset}
	e.ref.Store(uint64(ref))
	sh := &c.shards[hash%cacheShards]
	sh.mu.Lock()
	if len(sh.m) >= c.maxPerShard {
		sh.m = make(map[uint64]*cachedSeries, len(sh.m)/2)
	}
	sh.m[hash] = e
	sh.mu.Unlock()
	return e
}

// mismatchError stops a label comparison early.
type mismatchError struct{}

// Error implements error.
func (mismatchError) Error() string { return "labels differ" }

// matches reports whether the raw labels (sorted by name) are lset.
func matches(lset labels.Labels, raw []rawLabel) bool {
	if lset.Len() != len(raw) {
		return false
	}
	i := 0
	err := lset.Validate(func(l labels.Label) error {
		if l.Name != string(raw[i].name) || l.Value != string(raw[i].value) {
			return mismatchError{}
		}
		i++
		return nil
	})
	return err == nil
}

// sortRaw sorts raw labels by name, if they are not sorted already.
func sortRaw(raw []rawLabel) {
	for i := 1; i < len(raw); i++ {
		if string(raw[i-1].name) > string(raw[i].name) {
			slices.SortFunc(raw, func(a, b rawLabel) int {
				switch {
				case string(a.name) < string(b.name):
					return -1
				case string(a.name) > string(b.name):
					return 1
				}
				return 0
			})
			return
		}
	}
}
