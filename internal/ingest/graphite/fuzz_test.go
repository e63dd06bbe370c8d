package graphite

import (
	"bytes"
	"context"
	"math"
	"net"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"
)

var fuzzLines = []string{
	"cluster-1.node-1.cpu.idle 97.29 1460061337",
	"disk.used;datacenter=dc1;rack=a1;server=web01 42 1460061337",
	"a.b\t-3e2  1460061337.25", "a.b 1", "a.b 1 -1", "a.b +Inf 1", "x;k=v=w 1 2",
	"", "a.b", "a.b nan 1", "a;k=~v 1 2", "a;k!=v 1 2", "a b c d", "a 1 1460061337000",
}

var (
	validMetricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	validLabelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// FuzzParse checks that Parse never panics, that its errors point into
// the line, and that what it accepts maps to a valid Prometheus series.
func FuzzParse(f *testing.F) {
	for _, l := range fuzzLines {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s, err := Parse([]byte(line))
		if err != nil {
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.GreaterOrEqual(t, pe.Column, 1)
			require.LessOrEqual(t, pe.Column, len(line)+1)
			require.NotEmpty(t, pe.Reason)
			return
		}
		require.NotEmpty(t, s.Path)
		require.True(t, bytes.HasPrefix(s.Name, s.Path))
		require.False(t, math.IsNaN(s.Value))
		if s.HasTime {
			require.GreaterOrEqual(t, s.TimeMillis, int64(0))
			require.LessOrEqual(t, s.TimeMillis, int64(maxTimestamp*1000))
		}
		ls := seriesLabels(&s)
		require.True(t, validMetricName.MatchString(ls.Get(labels.MetricName)), ls.String())
		ls.Range(func(l labels.Label) {
			if l.Name != labels.MetricName {
				require.True(t, validLabelName.MatchString(l.Name), l.Name)
				require.False(t, len(l.Name) >= 2 && l.Name[:2] == "__", l.Name)
			}
			require.NotEmpty(t, l.Value)
			require.True(t, utf8.ValidString(l.Value))
		})
	})
}

// FuzzTCPStream sends arbitrary bytes as one TCP connection's stream
// through the server into a real TSDB, cut into writes of chunk bytes:
// nothing panics, the connection is read to its end, and no line gives
// more than one sample.
func FuzzTCPStream(f *testing.F) {
	for i := 0; i+2 < len(fuzzLines); i += 3 {
		f.Add([]byte(fuzzLines[i]+"\n"+fuzzLines[i+1]+"\r\n"+fuzzLines[i+2]+"\n"), uint8(7))
	}
	db, err := tsdb.Open(f.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	require.NoError(f, err)
	f.Cleanup(func() { db.Close() })
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		app := &countingAppendable{Appendable: db}
		srv, err := New(Options{Appendable: app, MaxLineBytes: 100})
		require.NoError(t, err)
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.serveConn(server)
		}()
		size := int(chunk) + 1
		for i := 0; i < len(data); i += size {
			_, err := client.Write(data[i:min(i+size, len(data))])
			require.NoError(t, err)
		}
		require.NoError(t, client.Close())
		<-done
		server.Close()
		require.NoError(t, srv.Shutdown(context.Background()))
		require.LessOrEqual(t, app.appended, bytes.Count(data, []byte("\n"))+1)
	})
}

// countingAppendable counts the samples appended to a real TSDB.
type countingAppendable struct {
	storage.Appendable
	appended int
}

func (c *countingAppendable) Appender(ctx context.Context) storage.Appender {
	return &countingAppender{Appender: c.Appendable.Appender(ctx), c: c}
}

type countingAppender struct {
	storage.Appender
	c *countingAppendable
}

func (a *countingAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	a.c.appended++
	return a.Appender.Append(ref, l, t, v)
}
