package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/config"
)

// complianceQueries are the PromQL expressions answered by Prometheus 2.42
// and by sonde, instant and range, and compared. %T is replaced by a time
// inside the data (for @).
var complianceQueries = []string{
	`app_requests_total`,
	`app_requests_total{code=~"5.."}`,
	`rate(app_requests_total[30s])`,
	`irate(app_requests_total[30s])`,
	`increase(app_requests_total[1m])`,
	`sum by (route) (rate(app_requests_total[1m]))`,
	`sum without (instance) (rate(app_requests_total{code="500"}[1m]))`,
	`sum by (route) (rate(app_requests_total{code="500"}[1m])) / sum by (route) (rate(app_requests_total[1m]))`,
	`avg_over_time(app_temperature_celsius[1m])`,
	`max_over_time(app_temperature_celsius[30s])`,
	`min_over_time(app_temperature_celsius[30s])`,
	`quantile_over_time(0.9, app_temperature_celsius[1m])`,
	`stddev_over_time(app_temperature_celsius[1m])`,
	`last_over_time(app_temperature_celsius[1m])`,
	`histogram_quantile(0.99, sum by (le, route) (rate(app_request_duration_seconds_bucket[1m])))`,
	`histogram_quantile(0.5, sum by (le) (rate(app_request_duration_seconds_bucket[30s])))`,
	`histogram_quantile(0.9, rate(app_request_duration_seconds_bucket{job="om"}[1m]))`,
	`rate(app_request_duration_seconds_sum[1m]) / rate(app_request_duration_seconds_count[1m])`,
	`topk(3, rate(app_requests_total{job="om"}[1m]))`,
	`bottomk(3, app_temperature_celsius)`,
	`label_replace(rate(app_requests_total[1m]), "class", "${1}xx", "code", "(.).*")`,
	`app_requests_total offset 1m`,
	`rate(app_requests_total[30s] offset 30s)`,
	`app_temperature_celsius @ %T`,
	`absent(app_nonexistent_total)`,
	`absent(app_requests_total{route="/"})`,
	`app_temperature_celsius > 20`,
	`app_temperature_celsius > bool 20`,
	`app_temperature_celsius{room="lab"} - ignoring(room) app_temperature_celsius{room="office"}`,
	`max_over_time(rate(app_requests_total[10s])[1m:5s])`,
	`avg_over_time(sum(app_temperature_celsius)[1m:10s])`,
	`deriv(app_temperature_celsius[1m])`,
	`predict_linear(app_temperature_celsius[1m], 60)`,
	`delta(app_temperature_celsius[1m])`,
	`resets(app_requests_total[5m])`,
	`changes(app_temperature_celsius[1m])`,
	`count by (job) (app_requests_total)`,
	`sum(app_response_size_bytes_sum) / sum(app_response_size_bytes_count)`,
	`app_response_size_bytes{quantile="0.9"}`,
	`quantile(0.5, app_temperature_celsius)`,
	`clamp_max(app_temperature_celsius, 21)`,
	`sort_desc(sum by (route) (app_requests_total))`,
	`scalar(sum(app_temperature_celsius{job="om"}))`,
	`count_values("temp", app_temperature_celsius)`,
	`sum by (le) (app_request_duration_seconds_bucket)`,
	`1 + 2 * 3`,
	`"a string"`,
}

// orderedQueries must list their results in the same order.
var orderedQueries = map[string]bool{`sort_desc(sum by (route) (app_requests_total))`: true}

// tiedQueries may pick different series among equal values (which series
// topk keeps from a tie is up to the implementation): only the values are
// compared, per timestamp.
var tiedQueries = map[string]bool{
	`topk(3, rate(app_requests_total{job="om"}[1m]))`: true,
	`bottomk(3, app_temperature_celsius)`:             true,
}

// TestPrometheusCompliance scrapes the same target with Debian's Prometheus
// 2.42 and with sonde, has Prometheus remote_write into a second sonde, and
// requires the three to answer every compliance query the same. It also
// compares the series, label and metadata endpoints.
func TestPrometheusCompliance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and scrapes for about a minute")
	}
	prometheusBinary(t)

	const points = 240
	target := newLockstepTarget(points, []string{"prom/om", "prom/text", "sonde/om", "sonde/text"})
	targetSrv := httptest.NewServer(target)
	defer targetSrv.Close()
	targetAddr := strings.TrimPrefix(targetSrv.URL, "http://")

	// sonde receiving Prometheus' remote write.
	rw := newTestServer(t, Options{Registerer: prometheus.NewRegistry()})

	// sonde scraping, configured through sonde's own configuration.
	cfg := config.Default()
	cfg.Metrics.ScrapeInterval = config.Duration(100 * time.Millisecond)
	cfg.Metrics.ScrapeTimeout = config.Duration(100 * time.Millisecond)
	for _, job := range []string{"om", "text"} {
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, config.ScrapeConfig{
			JobName: job, MetricsPath: "/" + job, Params: map[string][]string{"scraper": {"sonde"}},
			StaticConfigs: []config.StaticConfig{{Targets: []string{targetAddr}}},
		})
	}
	require.NoError(t, cfg.Validate())
	pcfg, err := PrometheusConfig(cfg)
	require.NoError(t, err)
	sc := newTestServer(t, Options{Prometheus: pcfg})
	scrapeDone := make(chan error, 1)
	go func() { scrapeDone <- sc.store.RunScrape() }()
	defer func() {
		sc.store.StopScrape()
		require.NoError(t, <-scrapeDone)
	}()

	prom := startPrometheus(t, fmt.Sprintf(`
global:
  scrape_interval: 100ms
  scrape_timeout: 100ms
scrape_configs:
  - job_name: om
    metrics_path: /om
    params: {scraper: [prom]}
    static_configs: [{targets: [%q]}]
  - job_name: text
    metrics_path: /text
    params: {scraper: [prom]}
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s/api/v1/write
    queue_config: {batch_send_deadline: 200ms, max_samples_per_send: 1000, min_backoff: 50ms}
    metadata_config: {send_interval: 1s}
`, targetAddr, targetAddr, rw.srv.URL), "--scrape.discovery-reload-interval=100ms")
	// The points run ahead of the clock (a few minutes by the end), from
	// after Prometheus' start: it only remote-writes newer samples.
	base := time.Now().Truncate(time.Second).Add(2 * time.Second).UnixMilli()
	target.start(base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go target.run(ctx, func(k int) bool {
		// Point k is stored when both scrapers stored its four
		// temperatures (a scrape is committed whole).
		q := fmt.Sprintf(`count(timestamp(app_temperature_celsius) == %s)`, strconv.FormatFloat(float64(target.timestamp(k))/1000, 'f', 3, 64))
		for _, u := range []string{prom.URL, sc.srv.URL} {
			resp, err := http.Get(u + "/api/v1/query?" + url.Values{"query": {q}, "time": {formatTime(time.UnixMilli(target.timestamp(k)))}}.Encode())
			if err != nil {
				return false
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"4"]`) {
				return false
			}
		}
		return true
	})

	select {
	case <-target.done():
	case <-time.After(5 * time.Minute):
		t.Fatalf("the scrapers did not fetch all %d points (at %d)", points, target.progress())
	}
	last := target.timestamp(points - 1)
	end := time.UnixMilli(last + 250)

	// Wait for the last point to reach every server (remote write batches).
	servers := map[string]string{"prometheus": prom.URL, "sonde-remote-write": rw.srv.URL, "sonde-scrape": sc.srv.URL}
	for name, u := range servers {
		require.Eventually(t, func() bool {
			v := instantVector(t, u, `timestamp(app_temperature_celsius)`, end)
			if len(v) != 4 {
				return false
			}
			for _, s := range v {
				if s.Value[1] != strconv.FormatFloat(float64(last)/1000, 'f', -1, 64) {
					return false
				}
			}
			return true
		}, time.Minute, 100*time.Millisecond, "%s did not get the last point", name)
	}
	// Every point, in every store (none lost or doubled).
	for name, u := range servers {
		for _, metric := range []string{"app_requests_total", "app_temperature_celsius", "app_request_duration_seconds_bucket",
			"app_request_duration_seconds_sum", "app_request_duration_seconds_count", "app_response_size_bytes",
			"app_response_size_bytes_sum", "app_response_size_bytes_count"} {
			v := instantVector(t, u, `count_over_time(`+metric+`{job=~"om|text"}[10m])`, end)
			require.NotEmpty(t, v, "%s: %s", name, metric)
			for _, s := range v {
				require.Equal(t, strconv.Itoa(points), s.Value[1], "%s: %s%v", name, metric, s.Metric)
			}
		}
	}

	// Evaluation times: away from the samples' 500ms phase and from whole
	// seconds, where subqueries evaluate (Prometheus 3 excludes a sample
	// exactly at a range's start, 2.42 includes it), and
	// late enough that no range (with its offset) reaches the start of the
	// series (Prometheus 3 extrapolates a counter's rate towards zero
	// differently there).
	at := func(sec float64) time.Time { return time.UnixMilli(base + int64(sec*1000)) }
	instants := []time.Time{at(125.25), at(150.1), at(200.75), at(239.9)}
	type rangeQ struct {
		start, end time.Time
		step       time.Duration
	}
	ranges := []rangeQ{{at(125.25), at(239.25), 5 * time.Second}, {at(130.4), at(237.4), 17 * time.Second}}

	compared, errorsCompared := 0, 0
	compare := func(what string, wantCode int, want apiResponse, gotCode int, got apiResponse, ordered, tied bool) {
		t.Helper()
		require.Equal(t, wantCode, gotCode, "%s: status (Prometheus: %s, sonde: %s)", what, want.Error, got.Error)
		require.Equal(t, want.Status, got.Status, what)
		if want.Status == "error" {
			require.Equal(t, want.ErrorType, got.ErrorType, what)
			errorsCompared++
			return
		}
		requireSameResult(t, what, want, got, ordered, tied)
	}
	for _, q := range complianceQueries {
		q = strings.ReplaceAll(q, "%T", formatTime(at(120.25)))
		for _, ts := range instants {
			params := url.Values{"query": {q}, "time": {formatTime(ts)}}
			wantCode, want := get(t, prom.URL, "/api/v1/query", params)
			for name, u := range servers {
				if name == "prometheus" {
					continue
				}
				gotCode, got := get(t, u, "/api/v1/query", params)
				compare(fmt.Sprintf("%s at %s on %s", q, params.Get("time"), name), wantCode, want, gotCode, got, orderedQueries[q], tiedQueries[q])
			}
			compared++
		}
		for _, rq := range ranges {
			params := url.Values{"query": {q}, "start": {formatTime(rq.start)}, "end": {formatTime(rq.end)}, "step": {strconv.FormatFloat(rq.step.Seconds(), 'f', -1, 64)}}
			wantCode, want := get(t, prom.URL, "/api/v1/query_range", params)
			for name, u := range servers {
				if name == "prometheus" {
					continue
				}
				// Grafana sends range queries as POST forms.
				gotCode, got := postForm(t, u, "/api/v1/query_range", params)
				compare(fmt.Sprintf("%s over [%s, %s] on %s", q, params.Get("start"), params.Get("end"), name), wantCode, want, gotCode, got, false, tiedQueries[q])
			}
			compared++
		}
	}
	require.Less(t, errorsCompared, compared/10, "most compliance queries must succeed")
	t.Logf("%d queries, %d evaluations compared on 2 sonde servers", len(complianceQueries), compared)

	// Series, label names and values: the remote-written sonde holds what
	// Prometheus holds; the scraping sonde the same series.
	for _, req := range []struct {
		path   string
		params url.Values
	}{
		{"/api/v1/series", url.Values{"match[]": {`{job="om"}`, `app_temperature_celsius`}}},
		{"/api/v1/labels", nil},
		{"/api/v1/labels", url.Values{"match[]": {`app_request_duration_seconds_bucket`}}},
		{"/api/v1/label/__name__/values", nil},
		{"/api/v1/label/route/values", url.Values{"match[]": {`app_requests_total{code="500"}`}}},
		{"/api/v1/label/le/values", nil},
	} {
		want := sortedData(t, rawQuery(t, prom.URL, req.path, req.params))
		for name, u := range servers {
			if name == "prometheus" {
				continue
			}
			require.Equal(t, want, sortedData(t, rawQuery(t, u, req.path, req.params)), "%s %v on %s", req.path, req.params, name)
		}
	}

	// Metadata: scraped targets' (sonde-scrape) and remote-written
	// (sonde-remote-write) metadata equal Prometheus'.
	want := metadataOf(t, prom.URL)
	require.Contains(t, want, "app_requests")       // OpenMetrics family
	require.Contains(t, want, "app_requests_total") // text format family
	require.Equal(t, want, metadataOf(t, sc.srv.URL), "sonde-scrape metadata")
	require.Eventually(t, func() bool {
		got := metadataOf(t, rw.srv.URL)
		for fam, md := range want {
			if fmt.Sprint(got[fam]) != fmt.Sprint(md) {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond, "sonde-remote-write metadata: want %v, got %v", want, metadataOf(t, rw.srv.URL))

	// sonde's own scrape series.
	for _, q := range []string{`up{job=~"om|text"} == 1`, `scrape_duration_seconds{job=~"om|text"} > 0`, `scrape_samples_scraped{job=~"om|text"} > 0`} {
		v := instantVector(t, sc.srv.URL, q, time.Now())
		require.Len(t, v, 2, q)
	}
}

// rawQuery GETs an API endpoint and returns the answer, which must succeed.
func rawQuery(t *testing.T, base, path string, params url.Values) apiResponse {
	t.Helper()
	code, r := get(t, base, path, params)
	require.Equal(t, http.StatusOK, code, "%s %v: %s", path, params, r.Error)
	require.Equal(t, "success", r.Status)
	return r
}

// point is a sample of a compared result.
type point struct {
	t float64
	v string
}

// requireSameResult compares two query answers: same result type, same
// series (by labels) with the same timestamps, and values equal within a
// relative 1e-9 (Prometheus 3 sums with Kahan compensation, 2.42 does not).
func requireSameResult(t *testing.T, what string, want, got apiResponse, ordered, tied bool) {
	t.Helper()
	var w, g queryResult
	require.NoError(t, json.Unmarshal(want.Data, &w))
	require.NoError(t, json.Unmarshal(got.Data, &g))
	require.Equal(t, w.ResultType, g.ResultType, what)
	ws, wOrder := parseResult(t, w)
	gs, gOrder := parseResult(t, g)
	if tied {
		ws, gs = valuesByTime(ws), valuesByTime(gs)
	}
	if ordered {
		require.Equal(t, wOrder, gOrder, "%s: order", what)
	}
	require.Equal(t, sortedKeys(ws), sortedKeys(gs), "%s: series", what)
	for key, wp := range ws {
		gp := gs[key]
		require.Len(t, gp, len(wp), "%s: points of %s", what, key)
		for i := range wp {
			require.Equal(t, wp[i].t, gp[i].t, "%s: timestamps of %s", what, key)
			require.True(t, sameValue(wp[i].v, gp[i].v), "%s: %s at %v: Prometheus %s, sonde %s", what, key, wp[i].t, wp[i].v, gp[i].v)
		}
	}
}

func parseResult(t *testing.T, r queryResult) (map[string][]point, []string) {
	t.Helper()
	pt := func(p [2]any) point {
		ts, ok := p[0].(float64)
		require.True(t, ok)
		v, ok := p[1].(string)
		require.True(t, ok)
		return point{ts, v}
	}
	out := map[string][]point{}
	var order []string
	switch r.ResultType {
	case "vector":
		var v []vectorSample
		require.NoError(t, json.Unmarshal(r.Result, &v))
		for _, s := range v {
			k := fmt.Sprint(s.Metric)
			out[k] = []point{pt(s.Value)}
			order = append(order, k)
		}
	case "matrix":
		var m []matrixSeries
		require.NoError(t, json.Unmarshal(r.Result, &m))
		for _, s := range m {
			k := fmt.Sprint(s.Metric)
			for _, p := range s.Values {
				out[k] = append(out[k], pt(p))
			}
			order = append(order, k)
		}
	case "scalar", "string":
		var p [2]any
		require.NoError(t, json.Unmarshal(r.Result, &p))
		out[""] = []point{pt(p)}
	default:
		t.Fatalf("unknown result type %q", r.ResultType)
	}
	return out, order
}

// valuesByTime regroups a result by timestamp, with the values sorted and
// the series forgotten.
func valuesByTime(m map[string][]point) map[string][]point {
	out := map[string][]point{}
	for _, pts := range m {
		for _, p := range pts {
			k := strconv.FormatFloat(p.t, 'f', 3, 64)
			out[k] = append(out[k], p)
		}
	}
	for _, pts := range out {
		sort.Slice(pts, func(i, j int) bool {
			x, _ := strconv.ParseFloat(pts[i].v, 64)
			y, _ := strconv.ParseFloat(pts[j].v, 64)
			return x < y
		})
	}
	return out
}

func sortedKeys(m map[string][]point) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return false // equal ones were equal strings
	}
	return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
}

// sortedData decodes an answer's data (a list) and sorts it.
func sortedData(t *testing.T, r apiResponse) []string {
	t.Helper()
	var items []json.RawMessage
	require.NoError(t, json.Unmarshal(r.Data, &items))
	out := make([]string, 0, len(items))
	for _, it := range items {
		var v any
		require.NoError(t, json.Unmarshal(it, &v))
		out = append(out, fmt.Sprint(v))
	}
	sort.Strings(out)
	return out
}

// metadataOf returns /api/v1/metadata as family -> sorted "type|help|unit".
func metadataOf(t *testing.T, base string) map[string][]string {
	t.Helper()
	r := rawQuery(t, base, "/api/v1/metadata", nil)
	var m map[string][]struct{ Type, Help, Unit string }
	require.NoError(t, json.Unmarshal(r.Data, &m))
	out := map[string][]string{}
	for fam, mds := range m {
		for _, md := range mds {
			out[fam] = append(out[fam], md.Type+"|"+md.Help+"|"+md.Unit)
		}
		sort.Strings(out[fam])
	}
	return out
}
