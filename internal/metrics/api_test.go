package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/api")

// goldenT0 is the time of the golden dataset's last sample (2023-11-14T22:13:20Z).
const goldenT0 = int64(1_700_000_000_000)

// loadGoldenData writes a fixed dataset: counters, a gauge and histogram
// buckets, one sample every 15s over 10 minutes before goldenT0.
func loadGoldenData(t *testing.T, s *Store) {
	t.Helper()
	app := s.Appender(context.Background())
	for i := 0; i <= 40; i++ {
		ts := goldenT0 - int64(40-i)*15_000
		for _, c := range []struct {
			code, instance string
			per            float64
		}{{"200", "a:9090", 10}, {"500", "a:9090", 1}, {"200", "b:9090", 7}} {
			_, err := app.Append(0, labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", c.instance, "code", c.code), ts, float64(i)*c.per)
			require.NoError(t, err)
		}
		_, err := app.Append(0, labels.FromStrings("__name__", "queue_depth", "job", "worker", "queue", "emails"), ts, float64(i%7))
		require.NoError(t, err)
		for j, le := range []string{"0.1", "0.5", "+Inf"} {
			_, err := app.Append(0, labels.FromStrings("__name__", "latency_seconds_bucket", "job", "api", "le", le), ts, float64(i*(j+2)))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	s.SetMetadata("http_requests_total", metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests served."})
	s.SetMetadata("queue_depth", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Jobs waiting."})
	s.SetMetadata("queue_depth", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Jobs waiting <in queue>."})
	s.SetMetadata("latency_seconds", metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"})
}

type apiCase struct {
	name   string
	method string
	path   string
	params url.Values
}

var (
	t0s      = "1700000000"
	t0r      = "2023-11-14T22:13:20Z"
	t10mr    = "2023-11-14T22:03:20Z"
	apiCases = []apiCase{
		{"query_vector", "GET", "/api/v1/query", url.Values{"query": {`http_requests_total`}, "time": {t0s}}},
		{"query_vector_rfc3339", "GET", "/api/v1/query", url.Values{"query": {`sum by (code) (rate(http_requests_total[5m]))`}, "time": {t0r}}},
		{"query_matrix", "GET", "/api/v1/query", url.Values{"query": {`queue_depth[1m]`}, "time": {"1700000000.000"}}},
		{"query_scalar", "GET", "/api/v1/query", url.Values{"query": {`1 + 1/3`}, "time": {t0s}}},
		{"query_string", "GET", "/api/v1/query", url.Values{"query": {`"a <string>"`}, "time": {"1700000000.123"}}},
		{"query_special_values", "GET", "/api/v1/query", url.Values{"query": {`vector(1/0) or label_replace(vector(-1/0), "x", "y", "", "") or label_replace(vector(0/0), "x", "z", "", "") or label_replace(vector(1e-9), "x", "w", "", "")`}, "time": {t0s}}},
		{"query_post_form", "POST", "/api/v1/query", url.Values{"query": {`queue_depth`}, "time": {t0s}}},
		{"query_limit", "GET", "/api/v1/query", url.Values{"query": {`http_requests_total`}, "time": {t0s}, "limit": {"1"}}},
		{"query_info_annotation", "GET", "/api/v1/query", url.Values{"query": {`rate(queue_depth[5m])`}, "time": {t0s}}},
		{"query_histogram_quantile", "GET", "/api/v1/query", url.Values{"query": {`histogram_quantile(0.9, rate(latency_seconds_bucket[5m]))`}, "time": {t0s}}},
		{"query_parse_error", "GET", "/api/v1/query", url.Values{"query": {`sum(`}}},
		{"query_bad_time", "GET", "/api/v1/query", url.Values{"query": {`up`}, "time": {"yesterday"}}},
		{"query_bad_timeout", "GET", "/api/v1/query", url.Values{"query": {`up`}, "timeout": {"soon"}}},
		{"query_timeout", "GET", "/api/v1/query", url.Values{"query": {`up`}, "timeout": {"0.000000001"}}},
		{"query_exec_error", "GET", "/api/v1/query", url.Values{"query": {`http_requests_total + on(job) http_requests_total`}, "time": {t0s}}},
		{"query_bad_limit", "GET", "/api/v1/query", url.Values{"query": {`up`}, "limit": {"-1"}}},
		{"query_range_get", "GET", "/api/v1/query_range", url.Values{"query": {`rate(http_requests_total{code="200"}[1m])`}, "start": {"1699999700"}, "end": {t0s}, "step": {"60"}}},
		{"query_range_grafana_post", "POST", "/api/v1/query_range", url.Values{"query": {`sum(queue_depth)`}, "start": {t10mr}, "end": {t0r}, "step": {"2m"}}},
		{"query_range_scalar", "GET", "/api/v1/query_range", url.Values{"query": {`time()`}, "start": {"1699999880"}, "end": {t0s}, "step": {"60"}}},
		{"query_range_zero_step", "GET", "/api/v1/query_range", url.Values{"query": {`up`}, "start": {"0"}, "end": {"10"}, "step": {"0"}}},
		{"query_range_too_many_points", "GET", "/api/v1/query_range", url.Values{"query": {`up`}, "start": {"0"}, "end": {"100000"}, "step": {"1"}}},
		{"query_range_end_before_start", "GET", "/api/v1/query_range", url.Values{"query": {`up`}, "start": {"10"}, "end": {"0"}, "step": {"1"}}},
		{"query_range_string", "GET", "/api/v1/query_range", url.Values{"query": {`"x"`}, "start": {"0"}, "end": {"10"}, "step": {"1"}}},
		{"series", "GET", "/api/v1/series", url.Values{"match[]": {`http_requests_total{code="200"}`, `queue_depth`}}},
		{"series_post_form", "POST", "/api/v1/series", url.Values{"match[]": {`{job="api"}`}, "start": {"1699999000"}, "end": {t0s}}},
		{"series_limit", "GET", "/api/v1/series", url.Values{"match[]": {`http_requests_total`}, "limit": {"2"}}},
		{"series_no_match", "GET", "/api/v1/series", nil},
		{"series_empty_matcher", "GET", "/api/v1/series", url.Values{"match[]": {`{job=~".*"}`}}},
		{"series_bad_matcher", "GET", "/api/v1/series", url.Values{"match[]": {`{job=`}}},
		{"series_out_of_range", "GET", "/api/v1/series", url.Values{"match[]": {`queue_depth`}, "start": {"0"}, "end": {"100"}}},
		{"labels", "GET", "/api/v1/labels", nil},
		{"labels_grafana_match", "POST", "/api/v1/labels", url.Values{"match[]": {`queue_depth`}, "start": {"1699999000"}, "end": {t0s}}},
		{"labels_two_matches", "GET", "/api/v1/labels", url.Values{"match[]": {`queue_depth`, `latency_seconds_bucket`}}},
		{"labels_limit", "GET", "/api/v1/labels", url.Values{"limit": {"2"}}},
		{"label_values", "GET", "/api/v1/label/job/values", nil},
		{"label_values_name", "GET", "/api/v1/label/__name__/values", url.Values{"match[]": {`{job="api"}`}}},
		{"label_values_escaped_name", "GET", "/api/v1/label/U__in_2e_stance/values", nil},
		{"label_values_bad_matcher", "GET", "/api/v1/label/job/values", url.Values{"match[]": {`}`}}},
		{"label_values_bad_start", "GET", "/api/v1/label/job/values", url.Values{"start": {"never"}}},
		{"metadata", "GET", "/api/v1/metadata", nil},
		{"metadata_metric", "GET", "/api/v1/metadata", url.Values{"metric": {"queue_depth"}}},
		{"metadata_limit", "GET", "/api/v1/metadata", url.Values{"limit": {"1"}, "limit_per_metric": {"1"}}},
		{"metadata_bad_limit", "GET", "/api/v1/metadata", url.Values{"limit": {"many"}}},
		{"buildinfo", "GET", "/api/v1/status/buildinfo", nil},
	}
)

// TestAPIGolden answers Prometheus API requests on a fixed dataset and
// compares status and JSON with testdata/api/*.json (go test -update
// rewrites them). The shapes are Prometheus': see the compliance test for
// answers compared with a real Prometheus.
func TestAPIGolden(t *testing.T) {
	ts := newTestServer(t, Options{})
	loadGoldenData(t, ts.store)
	unstable := regexp.MustCompile(`"(goVersion|revision|buildDate)": "[^"]*"`)
	names := map[string]bool{}
	for _, c := range apiCases {
		require.False(t, names[c.name], "duplicate case %s", c.name)
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			var resp *http.Response
			var err error
			if c.method == "POST" {
				resp, err = http.PostForm(ts.srv.URL+c.path, c.params)
			} else {
				u := ts.srv.URL + c.path
				if len(c.params) > 0 {
					u += "?" + c.params.Encode()
				}
				resp, err = http.Get(u)
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, body, "", "  "), "%s", body)
			got := fmt.Sprintf("%s %s?%s\n%d\n%s\n", c.method, c.path, c.params.Encode(), resp.StatusCode, unstable.ReplaceAllString(pretty.String(), `"$1": "<unstable>"`))
			path := filepath.Join("testdata", "api", c.name+".golden")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			require.Equal(t, string(want), got)
		})
	}
	// No golden file is left without a case.
	files, err := filepath.Glob(filepath.Join("testdata", "api", "*.golden"))
	require.NoError(t, err)
	for _, f := range files {
		require.True(t, names[strings.TrimSuffix(filepath.Base(f), ".golden")], "stale golden file %s", f)
	}
}

func TestQueryConcurrencyLimit(t *testing.T) {
	ts := newTestServer(t, Options{Query: QueryOptions{MaxConcurrency: 1}})
	release, err := ts.store.AcquireQuery(context.Background())
	require.NoError(t, err)
	// With the only slot taken, a query waits and then times out as
	// Prometheus' own queue does.
	code, r := get(t, ts.srv.URL, "/api/v1/query", url.Values{"query": {"1"}, "timeout": {"0.2"}})
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "timeout", r.ErrorType)
	release()
	code, _ = get(t, ts.srv.URL, "/api/v1/query", url.Values{"query": {"1"}, "timeout": {"5"}})
	require.Equal(t, http.StatusOK, code)
}
