package load

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

const shortScript = `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 2, arrivalRate: 20 } ]
scenarios:
  - name: s
    flow:
      - get: { url: /a }
      - get: { url: /missing }
`

func TestReportJSONAndHTML(t *testing.T) {
	t.Parallel()
	_, url := startMock(t, `{"request": {"method": "GET", "urlPath": "/a"}, "response": {"status": 200, "body": "hello"}}`)
	res, out := runYAML(t, t.TempDir(), shortScript, url, Options{Interval: 500 * time.Millisecond})
	require.EqualValues(t, 40, counter(res, "http.codes.200"))
	require.EqualValues(t, 40, counter(res, "http.codes.404"))
	require.GreaterOrEqual(t, counter(res, "http.downloaded_bytes"), int64(40*len("hello")))
	require.GreaterOrEqual(t, len(res.Report.Intermediate), 3, "periods of 500 ms over 2 s")
	require.Contains(t, out, "Metrics for period to: ")

	// The intermediate periods add up to the aggregate.
	var sum int64
	for _, p := range res.Report.Intermediate {
		sum += p.Counters["http.requests"]
		require.Zero(t, p.Period%500, "periods are aligned")
	}
	require.EqualValues(t, 80, sum)

	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	require.NoError(t, res.Report.WriteJSONFile(path))
	var raw struct {
		Aggregate    map[string]any   `json:"aggregate"`
		Intermediate []map[string]any `json:"intermediate"`
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &raw))
	for _, key := range []string{"counters", "rates", "summaries", "histograms", "period", "firstCounterAt", "lastMetricAt"} {
		require.Contains(t, raw.Aggregate, key)
		require.Contains(t, raw.Intermediate[0], key)
	}
	require.IsType(t, float64(0), raw.Aggregate["period"])
	require.IsType(t, "", raw.Intermediate[0]["period"], "Artillery writes intermediate periods as strings")
	rt := raw.Aggregate["summaries"].(map[string]any)["http.response_time"].(map[string]any)
	for _, key := range []string{"min", "max", "count", "mean", "p50", "median", "p75", "p90", "p95", "p99", "p999"} {
		require.Contains(t, rt, key)
	}

	back, err := ReadReport(path)
	require.NoError(t, err)
	require.Equal(t, res.Report.Aggregate.Counters, back.Aggregate.Counters)
	require.Len(t, back.Intermediate, len(res.Report.Intermediate))

	var html bytes.Buffer
	require.NoError(t, back.WriteHTML(&html, "Report <test>"))
	page := html.String()
	require.Contains(t, page, "<title>Report &lt;test&gt;</title>")
	require.Equal(t, 4, strings.Count(page, "<svg "))
	require.Contains(t, page, "<polyline")
	require.Contains(t, page, ">404<")
	require.NotContains(t, page, "<script")
	require.NotContains(t, page, "src=")
	require.NotContains(t, page, "href=")
}

func TestReadArtilleryReport(t *testing.T) {
	t.Parallel()
	// A report as Artillery 2 writes it: summaries also under histograms.
	js := `{"aggregate": {"counters": {"http.codes.200": 3}, "rates": {"http.request_rate": 1},
	  "histograms": {"http.response_time": {"min": 1, "max": 3, "count": 3, "mean": 2, "p50": 2, "median": 2, "p75": 3, "p90": 3, "p95": 3, "p99": 3, "p999": 3}},
	  "period": 1650656320000},
	  "intermediate": [{"counters": {"http.codes.200": 3}, "rates": {}, "histograms": {"http.response_time": {"min": 1, "max": 3, "count": 3, "p99": 3}}, "period": "1650656320000"}]}`
	path := filepath.Join(t.TempDir(), "a.json")
	require.NoError(t, os.WriteFile(path, []byte(js), 0o644))
	rp, err := ReadReport(path)
	require.NoError(t, err)
	require.InDelta(t, 3, rp.Aggregate.Summaries["http.response_time"].P99, 0)
	require.EqualValues(t, 3, rp.Intermediate[0].Summaries["http.response_time"].Count)
	require.EqualValues(t, 1650656320000, rp.Intermediate[0].Period)
	require.Contains(t, FormatMetrics(rp.Aggregate), "http.codes.200: ")
}

func TestConsoleLayout(t *testing.T) {
	t.Parallel()
	// Artillery 2's padding: the name and colon filled with dots to 79
	// columns, then the value.
	require.Equal(t, "http.codes.200: "+strings.Repeat(".", 64)+" 597", padded("http.codes.200", "597"))
	require.Equal(t, "  min: "+strings.Repeat(".", 73)+" 11", padded("  min", "11"))
	p := Period{
		Counters:  map[string]int64{"vusers.created": 600, "http.codes.200": 597},
		Rates:     map[string]float64{"http.request_rate": 10},
		Summaries: map[string]Summary{"http.response_time": {Min: 11, Max: 983, Mean: 45.3, Median: 40.9, P95: 98.5, P99: 210.6}},
	}
	got := FormatMetrics(p)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		name, _, _ := strings.Cut(l, ":")
		names = append(names, name)
	}
	require.Equal(t, []string{"http.codes.200", "http.request_rate", "http.response_time", "  min", "  max", "  mean", "  median", "  p95", "  p99", "vusers.created"}, names)
	require.Contains(t, got, "http.request_rate: "+strings.Repeat(".", 61)+" 10/sec\n")
	require.Contains(t, got, "  p99: "+strings.Repeat(".", 73)+" 210.6\n")
	require.Equal(t, "2 minutes, 1 second", humanDuration(121*time.Second))
	require.Equal(t, "1 hour, 5 seconds", humanDuration(3605*time.Second))
	require.Equal(t, "Checks:\nok: a < 1\nfail: b < 2\n", FormatChecks([]Check{{Text: "a < 1", OK: true}, {Text: "b < 2"}}))
}

// fakeSonde records what a sonde server would receive from a Pusher.
type fakeSonde struct {
	mu     sync.Mutex
	events []map[string]any
	query  []string
	series map[string][]prompb.Sample // by metric name + labels
	writes int
	bad    []string
}

func seriesKey(labels []prompb.Label) string {
	var b strings.Builder
	for _, l := range labels {
		if l.Name == "test_id" || l.Name == "target" {
			continue
		}
		b.WriteString(l.Name + "=" + l.Value + ",")
	}
	return b.String()
}

func (f *fakeSonde) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/api/v1/logs":
		f.query = append(f.query, r.URL.RawQuery)
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				f.bad = append(f.bad, err.Error())
				continue
			}
			f.events = append(f.events, ev)
		}
	case "/api/v1/write":
		if r.Header.Get("Content-Encoding") != "snappy" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			f.bad = append(f.bad, "headers: "+r.Header.Get("Content-Encoding")+" "+r.Header.Get("Content-Type"))
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			f.bad = append(f.bad, err.Error())
			break
		}
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(raw); err != nil {
			f.bad = append(f.bad, err.Error())
			break
		}
		f.writes++
		for _, ts := range wr.Timeseries {
			for i := 1; i < len(ts.Labels); i++ {
				if ts.Labels[i-1].Name >= ts.Labels[i].Name {
					f.bad = append(f.bad, "labels not sorted: "+seriesKey(ts.Labels))
				}
			}
			f.series[seriesKey(ts.Labels)] = append(f.series[seriesKey(ts.Labels)], ts.Samples...)
		}
	default:
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func TestPushToSonde(t *testing.T) {
	t.Parallel()
	_, url := startMock(t, `{"request": {"method": "GET", "urlPath": "/a"}, "response": {"status": 200, "body": "hello"}}`)
	fake := &fakeSonde{series: map[string][]prompb.Sample{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p, err := NewPusher(srv.URL, srv.Client())
	require.NoError(t, err)
	res, _ := runYAML(t, t.TempDir(), shortScript, url, Options{Interval: 500 * time.Millisecond, TestID: "t-push", Observers: []Observer{p}})
	require.NoError(t, p.Err())

	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Empty(t, fake.bad)
	for _, q := range fake.query {
		require.Equal(t, "group=sonde%2Fload&stream=t-push", q)
	}
	types := map[string]int{}
	var intervalRequests float64
	for _, ev := range fake.events {
		types[ev["type"].(string)]++
		require.Equal(t, "t-push", ev["test_id"])
		require.NotEmpty(t, ev["@timestamp"])
		if ev["type"] == "interval" {
			intervalRequests += ev["counters"].(map[string]any)["http.requests"].(float64)
		}
	}
	require.Equal(t, 1, types["start"])
	require.Equal(t, 1, types["end"])
	require.Equal(t, len(res.Report.Intermediate), types["interval"])
	require.InDelta(t, 80, intervalRequests, 0)
	require.Equal(t, len(res.Report.Intermediate), fake.writes)

	last := func(key string) float64 {
		s := fake.series[key]
		require.NotEmpty(t, s, key)
		return s[len(s)-1].Value
	}
	require.InDelta(t, 40, last("__name__=load_http_requests_total,code=200,"), 0)
	require.InDelta(t, 40, last("__name__=load_http_requests_total,code=404,"), 0)
	require.InDelta(t, 80, last("__name__=load_http_requests_sent_total,"), 0)
	require.InDelta(t, 40, last("__name__=load_vusers_completed_total,"), 0)
	require.InDelta(t, 80, last("__name__=load_http_response_time_seconds_count,"), 0)
	require.Contains(t, fake.series, "__name__=load_vusers_active,")
	p99 := last("__name__=load_http_response_time_seconds,quantile=0.99,")
	require.Greater(t, p99, 0.0)
	require.Less(t, p99, 10.0, "seconds, not milliseconds")
	samples := fake.series["__name__=load_http_requests_sent_total,"]
	for i := 1; i < len(samples); i++ {
		require.GreaterOrEqual(t, samples[i].Value, samples[i-1].Value, "counters are cumulative")
		require.GreaterOrEqual(t, samples[i].Timestamp, samples[i-1].Timestamp)
	}

	_, err = NewPusher("ftp://x", nil)
	require.Error(t, err)
}

func TestPushFailureDoesNotStopTheRun(t *testing.T) {
	t.Parallel()
	_, url := startMock(t, `{"request": {"method": "GET", "urlPath": "/a"}, "response": {"status": 200}}`)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	p, err := NewPusher(down.URL, down.Client())
	require.NoError(t, err)
	res, _ := runYAML(t, t.TempDir(), shortScript, url, Options{Observers: []Observer{p}})
	require.EqualValues(t, 40, counter(res, "http.codes.200"))
	require.ErrorContains(t, p.Err(), "503")
}
