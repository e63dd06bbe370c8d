package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
)

// maxMetadataFamilies bounds the metric families whose metadata is kept, so
// that a client inventing names cannot grow it without limit.
const maxMetadataFamilies = 100_000

// maxMetadataPerFamily bounds the distinct metadata kept for one family.
const maxMetadataPerFamily = 8

// metadataStore remembers the type, help and unit of metric families that
// were pushed (remote write, statsd, OTLP, EMF...). Scraped families are
// answered from the scrape targets instead, as Prometheus does. It is
// persisted as JSON beside the TSDB so that /api/v1/metadata answers after
// a restart, before clients send metadata again.
type metadataStore struct {
	path string
	mu   sync.RWMutex
	// families maps a family name to its distinct metadata and when each
	// was last set (Unix ms), for expiry with retention.
	families map[string]map[metadata.Metadata]int64
	dirty    bool
	now      func() time.Time
}

// metadataFile is the persisted form.
type metadataFile struct {
	Families map[string][]metadataEntry `json:"families"`
}

type metadataEntry struct {
	Type     model.MetricType `json:"type"`
	Help     string           `json:"help"`
	Unit     string           `json:"unit"`
	LastSeen int64            `json:"lastSeen"`
}

func newMetadataStore(path string) (*metadataStore, error) {
	m := &metadataStore{path: path, families: map[string]map[metadata.Metadata]int64{}, now: time.Now}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	var f metadataFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("decode metadata %s: %w", path, err)
	}
	for name, entries := range f.Families {
		set := map[metadata.Metadata]int64{}
		for _, e := range entries {
			set[metadata.Metadata{Type: e.Type, Help: e.Help, Unit: e.Unit}] = e.LastSeen
		}
		m.families[name] = set
	}
	return m, nil
}

// set records md for family. A family keeps every distinct metadata it was
// given (as Prometheus lists one entry per distinct target metadata), up
// to maxMetadataPerFamily: beyond it the least recently set goes, so that a
// help text a client keeps editing does not pile up.
func (m *metadataStore) set(family string, md metadata.Metadata) {
	if family == "" || (md.Type == "" && md.Help == "" && md.Unit == "") {
		return
	}
	if md.Type == "" {
		md.Type = model.MetricTypeUnknown
	}
	now := m.now().UnixMilli()
	m.mu.RLock()
	seen, ok := m.families[family][md]
	m.mu.RUnlock()
	if ok && now-seen < time.Minute.Milliseconds() {
		return // fresh enough: the common case takes only a read lock
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.families[family]
	if set == nil {
		if len(m.families) >= maxMetadataFamilies {
			return
		}
		set = map[metadata.Metadata]int64{}
		m.families[strings.Clone(family)] = set
	}
	if _, ok := set[md]; !ok {
		md.Help, md.Unit = strings.Clone(md.Help), strings.Clone(md.Unit)
		if len(set) >= maxMetadataPerFamily {
			var oldest metadata.Metadata
			oldestSeen := int64(math.MaxInt64)
			for old, seen := range set {
				if seen < oldestSeen {
					oldest, oldestSeen = old, seen
				}
			}
			delete(set, oldest)
		}
	}
	set[md] = now
	m.dirty = true
}

// each calls fn for every family and metadata, families sorted.
func (m *metadataStore) each(fn func(family string, md metadata.Metadata)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.families))
	for n := range m.families {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, md := range sortedMetadata(m.families[n]) {
			fn(n, md)
		}
	}
}

// sortedMetadata lists a family's metadata in a stable order.
func sortedMetadata(set map[metadata.Metadata]int64) []metadata.Metadata {
	out := make([]metadata.Metadata, 0, len(set))
	for md := range set {
		out = append(out, md)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Help != b.Help {
			return a.Help < b.Help
		}
		return a.Unit < b.Unit
	})
	return out
}

// get returns the metadata of one family.
func (m *metadataStore) get(family string) []metadata.Metadata {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return sortedMetadata(m.families[family])
}

// expire forgets metadata not set since before cutoff.
func (m *metadataStore) expire(cutoff time.Time) {
	c := cutoff.UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, set := range m.families {
		for md, seen := range set {
			if seen < c {
				delete(set, md)
				m.dirty = true
			}
		}
		if len(set) == 0 {
			delete(m.families, name)
		}
	}
}

// save writes the store if it changed, atomically (temp file + rename).
func (m *metadataStore) save() error {
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	f := metadataFile{Families: make(map[string][]metadataEntry, len(m.families))}
	for name, set := range m.families {
		for md, seen := range set {
			f.Families[name] = append(f.Families[name], metadataEntry{Type: md.Type, Help: md.Help, Unit: md.Unit, LastSeen: seen})
		}
	}
	m.dirty = false
	m.mu.Unlock()
	data, err := json.Marshal(f)
	if err == nil {
		err = writeFileAtomic(m.path, data)
	}
	if err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		return fmt.Errorf("save metadata: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// familyName derives a metric family name from a series name, for
// metadata given per series: the suffixes that Prometheus' exposition
// formats add to histogram and summary series (_bucket, _count, _sum) are
// removed. Counter names keep their _total, as in the Prometheus text
// format, whose metadata names it.
func familyName(series string, typ model.MetricType) string {
	switch typ {
	case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram:
		for _, s := range []string{"_bucket", "_count", "_sum", "_gcount", "_gsum"} {
			if f, ok := strings.CutSuffix(series, s); ok {
				return f
			}
		}
	case model.MetricTypeSummary:
		for _, s := range []string{"_count", "_sum"} {
			if f, ok := strings.CutSuffix(series, s); ok {
				return f
			}
		}
	}
	return series
}
