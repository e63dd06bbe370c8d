package statsd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// sampleText is a Sample with strings, for comparisons.
type sampleText struct {
	Name      string
	Type      Type
	Value     float64
	SetValue  string
	Delta     bool
	Rate      float64
	Tags      string
	Container string
}

func parseAll(line string) ([]sampleText, error) {
	var p Parser
	p.Reset([]byte(line))
	var out []sampleText
	for p.Next() {
		s := p.Sample()
		out = append(out, sampleText{string(s.Name), s.Type, s.Value, string(s.SetValue), s.Delta, s.Rate, string(s.Tags), string(s.Container)})
	}
	return out, p.Err()
}

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		want []sampleText
	}{
		{"gorets:1|c", []sampleText{{Name: "gorets", Type: Counter, Value: 1, Rate: 1}}},
		{"gorets:1|c|@0.1", []sampleText{{Name: "gorets", Type: Counter, Value: 1, Rate: 0.1}}},
		{"gorets:|c", []sampleText{{Name: "gorets", Type: Counter, Value: 1, Rate: 1}}},
		{"gorets:2.5|c|@0.5|#env:prod,region:eu", []sampleText{{Name: "gorets", Type: Counter, Value: 2.5, Rate: 0.5, Tags: "env:prod,region:eu"}}},
		{"gaugor:333|g", []sampleText{{Name: "gaugor", Type: Gauge, Value: 333, Rate: 1}}},
		{"gaugor:-10|g", []sampleText{{Name: "gaugor", Type: Gauge, Value: -10, Delta: true, Rate: 1}}},
		{"gaugor:+4|g|@0.5", []sampleText{{Name: "gaugor", Type: Gauge, Value: 4, Delta: true, Rate: 0.5}}},
		{"glork:320|ms", []sampleText{{Name: "glork", Type: Timer, Value: 320, Rate: 1}}},
		{"glork:320|ms:330|ms", []sampleText{
			{Name: "glork", Type: Timer, Value: 320, Rate: 1},
			{Name: "glork", Type: Timer, Value: 330, Rate: 1},
		}},
		{"glork:320|ms|@0.1:3|c", []sampleText{
			{Name: "glork", Type: Timer, Value: 320, Rate: 0.1},
			{Name: "glork", Type: Counter, Value: 3, Rate: 1},
		}},
		{"lat:1:2.5:3|d|@0.5|#a:b", []sampleText{
			{Name: "lat", Type: Distribution, Value: 1, Rate: 0.5, Tags: "a:b"},
			{Name: "lat", Type: Distribution, Value: 2.5, Rate: 0.5, Tags: "a:b"},
			{Name: "lat", Type: Distribution, Value: 3, Rate: 0.5, Tags: "a:b"},
		}},
		{"h:7|h|#k:v:w,x", []sampleText{{Name: "h", Type: Histogram, Value: 7, Rate: 1, Tags: "k:v:w,x"}}},
		{"uniques:765|s", []sampleText{{Name: "uniques", Type: Set, SetValue: "765", Rate: 1}}},
		{"users:alice@example.com|s|#env:dev", []sampleText{{Name: "users", Type: Set, SetValue: "alice@example.com", Rate: 1, Tags: "env:dev"}}},
		{"m:1|c|#t:1|c:abc123|T1656581400|e:it-false,cn-x|card:low", []sampleText{{Name: "m", Type: Counter, Value: 1, Rate: 1, Tags: "t:1", Container: "abc123"}}},
		{"m:1e3|ms", []sampleText{{Name: "m", Type: Timer, Value: 1000, Rate: 1}}},
		{"m:-0.25|ms", []sampleText{{Name: "m", Type: Timer, Value: -0.25, Rate: 1}}},
		{"m:-5|c", []sampleText{{Name: "m", Type: Counter, Value: -5, Rate: 1}}}, // refused later, by the aggregator
		{"a b/c.d:1|c", []sampleText{{Name: "a b/c.d", Type: Counter, Value: 1, Rate: 1}}},
		{"m:1|c|#", []sampleText{{Name: "m", Type: Counter, Value: 1, Rate: 1}}},
	}
	for _, tt := range tests {
		got, err := parseAll(tt.line)
		require.NoError(t, err, tt.line)
		require.Equal(t, tt.want, got, tt.line)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line        string
		column      int
		reason      string
		unsupported bool
		kept        int // samples yielded before the error
	}{
		{line: "gorets", column: 7, reason: "missing ':' after the metric name"},
		{line: ":1|c", column: 1, reason: "empty metric name"},
		{line: "gorets:1", column: 9, reason: "missing '|' and metric type"},
		{line: "gorets:1|", column: 10, reason: "missing metric type"},
		{line: "gorets:1|x", column: 10, reason: `unknown metric type "x"`},
		{line: "gorets:1|cc", column: 10, reason: `unknown metric type "cc"`},
		{line: "gorets:1|c ", column: 10, reason: `unknown metric type "c "`},
		{line: "gorets:abc|c", column: 8, reason: `value "abc" is not a number`},
		{line: "gorets:NaN|g", column: 8, reason: `value "NaN" is not a finite number`},
		{line: "gorets:Inf|ms", column: 8, reason: "not a finite number"},
		{line: "gorets:|g", column: 8, reason: "empty value"},
		{line: "gorets:|ms", column: 8, reason: "empty value"},
		{line: "gorets:|s", column: 8, reason: "empty set value"},
		{line: "gorets:1|c|@", column: 12, reason: `sample rate "@" is not a positive number`},
		{line: "gorets:1|c|@0", column: 12, reason: "not a positive number"},
		{line: "gorets:1|c|@-1", column: 12, reason: "not a positive number"},
		{line: "gorets:1|c|@x", column: 12, reason: "not a positive number"},
		{line: "gorets:1|c|@0.5|@0.5", column: 17, reason: "second sample rate"},
		{line: "gorets:1|c|#a|#b", column: 15, reason: "second tag list"},
		{line: "gorets:1|c|", column: 12, reason: "empty field after '|'"},
		{line: "gorets:1|c||#a", column: 12, reason: "empty field"},
		{line: "gorets:1|c|x", column: 12, reason: `unknown field "x"`},
		{line: "gorets:1|c|Tabc", column: 12, reason: `timestamp "Tabc" is not a number of seconds`},
		{line: "gorets:1:2|c", column: 9, reason: "several values in one sample are allowed only for ms, h and d"},
		{line: "gorets:1:2|g", column: 9, reason: "allowed only for ms, h and d"},
		{line: "lat:1::2|ms", column: 7, reason: "empty value"},
		{line: "lat:1:x|h", column: 7, reason: `value "x" is not a number`},
		{line: "a|b:1|c", column: 2, reason: "'|' in the metric name"},
		{line: "glork:320|ms:bad|ms", column: 14, reason: `value "bad"`, kept: 1},
		{line: "glork:320|ms:", column: 14, reason: "missing '|'", kept: 1},
		{line: "_e{5,4}:title|text|#a:b", column: 1, reason: "events are not metrics", unsupported: true},
		{line: "_sc|name|0", column: 1, reason: "service checks are not metrics", unsupported: true},
	}
	for _, tt := range tests {
		got, err := parseAll(tt.line)
		require.Len(t, got, tt.kept, tt.line)
		var pe *ParseError
		require.ErrorAs(t, err, &pe, tt.line)
		require.Equal(t, tt.column, pe.Column, "%s: %v", tt.line, err)
		require.Contains(t, pe.Reason, tt.reason, tt.line)
		require.Equal(t, tt.unsupported, pe.Unsupported, tt.line)
	}
}

func TestParseNoAllocs(t *testing.T) {
	lines := [][]byte{
		[]byte("api.requests:1|c|@0.5|#env:prod,route:/users"),
		[]byte("api.latency:12.75|ms|#env:prod"),
		[]byte("lat:1:2:3|d"),
		[]byte("users:alice|s"),
		[]byte("temp:-3|g"),
	}
	var p Parser
	allocs := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			p.Reset(l)
			for p.Next() {
			}
		}
	})
	require.Zero(t, allocs)
}

func TestEscapeName(t *testing.T) {
	tests := map[string]string{
		"api.requests":     "api_requests",
		"api_requests":     "api_requests",
		"5xx-rate":         "_5xx_rate",
		"a b/c:d#e":        "a_b_c_d_e",
		"héllo":            "h_llo",
		"\xff\xfe":         "__",
		"CamelCase_09":     "CamelCase_09",
		"stats.timers.x.y": "stats_timers_x_y",
	}
	for in, want := range tests {
		require.Equal(t, want, escapeName([]byte(in)), in)
	}
	require.Equal(t, "a_total", counterName("a"))
	require.Equal(t, "a_total", counterName("a_total"))
}

func TestTagLabels(t *testing.T) {
	ls, bad := tagLabels([]byte("region:eu,env:prod,tagonly,:x,k:,env:dev,a.b:c:d,__name__:x,quantile:q,9x:y"), []byte("abc"), "quantile")
	require.Equal(t, 3, bad)
	require.Equal(t, `{_9x="y", a_b="c:d", container_id="abc", env="dev", exported___name__="x", exported_quantile="q", region="eu"}`, ls.String())
	ls, bad = tagLabels([]byte("v:\xff"), nil, "")
	require.Zero(t, bad)
	require.Equal(t, "\uFFFD", ls.Get("v"))
}

func TestPctName(t *testing.T) {
	require.Equal(t, "90", pctName(90))
	require.Equal(t, "99_9", pctName(99.9))
	require.Equal(t, "top10", pctName(-10))
	require.Equal(t, "top0_5", pctName(-0.5))
}

func BenchmarkParse(b *testing.B) {
	line := []byte("api.request.duration:12.75|ms|@0.5|#env:prod,route:/users,method:GET")
	var p Parser
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		p.Reset(line)
		for p.Next() {
		}
	}
}
