package statsd

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// reason is why a sample was not aggregated; it is the reason label of
// sonde_ingest_samples_rejected_total.
type reason uint8

const (
	accepted reason = iota
	rejectInvalid
	rejectUnsupported
	rejectNegativeCounter
	rejectTypeConflict
	rejectTooManySeries
	rejectTooLarge
	numReasons
)

var reasonNames = [numReasons]string{
	accepted:              "",
	rejectInvalid:         "invalid",
	rejectUnsupported:     "unsupported",
	rejectNegativeCounter: "negative_counter",
	rejectTypeConflict:    "type_conflict",
	rejectTooManySeries:   "too_many_series",
	rejectTooLarge:        "too_large",
}

// nShards is the number of aggregation shards; a power of two.
const nShards = 64

// table aggregates samples between flushes. Readers look a sample's key
// (name, type, tags and container as sent) up in one of nShards maps by
// its hash; the key leads to a series, which may be shared by several
// keys that map to the same Prometheus series (tags in another order,
// names that escape alike). Creating keys and series and removing them
// happens under mu; lock order is mu, then a shard, then a series.
type table struct {
	seed   maphash.Seed
	shards [nShards]shard

	mu       sync.Mutex
	series   map[string]*series // by canonical key (type, name, labels)
	claims   map[string]*claim  // output metric name -> the family that uses it
	rejected []*alias           // negative keys, forgotten at every flush
	nKeys    atomic.Int64       // aliases in the shards, positive and negative

	held atomic.Int64 // timer values and set members held

	maxSeries int64
	maxValues int64
	outputs   outputTemplates
}

type shard struct {
	mu sync.Mutex
	m  map[uint64]*alias
	_  [40]byte // keep shards on separate cache lines
}

// alias is one spelling of a series: a key as sent. s is nil for a key
// that was rejected (why says why) until the next flush.
type alias struct {
	hash                  uint64
	name, tags, container string
	typ                   Type
	next                  *alias // same hash
	s                     *series
	why                   reason
}

func (a *alias) matches(s *Sample) bool {
	return a.typ == s.Type && a.name == string(s.Name) && a.tags == string(s.Tags) && a.container == string(s.Container)
}

// claim records which family owns an output metric name, so that a
// counter and a gauge never write the same series.
type claim struct {
	owner string // type and escaped name
	refs  int
}

func newTable(maxSeries, maxValues int, outputs outputTemplates) *table {
	t := &table{
		seed:      maphash.MakeSeed(),
		series:    map[string]*series{},
		claims:    map[string]*claim{},
		maxSeries: int64(maxSeries),
		maxValues: int64(maxValues),
		outputs:   outputs,
	}
	for i := range t.shards {
		t.shards[i].m = map[uint64]*alias{}
	}
	return t
}

func (t *table) hash(s *Sample) uint64 {
	const m = 0x9E3779B97F4A7C15
	h := maphash.Bytes(t.seed, s.Name)
	h = (h ^ uint64(s.Type)) * m
	if len(s.Tags) > 0 {
		h = (h ^ maphash.Bytes(t.seed, s.Tags)) * m
	}
	if len(s.Container) > 0 {
		h = (h ^ maphash.Bytes(t.seed, s.Container)) * m
	}
	return h
}

// observe aggregates one sample. When the sample's key is new and some of
// its tags could not be made labels, tagsDropped says how many.
func (t *table) observe(smp *Sample) (why reason, tagsDropped int) {
	if smp.Type == Counter && smp.Value < 0 {
		// Prometheus counters only go up; statsd_exporter refuses these too.
		return rejectNegativeCounter, 0
	}
	h := t.hash(smp)
	sh := &t.shards[h&(nShards-1)]
	for {
		sh.mu.Lock()
		a := sh.m[h]
		for a != nil && !a.matches(smp) {
			a = a.next
		}
		sh.mu.Unlock()
		if a == nil {
			a, why, tagsDropped = t.create(smp, h)
			if a == nil {
				return why, tagsDropped
			}
		}
		s := a.s
		if s == nil {
			return a.why, tagsDropped
		}
		s.mu.Lock()
		if s.dead {
			// Expired by a flush after the lookup: look again.
			s.mu.Unlock()
			continue
		}
		t.apply(s, smp)
		s.mu.Unlock()
		return accepted, tagsDropped
	}
}

// apply adds smp to the interval state of s, whose lock is held.
func (t *table) apply(s *series, smp *Sample) {
	iv := &s.iv
	iv.touched = true
	switch smp.Type {
	case Counter:
		iv.count += smp.Value / smp.Rate
	case Gauge:
		if smp.Delta {
			s.gauge += smp.Value // from 0 for a new gauge, as etsy does
		} else {
			s.gauge = smp.Value
		}
	case Set:
		m := maphash.Bytes(t.seed, smp.SetValue)
		if iv.members == nil {
			iv.members = map[uint64]struct{}{}
		}
		if _, ok := iv.members[m]; ok {
			return
		}
		if t.held.Add(1) > t.maxValues {
			t.held.Add(-1)
			iv.unheld++
			return
		}
		iv.members[m] = struct{}{}
	default: // observers
		v := smp.Value
		iv.count += 1 / smp.Rate
		iv.csum += v / smp.Rate
		iv.n++
		iv.sum += v
		iv.sumsq += v * v
		if iv.n == 1 || v < iv.min {
			iv.min = v
		}
		if iv.n == 1 || v > iv.max {
			iv.max = v
		}
		d := v - iv.wmean
		iv.wmean += d / float64(iv.n)
		iv.wm2 += d * (v - iv.wmean)
		if int64(len(iv.values)) == iv.n-1 { // every value so far is held
			if t.held.Add(1) <= t.maxValues {
				iv.values = append(iv.values, v)
				return
			}
			t.held.Add(-1) // the budget is spent: from now on, sample
		}
		iv.unheld++
		// Reservoir sampling (algorithm R) keeps a uniform sample of the
		// interval's values in the slots held so far.
		if len(iv.values) > 0 {
			if j := rand.Int64N(iv.n); j < int64(len(iv.values)) {
				iv.values[j] = v
			}
		}
	}
}

// create adds the key of smp, and its series if it has none yet. It
// returns the alias, or nil and why the sample is rejected, and the number
// of tags that could not be made labels.
func (t *table) create(smp *Sample, h uint64) (*alias, reason, int) {
	if t.nKeys.Load() >= t.maxSeries {
		return nil, rejectTooManySeries, 0
	}
	base := escapeName(smp.Name)
	reserved := ""
	if smp.Type.observer() {
		reserved = "quantile"
	}
	ls, badTags := tagLabels(smp.Tags, smp.Container, reserved)
	ckey := canonicalKey(smp.Type, base, ls)

	t.mu.Lock()
	defer t.mu.Unlock()
	sh := &t.shards[h&(nShards-1)]
	sh.mu.Lock()
	for a := sh.m[h]; a != nil; a = a.next {
		if a.matches(smp) {
			sh.mu.Unlock()
			return a, accepted, 0 // another reader was first
		}
	}
	sh.mu.Unlock()
	if t.nKeys.Load() >= t.maxSeries {
		return nil, rejectTooManySeries, 0
	}
	a := &alias{hash: h, name: string(smp.Name), tags: string(smp.Tags), container: string(smp.Container), typ: smp.Type}
	s := t.series[ckey]
	if s == nil {
		names := t.outputs.names(smp.Type, base)
		owner := smp.Type.String() + " " + base
		for _, n := range names {
			if c := t.claims[n]; c != nil && c.owner != owner {
				a.why = rejectTypeConflict
				t.rejected = append(t.rejected, a)
				t.insert(sh, a)
				return a, accepted, badTags
			}
		}
		for _, n := range names {
			c := t.claims[n]
			if c == nil {
				c = &claim{owner: owner}
				t.claims[n] = c
			}
			c.refs++
		}
		s = &series{typ: smp.Type, key: ckey, base: base, raw: a.name, labels: ls, names: names}
		t.series[ckey] = s
	}
	a.s = s
	s.aliases = append(s.aliases, a)
	t.insert(sh, a)
	return a, accepted, badTags
}

// insert links a into its shard; t.mu is held.
func (t *table) insert(sh *shard, a *alias) {
	sh.mu.Lock()
	a.next = sh.m[a.hash]
	sh.m[a.hash] = a
	sh.mu.Unlock()
	t.nKeys.Add(1)
}

// unlink removes a from its shard; t.mu is held.
func (t *table) unlink(a *alias) {
	sh := &t.shards[a.hash&(nShards-1)]
	sh.mu.Lock()
	p := sh.m[a.hash]
	if p == a {
		if a.next == nil {
			delete(sh.m, a.hash)
		} else {
			sh.m[a.hash] = a.next
		}
	} else {
		for p != nil && p.next != a {
			p = p.next
		}
		if p != nil {
			p.next = a.next
		}
	}
	sh.mu.Unlock()
	t.nKeys.Add(-1)
}

// forgetRejected removes the negative keys, so that a conflict is looked
// at again after the family in the way expired.
func (t *table) forgetRejected() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range t.rejected {
		t.unlink(a)
	}
	clear(t.rejected)
	t.rejected = t.rejected[:0]
}

// snapshot appends every series to dst.
func (t *table) snapshot(dst []*series) []*series {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.series {
		dst = append(dst, s)
	}
	return dst
}

// expire removes s if it has not been touched since the flush that
// decided to expire it. It reports whether s is gone.
func (t *table) expire(s *series) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.mu.Lock()
	if s.iv.touched {
		s.mu.Unlock()
		return false
	}
	s.dead = true
	s.mu.Unlock()
	for _, a := range s.aliases {
		t.unlink(a)
	}
	delete(t.series, s.key)
	for _, n := range s.names {
		if c := t.claims[n]; c != nil {
			if c.refs--; c.refs == 0 {
				delete(t.claims, n)
			}
		}
	}
	return true
}

// canonicalKey identifies a Prometheus series family member: type,
// escaped name and sorted labels.
func canonicalKey(t Type, base string, ls labels.Labels) string {
	var sb strings.Builder
	sb.WriteString(t.String())
	sb.WriteByte(0)
	sb.WriteString(base)
	ls.Range(func(l labels.Label) {
		sb.WriteByte(0)
		sb.WriteString(l.Name)
		sb.WriteByte(0xff)
		sb.WriteString(l.Value)
	})
	return sb.String()
}

// series is one aggregated series: the state of its current flush
// interval (iv, and the gauge value, which persists), and what the
// flusher keeps between flushes.
type series struct {
	mu    sync.Mutex
	dead  bool
	iv    interval
	gauge float64

	// Immutable after creation.
	typ    Type
	key    string
	base   string        // escaped name
	raw    string        // the name as first sent, for help texts
	labels labels.Labels // from the tags
	names  []string      // output metric names

	// Under t.mu.
	aliases []*alias

	// Owned by the flusher.
	total      float64 // counter: cumulative count
	sumTotal   float64 // observer: cumulative sum of value/rate
	countTotal float64 // observer: cumulative count
	lastUpdate time.Time
	out        []output
}

// interval is what a series gathered since the last flush.
type interval struct {
	touched bool
	// Counter: sum of value/rate. Observers: sum of 1/rate.
	count float64
	// Observers.
	csum       float64 // sum of value/rate
	n          int64   // values seen
	sum, sumsq float64 // of the values seen
	min, max   float64
	wmean, wm2 float64 // Welford's running mean and squared deviations
	values     []float64
	unheld     int64 // values or members beyond the budget
	members    map[uint64]struct{}
}

// take returns the interval state of s and resets it, releasing the
// budget its values held.
func (t *table) take(s *series) (iv interval, gauge float64) {
	s.mu.Lock()
	iv, gauge = s.iv, s.gauge
	s.iv = interval{}
	s.mu.Unlock()
	if held := int64(len(iv.values) + len(iv.members)); held > 0 {
		t.held.Add(-held)
	}
	return iv, gauge
}
