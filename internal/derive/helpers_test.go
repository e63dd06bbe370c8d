package derive_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/derive"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/metrics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("database/sql.(*DB).connectionOpener"))
}

// env is a Deriver writing into a real metric store (TSDB + PromQL).
type env struct {
	t     testing.TB
	store *metrics.Store
	reg   *prometheus.Registry
	d     *derive.Deriver
}

func newEnv(t testing.TB, opts derive.Options) *env {
	t.Helper()
	st, err := metrics.Open(metrics.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	e := &env{t: t, store: st, reg: prometheus.NewRegistry()}
	opts.Appendable, opts.Registerer = st, e.reg
	e.d, err = derive.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, e.d.Close())
		require.NoError(t, st.Close())
	})
	return e
}

func (e *env) flush() {
	e.t.Helper()
	require.NoError(e.t, e.d.Flush(context.Background()))
}

// query runs an instant PromQL query a second from now, so that it sees
// the samples of flushes that came within one millisecond of each other
// (each flush stamps its samples one millisecond after the last), and
// returns its vector.
func (e *env) query(q string) promql.Vector {
	e.t.Helper()
	qry, err := e.store.Engine().NewInstantQuery(context.Background(), e.store, nil, q, time.Now().Add(time.Second))
	require.NoError(e.t, err)
	defer qry.Close()
	res := qry.Exec(context.Background())
	require.NoError(e.t, res.Err, q)
	v, err := res.Vector()
	require.NoError(e.t, err, q)
	return v
}

// value runs a query that must return one sample and returns its value.
func (e *env) value(q string) float64 {
	e.t.Helper()
	v := e.query(q)
	require.Len(e.t, v, 1, "%s: %v", q, v)
	return v[0].F
}

// byLabel maps the value of one label to each sample's value.
func (e *env) byLabel(q, label string) map[string]float64 {
	e.t.Helper()
	out := map[string]float64{}
	for _, s := range e.query(q) {
		out[s.Metric.Get(label)] = s.F
	}
	return out
}

// counter reads one of the derivations' own counters.
func (e *env) counter(name string, lvs ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(e.t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := true
			for i, lp := range m.GetLabel() {
				if i < len(lvs) && lp.GetValue() != lvs[i] {
					match = false
				}
			}
			if match {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// parse turns lines into events of a group, as the log endpoint does.
func parse(t testing.TB, group string, lines ...string) []event.Event {
	t.Helper()
	p := event.NewParser(event.NewShapes(1000), event.ParserOptions{})
	evs := make([]event.Event, len(lines))
	now := time.Now().UnixMilli()
	for i, l := range lines {
		_, err := p.Parse(l, now, &evs[i])
		require.NoError(t, err, l)
		evs[i].Group, evs[i].Stream = group, "s"
	}
	return evs
}

// genlogs returns the lines of testdata/genlogs-2000.ndjson.gz, made by
// go run -C ../shared/bench/genlogs . -n 2000 -span 1h.
func genlogs(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/genlogs-2000.ndjson.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	require.NoError(t, sc.Err())
	require.Len(t, lines, 2000)
	return lines
}
