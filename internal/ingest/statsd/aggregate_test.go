package statsd

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/metrics/batch"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// aggEnv is a server fed directly with datagrams, flushed at chosen times
// into a real TSDB.
type aggEnv struct {
	t       *testing.T
	srv     *Server
	db      *tsdb.DB
	rec     *metaRecorder
	metrics *selfmon.Metrics
	parser  Parser
	base    time.Time
}

func newAggEnv(t *testing.T, opts Options) *aggEnv {
	t.Helper()
	db := openTSDB(t)
	e := &aggEnv{t: t, db: db, rec: &metaRecorder{Appendable: db}, metrics: selfmon.New(func() float64 { return 0 })}
	opts.Appendable, opts.Metrics = e.rec, e.metrics
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Hour // the tests flush by hand
	}
	srv, err := New(opts)
	require.NoError(t, err)
	e.srv = srv
	e.base = time.Now().Truncate(time.Second)
	srv.lastFlush = e.base
	t.Cleanup(func() { require.NoError(t, srv.Shutdown(context.Background())) })
	return e
}

// feed hands the server one datagram.
func (e *aggEnv) feed(lines ...string) {
	var st batchStats
	e.srv.handleDatagram(&e.parser, []byte(strings.Join(lines, "\n")), nil, &st)
	e.srv.publish(&st)
}

// flush flushes as if sec seconds had passed since the start.
func (e *aggEnv) flush(sec int) int64 {
	e.t.Helper()
	now := e.base.Add(time.Duration(sec) * time.Second)
	e.srv.flushMu.Lock()
	defer e.srv.flushMu.Unlock()
	require.NoError(e.t, e.srv.flush(context.Background(), now))
	return now.UnixMilli()
}

func (e *aggEnv) stored() map[string][]point { return queryAll(e.t, e.db) }

func (e *aggEnv) rejected(reason string) float64 {
	return counterValue(e.t, e.srv.metrics.rejected[reasonIndex(reason)])
}

func reasonIndex(name string) reason {
	for r, n := range reasonNames {
		if n == name {
			return reason(r)
		}
	}
	panic("unknown reason " + name)
}

// last returns the last sample of a series, failing when there is none.
func last(t *testing.T, got map[string][]point, series string) point {
	t.Helper()
	pts, ok := got[series]
	require.True(t, ok, "series %s not stored; have %v", series, keys(got))
	require.NotEmpty(t, pts)
	return pts[len(pts)-1]
}

func keys(m map[string][]point) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCounters(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("api.requests:1|c", "api.requests:2|c|@0.5", "api.requests:|c", "api.requests:3|c|#code:200")
	t1 := e.flush(10)
	e.feed("api.requests:5|c")
	t2 := e.flush(20)
	t3 := e.flush(30) // no update: the cumulative value is written again

	got := e.stored()
	require.Equal(t, []point{{t1, 6}, {t2, 11}, {t3, 11}}, got[`{__name__="api_requests_total"}`])
	require.Equal(t, []point{{t1, 3}, {t2, 3}, {t3, 3}}, got[`{__name__="api_requests_total", code="200"}`])
	m, ok := e.rec.get(`{__name__="api_requests_total"}`)
	require.True(t, ok)
	require.Equal(t, model.MetricTypeCounter, m.Type)
	require.Equal(t, `Statsd counter "api.requests".`, m.Help)
	require.Equal(t, 5.0, counterValue(t, e.srv.metrics.accepted))
	require.Equal(t, 6.0, counterValue(t, e.srv.metrics.written))
}

func TestNegativeCounterRejected(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("c:-1|c", "c:2|c")
	ts := e.flush(10)
	require.Equal(t, []point{{ts, 2}}, e.stored()[`{__name__="c_total"}`])
	require.Equal(t, 1.0, e.rejected("negative_counter"))
}

func TestGauges(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("temp:20|g", "temp:+5|g", "temp:-3|g", "fresh:-10|g", "load:1|g|@0.1")
	t1 := e.flush(10)
	e.feed("temp:-30|g") // a delta: 22 - 30
	t2 := e.flush(20)
	e.feed("temp:7|g")
	t3 := e.flush(30)
	t4 := e.flush(40)

	got := e.stored()
	require.Equal(t, []point{{t1, 22}, {t2, -8}, {t3, 7}, {t4, 7}}, got[`{__name__="temp"}`])
	require.Equal(t, []point{{t1, -10}, {t2, -10}, {t3, -10}, {t4, -10}}, got[`{__name__="fresh"}`])
	require.Equal(t, 1.0, last(t, got, `{__name__="load"}`).V, "gauges ignore the sample rate")
	m, _ := e.rec.get(`{__name__="temp"}`)
	require.Equal(t, model.MetricTypeGauge, m.Type)
}

func TestSets(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("users:alice|s", "users:bob|s", "users:alice|s|@0.1", "users:carol|s|#env:dev")
	t1 := e.flush(10)
	e.feed("users:dave|s")
	t2 := e.flush(20)
	t3 := e.flush(30)
	got := e.stored()
	require.Equal(t, []point{{t1, 2}, {t2, 1}, {t3, 0}}, got[`{__name__="users"}`])
	require.Equal(t, []point{{t1, 1}, {t2, 0}, {t3, 0}}, got[`{__name__="users", env="dev"}`])
}

// timerValues are 10, 20, ... 100 ms, sent in a shuffled order.
var timerValues = []int{70, 10, 100, 40, 20, 90, 30, 60, 50, 80}

func TestTimerAggregates(t *testing.T) {
	e := newAggEnv(t, Options{Percentiles: []float64{90, -10, 99.9}})
	var lines []string
	for _, v := range timerValues {
		lines = append(lines, fmt.Sprintf("api.latency:%d|ms|@0.5|#env:prod", v))
	}
	e.feed(lines...)
	ts := e.flush(10)

	got := e.stored()
	val := func(name string, extra ...string) float64 {
		t.Helper()
		l := `{__name__="api_latency` + name + `", env="prod"`
		for _, x := range extra {
			l += ", " + x
		}
		p := last(t, got, l+"}")
		require.Equal(t, ts, p.T)
		return p.V
	}
	const eps = 1e-12
	// The summary, in seconds; counts corrected by the sample rate.
	require.InDelta(t, 20, val("_count"), eps)
	require.InDelta(t, 1.1, val("_sum"), eps) // 550 ms / 0.5
	require.InDelta(t, 0.050, val("", `quantile="0.5"`), eps)
	require.InDelta(t, 0.090, val("", `quantile="0.9"`), eps)
	require.InDelta(t, 0.100, val("", `quantile="0.99"`), eps)
	// Etsy's statistics over the sorted values 10..100 ms.
	require.InDelta(t, 2, val("_count_ps"), eps) // 20 in 10 s
	require.InDelta(t, 0.010, val("_lower"), eps)
	require.InDelta(t, 0.100, val("_upper"), eps)
	require.InDelta(t, 0.055, val("_mean"), eps)
	require.InDelta(t, 0.055, val("_median"), eps)
	require.InDelta(t, math.Sqrt(825)/1000, val("_std"), eps)
	require.InDelta(t, 38500e-6, val("_sum_squares"), eps)
	// upper_90: 9 of 10 values.
	require.InDelta(t, 9, val("_count_90"), eps)
	require.InDelta(t, 0.090, val("_upper_90"), eps)
	require.InDelta(t, 0.050, val("_mean_90"), eps)
	require.InDelta(t, 0.450, val("_sum_90"), eps)
	require.InDelta(t, 28500e-6, val("_sum_squares_90"), eps)
	// lower_top10: the top value.
	require.InDelta(t, 1, val("_count_top10"), eps)
	require.InDelta(t, 0.100, val("_lower_top10"), eps)
	require.InDelta(t, 0.100, val("_mean_top10"), eps)
	require.InDelta(t, 0.100, val("_sum_top10"), eps)
	// 99.9: all 10 values.
	require.InDelta(t, 10, val("_count_99_9"), eps)
	require.InDelta(t, 0.100, val("_upper_99_9"), eps)

	m, ok := e.rec.get(`{__name__="api_latency", env="prod", quantile="0.9"}`)
	require.True(t, ok)
	require.Equal(t, model.MetricTypeSummary, m.Type)
	require.Equal(t, "seconds", m.Unit)
	m, _ = e.rec.get(`{__name__="api_latency_upper_90", env="prod"}`)
	require.Equal(t, model.MetricTypeGauge, m.Type)
	require.Contains(t, m.Help, "upper_90")
}

func TestTimerEtsyRounding(t *testing.T) {
	// Etsy: one value is its own percentile; two values at 90% round to
	// both; an even count has the mean of the middle two as median.
	e := newAggEnv(t, Options{Quantiles: []float64{}})
	e.feed("one:5|ms", "two:5|ms", "two:7|ms", "three:1|h", "three:2|h", "three:30|h")
	ts := e.flush(10)
	got := e.stored()
	require.Equal(t, point{ts, 0.005}, last(t, got, `{__name__="one_upper_90"}`))
	require.Equal(t, point{ts, 1}, last(t, got, `{__name__="one_count_90"}`))
	require.Equal(t, point{ts, 0.007}, last(t, got, `{__name__="two_upper_90"}`))
	require.Equal(t, point{ts, 0.006}, last(t, got, `{__name__="two_median"}`))
	// Histograms are not scaled; round(0.9*3) = 3.
	require.Equal(t, point{ts, 30}, last(t, got, `{__name__="three_upper_90"}`))
	require.Equal(t, point{ts, 11}, last(t, got, `{__name__="three_mean"}`))
	require.Equal(t, point{ts, 2}, last(t, got, `{__name__="three_median"}`))
	require.Equal(t, point{ts, 33}, last(t, got, `{__name__="three_sum"}`))
	for k := range got {
		require.NotContains(t, k, "quantile", "no quantiles when Quantiles is empty")
	}
}

func TestPackedAndMultiSamples(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("lat:1:2:3|d|#a:b", "glork:320|ms:330|ms")
	ts := e.flush(10)
	got := e.stored()
	require.Equal(t, point{ts, 3}, last(t, got, `{__name__="lat_count", a="b"}`))
	require.Equal(t, point{ts, 6}, last(t, got, `{__name__="lat_sum", a="b"}`))
	require.Equal(t, point{ts, 2}, last(t, got, `{__name__="glork_count"}`))
	require.InDelta(t, 0.65, last(t, got, `{__name__="glork_sum"}`).V, 1e-12)
}

func TestEmptyIntervalMarksStatisticsStale(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("t:10|ms")
	t1 := e.flush(10)
	t2 := e.flush(20) // no values
	t3 := e.flush(30) // still none: no second marker
	e.feed("t:20|ms")
	t4 := e.flush(40)

	got := e.stored()
	require.Equal(t, []point{{t1, 1}, {t2, 1}, {t3, 1}, {t4, 2}}, got[`{__name__="t_count"}`])
	require.Equal(t, []point{{t1, 0.1}, {t2, 0}, {t3, 0}, {t4, 0.1}}, got[`{__name__="t_count_ps"}`])
	upper := got[`{__name__="t_upper"}`]
	require.Len(t, upper, 3)
	require.Equal(t, point{t1, 0.010}, upper[0])
	require.Equal(t, t2, upper[1].T)
	require.True(t, upper[1].isStale())
	require.Equal(t, point{t4, 0.020}, upper[2])
}

func TestExpiry(t *testing.T) {
	e := newAggEnv(t, Options{StaleAfter: 25 * time.Second})
	e.feed("c:1|c", "g:5|g", "t:1|ms", "keep:1|c")
	e.flush(10)
	e.feed("keep:1|c")
	e.flush(20)
	e.feed("keep:1|c")
	t3 := e.flush(40) // c, g and t idle for 30 s: dropped and marked stale
	require.EqualValues(t, 1, e.srv.table.nKeys.Load())

	got := e.stored()
	for _, s := range []string{`{__name__="c_total"}`, `{__name__="g"}`, `{__name__="t_count"}`, `{__name__="t_sum"}`, `{__name__="t_count_ps"}`} {
		p := last(t, got, s)
		require.Equal(t, t3, p.T, s)
		require.True(t, p.isStale(), s)
	}
	// The interval statistics were marked stale by the first empty flush.
	require.True(t, last(t, got, `{__name__="t", quantile="0.5"}`).isStale())
	require.Len(t, got[`{__name__="t", quantile="0.5"}`], 2)
	// A returning counter starts from zero.
	e.feed("c:4|c")
	t4 := e.flush(50)
	require.Equal(t, point{t4, 4}, last(t, e.stored(), `{__name__="c_total"}`))
}

func TestAliasesAggregateTogether(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("a:1|c|#x:1,y:2", "a:2|c|#y:2,x:1", "a.b:1|c", "a_b:1|c", "g:1|g|#x:1,y:2", "g:+1|g|#y:2,x:1")
	ts := e.flush(10)
	got := e.stored()
	require.Equal(t, []point{{ts, 3}}, got[`{__name__="a_total", x="1", y="2"}`])
	require.Equal(t, []point{{ts, 2}}, got[`{__name__="a_b_total"}`])
	require.Equal(t, []point{{ts, 2}}, got[`{__name__="g", x="1", y="2"}`])
}

func TestTypeConflict(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("x:1|c", "x_total:5|g", "x:2|g", "lat:1|ms", "lat_sum:1|g", "lat:1|h")
	ts := e.flush(10)
	got := e.stored()
	require.Equal(t, []point{{ts, 1}}, got[`{__name__="x_total"}`])
	require.Equal(t, []point{{ts, 2}}, got[`{__name__="x"}`], "a gauge x does not clash with counter x (x_total)")
	require.Equal(t, 3.0, e.rejected("type_conflict"))
	require.Equal(t, point{ts, 1}, last(t, got, `{__name__="lat_count"}`))
}

func TestMaxSeries(t *testing.T) {
	e := newAggEnv(t, Options{MaxSeries: 3})
	e.feed("a:1|c", "b:1|c", "c:1|c", "d:1|c", "a:1|c", "e:1|g")
	ts := e.flush(10)
	got := e.stored()
	require.Len(t, got, 3)
	require.Equal(t, []point{{ts, 2}}, got[`{__name__="a_total"}`])
	require.Equal(t, 2.0, e.rejected("too_many_series"))
}

func TestMaxValuesSamplesTimers(t *testing.T) {
	e := newAggEnv(t, Options{MaxValues: 100})
	var lines []string
	for i := 1; i <= 1000; i++ {
		lines = append(lines, fmt.Sprintf("t:%d|ms", i))
	}
	for i := range 200 {
		lines = append(lines, fmt.Sprintf("s:%d|s", i))
	}
	e.feed(lines...)
	require.EqualValues(t, 100, e.srv.table.held.Load())
	ts := e.flush(10)
	require.Zero(t, e.srv.table.held.Load(), "a flush releases the budget")

	got := e.stored()
	// Exact whatever the budget.
	require.Equal(t, point{ts, 1000}, last(t, got, `{__name__="t_count"}`))
	require.InDelta(t, 500.5, last(t, got, `{__name__="t_sum"}`).V, 1e-9)
	require.Equal(t, point{ts, 0.001}, last(t, got, `{__name__="t_lower"}`))
	require.Equal(t, point{ts, 1.0}, last(t, got, `{__name__="t_upper"}`))
	require.InDelta(t, 0.5005, last(t, got, `{__name__="t_mean"}`).V, 1e-12)
	require.InDelta(t, math.Sqrt((1000*1000-1)/12.0)/1000, last(t, got, `{__name__="t_std"}`).V, 1e-9)
	// From a sample of 100 values: count_90 is still 90% of all values.
	require.Equal(t, point{ts, 900}, last(t, got, `{__name__="t_count_90"}`))
	med := last(t, got, `{__name__="t_median"}`).V
	require.Greater(t, med, 0.001)
	require.Less(t, med, 1.0)
	// The set got nothing held: it undercounts, and says so.
	require.Equal(t, point{ts, 0}, last(t, got, `{__name__="s"}`))
	require.Equal(t, 1100.0, counterValue(t, e.srv.metrics.unheld))
}

func TestBadLinesKeepTheRest(t *testing.T) {
	e := newAggEnv(t, Options{})
	e.feed("ok:1|c", "bad:1|x", "", "\r", "_e{1,1}:a|b", "also.bad", "ok:2|c\r", "glork:1|c:oops|c", "tags:1|c|#novalue,k:v")
	ts := e.flush(10)
	got := e.stored()
	require.Equal(t, []point{{ts, 3}}, got[`{__name__="ok_total"}`])
	require.Equal(t, []point{{ts, 1}}, got[`{__name__="glork_total"}`], "the sample before the error in its line")
	require.Equal(t, 3.0, e.rejected("invalid"))
	require.Equal(t, 1.0, e.rejected("unsupported"))
	require.Equal(t, 1.0, counterValue(t, e.srv.metrics.tagsDropped))
	require.Equal(t, []point{{ts, 1}}, got[`{__name__="tags_total", k="v"}`])
}

func TestOptionsChecked(t *testing.T) {
	db := openTSDB(t)
	for _, o := range []Options{
		{},
		{Appendable: db, Percentiles: []float64{0}},
		{Appendable: db, Percentiles: []float64{101}},
		{Appendable: db, Quantiles: []float64{0}},
		{Appendable: db, Quantiles: []float64{1.5}},
	} {
		_, err := New(o)
		require.Error(t, err)
	}
}

// TestFlushLargerThanOneCommit flushes more new series than one appender
// takes: the writer commits mid-flush and goes on with a new appender,
// metadata included.
func TestFlushLargerThanOneCommit(t *testing.T) {
	e := newAggEnv(t, Options{})
	n := batch.Size + batch.Size/2
	var lines []string
	for i := 0; i < n; i++ {
		lines = append(lines, fmt.Sprintf("c%d:1|c", i))
		if len(lines) == 500 {
			e.feed(lines...)
			lines = lines[:0]
		}
	}
	e.feed(lines...)
	ts := e.flush(10)
	got := e.stored()
	require.Len(t, got, n)
	for _, i := range []int{0, batch.Size - 1, batch.Size, n - 1} {
		series := fmt.Sprintf(`{__name__="c%d_total"}`, i)
		require.Equal(t, []point{{ts, 1}}, got[series])
		md, ok := e.rec.get(series)
		require.True(t, ok, "metadata of %s", series)
		require.Equal(t, model.MetricTypeCounter, md.Type)
	}
	require.Equal(t, float64(n), counterValue(t, e.srv.metrics.written))
}
