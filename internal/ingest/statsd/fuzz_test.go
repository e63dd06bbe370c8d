package statsd

import (
	"bytes"
	"context"
	"math"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

var fuzzLines = []string{
	"gorets:1|c", "gorets:1|c|@0.1", "gorets:|c", "gaugor:-10|g", "gaugor:+4|g",
	"glork:320|ms:330|ms", "glork:320|ms|@0.1:3|c", "lat:1:2.5:3|d|@0.5|#a:b",
	"users:alice|s|#env:dev", "m:1|c|#t:1|c:abc|T1656581400|e:x|card:low",
	"a b/c.d:1e3|h|#k:v:w,tagonly,__name__:x,quantile:y", "_e{5,4}:title|text", "_sc|name|0",
	"x:1|c|", "x:1:2|c", "x:NaN|g", ":1|c", "x", "x:1|c||#a", "x:1|c|@0",
}

// FuzzParse checks that the parser never panics, that its errors point
// into the line, and that what it yields is well formed.
func FuzzParse(f *testing.F) {
	for _, l := range fuzzLines {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var p Parser
		p.Reset([]byte(line))
		n := 0
		for p.Next() {
			n++
			require.LessOrEqual(t, n, len(line), "at most one sample per byte")
			s := p.Sample()
			require.NotEmpty(t, s.Name)
			require.True(t, bytes.HasPrefix([]byte(line), s.Name), "the name starts the line")
			require.NotContains(t, string(s.Name), ":")
			require.NotContains(t, string(s.Name), "|")
			require.GreaterOrEqual(t, s.Type, Counter)
			require.LessOrEqual(t, s.Type, Set)
			require.False(t, math.IsNaN(s.Value) || math.IsInf(s.Value, 0), "finite value")
			require.True(t, s.Rate > 0 && !math.IsInf(s.Rate, 0), "positive rate")
			if s.Type == Set {
				require.NotEmpty(t, s.SetValue)
			}
			if s.Delta {
				require.Equal(t, Gauge, s.Type)
			}
		}
		if err := p.Err(); err != nil {
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.GreaterOrEqual(t, pe.Column, 1)
			require.LessOrEqual(t, pe.Column, len(line)+1)
			require.NotEmpty(t, pe.Reason)
		}
		require.False(t, p.Next(), "Next stays false")
	})
}

var (
	validMetricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	validLabelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// checkingAppendable checks every series written to a real TSDB.
type checkingAppendable struct {
	storage.Appendable
	t *testing.T
}

func (c *checkingAppendable) Appender(ctx context.Context) storage.Appender {
	return &checkingAppender{Appender: c.Appendable.Appender(ctx), t: c.t}
}

type checkingAppender struct {
	storage.Appender
	t *testing.T
}

func (a *checkingAppender) Append(ref storage.SeriesRef, l labels.Labels, ts int64, v float64) (storage.SeriesRef, error) {
	t := a.t
	require.True(t, validMetricName.MatchString(l.Get(labels.MetricName)), "metric name %q", l.Get(labels.MetricName))
	l.Range(func(lb labels.Label) {
		if lb.Name != labels.MetricName {
			require.True(t, validLabelName.MatchString(lb.Name), "label name %q", lb.Name)
			require.False(t, len(lb.Name) >= 2 && lb.Name[:2] == "__", "reserved label name %q", lb.Name)
		}
		require.NotEmpty(t, lb.Value)
		require.True(t, utf8.ValidString(lb.Value))
	})
	require.True(t, !math.IsNaN(v) || value.IsStaleNaN(v), "only staleness markers are NaN")
	return a.Appender.Append(ref, l, ts, v)
}

// FuzzDatagram feeds arbitrary datagrams through the aggregator and
// flushes them into a real TSDB: nothing panics, every series written has
// valid names, and the budget of held values is respected and released.
func FuzzDatagram(f *testing.F) {
	for i := 0; i+2 < len(fuzzLines); i += 3 {
		f.Add([]byte(fuzzLines[i] + "\n" + fuzzLines[i+1] + "\r\n" + fuzzLines[i+2]))
	}
	db := openTSDB(f)
	f.Fuzz(func(t *testing.T, d []byte) {
		srv, err := New(Options{Appendable: &checkingAppendable{Appendable: db, t: t}, MaxSeries: 50, MaxValues: 20})
		require.NoError(t, err)
		defer func() { require.NoError(t, srv.Shutdown(context.Background())) }()
		var (
			p  Parser
			st batchStats
		)
		srv.handleDatagram(&p, d, nil, &st)
		require.LessOrEqual(t, srv.table.nKeys.Load(), int64(50))
		require.LessOrEqual(t, srv.table.held.Load(), int64(20))
		require.NoError(t, srv.Flush(context.Background()))
		require.Zero(t, srv.table.held.Load())
	})
}
