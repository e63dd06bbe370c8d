package derive_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/derive"
)

// recorder is an AppendableV2 that keeps the committed samples.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

type sample struct {
	lset labels.Labels
	t    int64
	v    float64
}

func (r *recorder) AppenderV2(context.Context) storage.AppenderV2 { return &recApp{r: r} }

func (r *recorder) of(name string) []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sample
	for _, s := range r.samples {
		if s.lset.Get(labels.MetricName) == name {
			out = append(out, s)
		}
	}
	return out
}

type recApp struct {
	r       *recorder
	pending []sample
}

func (a *recApp) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, _ *histogram.Histogram, _ *histogram.FloatHistogram, _ storage.AppendV2Options) (storage.SeriesRef, error) {
	a.pending = append(a.pending, sample{ls, t, v})
	return storage.SeriesRef(ls.Hash()), nil
}

func (a *recApp) Commit() error {
	a.r.mu.Lock()
	a.r.samples = append(a.r.samples, a.pending...)
	a.r.mu.Unlock()
	return nil
}

func (a *recApp) Rollback() error { return nil }

func TestRunFlushesAndIdleSeriesEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		d, err := derive.New(derive.Options{Appendable: rec, RED: derive.REDOptions{Enabled: true}})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- d.Run() }()
		d.Observe(parse(t, "web", `{"method":"GET","route":"/a","status":200,"latency_ms":5}`))
		time.Sleep(derive.DefaultFlushInterval + time.Second)
		got := rec.of(derive.REDRequests)
		require.Len(t, got, 1, "the timer flushed")
		require.Equal(t, 1.0, got[0].v)

		// Idle for longer than IdleTimeout: the series ends with a
		// staleness marker and is written no more.
		time.Sleep(derive.DefaultIdleTimeout)
		synctest.Wait()
		got = rec.of(derive.REDRequests)
		last := got[len(got)-1]
		require.True(t, value.IsStaleNaN(last.v), "last sample %v", last.v)
		n := len(got)
		time.Sleep(3 * derive.DefaultFlushInterval)
		require.Len(t, rec.of(derive.REDRequests), n)

		// Close stops Run and writes what is left.
		d.Observe(parse(t, "web", `{"method":"GET","route":"/a","status":200,"latency_ms":5}`))
		require.NoError(t, d.Close())
		require.NoError(t, <-done)
		got = rec.of(derive.REDRequests)
		require.Equal(t, 1.0, got[len(got)-1].v, "a new series starts from zero")
		require.False(t, math.IsNaN(got[len(got)-1].v))
		require.NoError(t, d.Close(), "Close twice")
	})
}
