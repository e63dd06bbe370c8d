package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/config"
)

// TestMetricsWiring starts sonde with a scrape job and tokens, writes by
// remote write and through the App's appendable, queries the Prometheus
// API on the main port, and checks that a restart keeps the samples.
func TestMetricsWiring(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE wiring_target_value gauge\nwiring_target_value 42")
	}))
	defer target.Close()

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{HTTP: "127.0.0.1:0"}
	cfg.Auth.Tokens = []config.Token{
		{Name: "writer", Token: "w", Scopes: []string{config.ScopeIngest}},
		{Name: "reader", Token: "r", Scopes: []string{config.ScopeRead}},
	}
	cfg.Metrics.ScrapeInterval = config.Duration(200 * time.Millisecond)
	cfg.Metrics.ScrapeTimeout = config.Duration(200 * time.Millisecond)
	cfg.ScrapeConfigs = []config.ScrapeConfig{{JobName: "wiring", StaticConfigs: []config.StaticConfig{{Targets: []string{strings.TrimPrefix(target.URL, "http://")}}}}}
	require.NoError(t, cfg.Validate())

	start := func() (*App, string, func()) {
		a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, "http://" + a.Addr("http").String(), func() {
			cancel()
			require.NoError(t, <-done)
		}
	}
	query := func(base, token, q string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, base+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	value := func(base, q string) string {
		code, body := query(base, "r", q)
		require.Equal(t, http.StatusOK, code, body)
		var r struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		if len(r.Data.Result) != 1 {
			return ""
		}
		return r.Data.Result[0].Value[1].(string)
	}

	a, base, stop := start()
	// Scraping runs.
	require.Eventually(t, func() bool { return value(base, `wiring_target_value{job="wiring"}`) == "42" }, 20*time.Second, 100*time.Millisecond)
	require.Equal(t, "1", value(base, `up{job="wiring"}`))

	// Remote write needs the ingest scope; queries the read scope.
	wr, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "wiring_pushed"}},
		Samples: []prompb.Sample{{Value: 7, Timestamp: time.Now().UnixMilli()}},
	}}}).Marshal()
	require.NoError(t, err)
	for token, want := range map[string]int{"r": http.StatusForbidden, "w": http.StatusNoContent} {
		req, err := http.NewRequest(http.MethodPost, base+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, wr)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "token %s", token)
	}
	code, _ := query(base, "w", `wiring_pushed`)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "7", value(base, `wiring_pushed`))

	// Other metric sources write through the App's appendable.
	app := a.metricsStore().Appender(context.Background())
	_, err = app.Append(0, labels.FromStrings("__name__", "wiring_appended"), time.Now().UnixMilli(), 3)
	require.NoError(t, err)
	require.NoError(t, app.Commit())
	require.Equal(t, "3", value(base, `wiring_appended`))

	// sonde's own metrics include the TSDB's.
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer r")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	self, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(self), "prometheus_tsdb_head_series ")
	stop()

	// After a restart the samples are still there.
	_, base, stop = start()
	defer stop()
	require.Equal(t, "7", value(base, `last_over_time(wiring_pushed[10m])`))
	require.Equal(t, "3", value(base, `last_over_time(wiring_appended[10m])`))
}
