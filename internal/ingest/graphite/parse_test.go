package graphite

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	type want struct {
		name, path, tags string
		value            float64
		ms               int64
		hasTime          bool
	}
	tests := []struct {
		line string
		want want
	}{
		{"cluster-1.node-1.cpu.idle 97.29 1460061337", want{"cluster-1.node-1.cpu.idle", "cluster-1.node-1.cpu.idle", "", 97.29, 1460061337000, true}},
		{"a.b 1 1460061337.25", want{"a.b", "a.b", "", 1, 1460061337250, true}},
		{"  a.b\t-3e2  \t1460061337  ", want{"a.b", "a.b", "", -300, 1460061337000, true}},
		{"a.b 1", want{"a.b", "a.b", "", 1, 0, false}},
		{"a.b 1 -1", want{"a.b", "a.b", "", 1, 0, false}},
		{"a.b +Inf 1", want{"a.b", "a.b", "", math.Inf(1), 1000, true}},
		{"disk.used;datacenter=dc1;rack=a1;server=web01 42 1460061337",
			want{"disk.used;datacenter=dc1;rack=a1;server=web01", "disk.used", "datacenter=dc1;rack=a1;server=web01", 42, 1460061337000, true}},
		{"x;k=v=w 1 2", want{"x;k=v=w", "x", "k=v=w", 1, 2000, true}},
		{"x;k=o~k 1 2", want{"x;k=o~k", "x", "k=o~k", 1, 2000, true}}, // only a leading ~ is refused
	}
	for _, tt := range tests {
		s, err := Parse([]byte(tt.line))
		require.NoError(t, err, tt.line)
		got := want{string(s.Name), string(s.Path), string(s.Tags), s.Value, s.TimeMillis, s.HasTime}
		require.Equal(t, tt.want, got, tt.line)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line   string
		column int
		reason string
	}{
		{"", 1, "empty line"},
		{"   ", 4, "empty line"},
		{"a.b", 4, "missing value"},
		{"a.b x 1", 5, `value "x" is not a number`},
		{"a.b nan 1", 5, "value is NaN"},
		{"a.b 1 x", 7, `timestamp "x" is not a number`},
		{"a.b 1 -5", 7, "is negative"},
		{"a.b 1 1460061337000", 7, "not milliseconds"},
		{"a.b 1 2 3", 9, "unexpected text after the timestamp"},
		{";k=v 1 2", 1, "empty metric path"},
		{"a;k 1 2", 3, `tag "k" has no '='`},
		{"a;=v 1 2", 3, "empty tag name"},
		{"a;k= 1 2", 5, `empty value of tag "k"`},
		{"a;k=v; 1 2", 7, "empty tag"},
		{"a;k=v;;x=y 1 2", 7, "empty tag"},
		{"a;k=~v 1 2", 5, "starts with '~'"},
		{"a;k!=v 1 2", 4, `holds '!'`},
		{"a;k^x=v 1 2", 4, `holds '^'`},
		{"a;ké=v 1 2", 4, "tag names are ASCII"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.line))
		var pe *ParseError
		require.ErrorAs(t, err, &pe, tt.line)
		require.Equal(t, tt.column, pe.Column, "%q: %v", tt.line, err)
		require.Contains(t, pe.Reason, tt.reason, tt.line)
	}
}

func TestParseNoAllocs(t *testing.T) {
	line := []byte("disk.used;datacenter=dc1;rack=a1 42.5 1460061337")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(line); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestNames(t *testing.T) {
	require.Equal(t, "cluster_1_node_1_cpu_idle", metricName([]byte("cluster-1.node-1.cpu.idle")))
	require.Equal(t, "a:b_c", metricName([]byte("a:b.c")), "graphite_exporter keeps ':'")
	require.Equal(t, "_1a", metricName([]byte("1a")))
	require.Equal(t, "h_llo", metricName([]byte("héllo")))
	require.Equal(t, "a_b", labelName([]byte("a:b")))
	require.Equal(t, "exported___name__", labelName([]byte("__name__")))

	s, err := Parse([]byte("disk.used;server=web01;rack=a1;9x=y;server=web02;__name__=z;v=\xff 1 2"))
	require.NoError(t, err)
	require.Equal(t, `{_9x="y", __name__="disk_used", exported___name__="z", rack="a1", server="web02", v="`+"\uFFFD"+`"}`, seriesLabels(&s).String())
}

func BenchmarkParse(b *testing.B) {
	line := []byte("servers.web-01.nginx.requests.count 1234.5 1460061337")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
