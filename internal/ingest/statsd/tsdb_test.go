package statsd

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

// openTSDB opens a real TSDB in a temporary directory.
func openTSDB(t testing.TB) *tsdb.DB {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// point is one stored sample.
type point struct {
	T int64
	V float64
}

// isStale reports whether p is a Prometheus staleness marker.
func (p point) isStale() bool { return value.IsStaleNaN(p.V) }

// queryAll returns every sample in db by series (labels.String()).
func queryAll(t testing.TB, db storage.Queryable) map[string][]point {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
	out := map[string][]point{}
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		var pts []point
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			pts = append(pts, point{ts, v})
		}
		require.NoError(t, it.Err())
		out[s.Labels().String()] = pts
	}
	require.NoError(t, ss.Err())
	return out
}

// metaRecorder wraps an Appendable and records the metadata its
// appenders are given, by series.
type metaRecorder struct {
	storage.Appendable
	mu   sync.Mutex
	meta map[string]metadata.Metadata
}

func (r *metaRecorder) Appender(ctx context.Context) storage.Appender {
	return &metaAppender{Appender: r.Appendable.Appender(ctx), r: r}
}

func (r *metaRecorder) get(series string) (metadata.Metadata, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.meta[series]
	return m, ok
}

type metaAppender struct {
	storage.Appender
	r *metaRecorder
}

func (a *metaAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	ref, err := a.Appender.UpdateMetadata(ref, l, m)
	if err == nil {
		a.r.mu.Lock()
		if a.r.meta == nil {
			a.r.meta = map[string]metadata.Metadata{}
		}
		a.r.meta[l.String()] = m
		a.r.mu.Unlock()
	}
	return ref, err
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}
