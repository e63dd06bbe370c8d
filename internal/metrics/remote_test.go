package metrics

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/config"
)

// exporter is a scrape target made with Prometheus' Go client (which
// negotiates OpenMetrics or the text format), behind optional auth.
func exporter(t *testing.T, check func(*http.Request) bool) (*httptest.Server, prometheus.Gauge) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "exporter_temperature_celsius", Help: "Temperature."})
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exporter_events_total", Help: "Events."}, []string{"kind"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "exporter_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 0.5}})
	reg.MustRegister(g, c, h)
	g.Set(21.5)
	c.WithLabelValues("a").Add(3)
	h.Observe(0.2)
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(r) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, g
}

func TestScrapeWithAuthAndLabels(t *testing.T) {
	basic, _ := exporter(t, func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "sonde" && p == "s3cret"
	})
	bearer, gauge := exporter(t, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer t0ken" })
	wrong, _ := exporter(t, func(r *http.Request) bool { return false })
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	cfg := config.Default()
	cfg.Metrics.ScrapeInterval = config.Duration(200 * time.Millisecond)
	cfg.Metrics.ScrapeTimeout = config.Duration(200 * time.Millisecond)
	cfg.ScrapeConfigs = []config.ScrapeConfig{
		{JobName: "basic", StaticConfigs: []config.StaticConfig{{Targets: []string{host(basic)}, Labels: map[string]string{"env": "test"}}},
			HTTPClient: config.HTTPClient{BasicAuth: &config.BasicAuth{Username: "sonde", Password: "s3cret"}}},
		{JobName: "bearer", StaticConfigs: []config.StaticConfig{{Targets: []string{host(bearer)}}},
			HTTPClient: config.HTTPClient{BearerToken: "t0ken"}, HonorLabels: true,
			MetricRelabelConfigs: []config.RelabelConfig{{SourceLabels: []string{"__name__"}, Regex: ptr("exporter_latency.*"), Action: "drop"}}},
		{JobName: "wrong", StaticConfigs: []config.StaticConfig{{Targets: []string{host(wrong)}}},
			HTTPClient: config.HTTPClient{BasicAuth: &config.BasicAuth{Username: "x", Password: "y"}}},
	}
	require.NoError(t, cfg.Validate())
	pcfg, err := PrometheusConfig(cfg)
	require.NoError(t, err)
	ts := newTestServer(t, Options{Prometheus: pcfg})
	done := make(chan error, 1)
	go func() { done <- ts.store.RunScrape() }()
	defer func() {
		ts.store.StopScrape()
		require.NoError(t, <-done)
	}()

	upOf := func() map[string]string {
		out := map[string]string{}
		for _, s := range instantVector(t, ts.srv.URL, `up`, time.Now()) {
			out[s.Metric["job"]] = s.Value[1].(string)
		}
		return out
	}
	require.Eventually(t, func() bool {
		up := upOf()
		return up["basic"] == "1" && up["bearer"] == "1" && up["wrong"] == "0"
	}, 20*time.Second, 100*time.Millisecond, "up: %v", upOf())

	v := instantVector(t, ts.srv.URL, `exporter_temperature_celsius{job="basic",env="test"}`, time.Now())
	require.Len(t, v, 1)
	require.Equal(t, "21.5", v[0].Value[1])
	gauge.Set(-3)
	require.Eventually(t, func() bool {
		v := instantVector(t, ts.srv.URL, `exporter_temperature_celsius{job="bearer"}`, time.Now())
		return len(v) == 1 && v[0].Value[1] == "-3"
	}, 10*time.Second, 100*time.Millisecond)
	require.Len(t, instantVector(t, ts.srv.URL, `exporter_events_total{kind="a"}`, time.Now()), 2)
	require.Len(t, instantVector(t, ts.srv.URL, `exporter_latency_seconds_bucket{job="basic"}`, time.Now()), 3)
	require.Empty(t, instantVector(t, ts.srv.URL, `exporter_latency_seconds_bucket{job="bearer"}`, time.Now()), "metric_relabel_configs drop")
	require.Len(t, instantVector(t, ts.srv.URL, `scrape_duration_seconds > 0`, time.Now()), 3)

	// Target metadata, as Prometheus lists it (the Go client speaks
	// OpenMetrics, so the counter family has no _total).
	md := metadataOf(t, ts.srv.URL)
	require.Equal(t, []string{"counter|Events.|"}, md["exporter_events"])
	require.Equal(t, []string{"gauge|Temperature.|"}, md["exporter_temperature_celsius"])
}

func ptr[T any](v T) *T { return &v }

// receiver is a remote write endpoint that fails its first requests.
type receiver struct {
	failFirst int32
	requests  atomic.Int32
	mu        sync.Mutex
	samples   map[string][]prompb.Sample
	metadata  map[string]prompb.MetricMetadata
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.requests.Add(1)
	if n <= r.failFirst {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(req.Body)
	buf, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(buf); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range wr.Timeseries {
		b := labels.NewScratchBuilder(0)
		key := ts.ToLabels(&b, nil).String()
		r.samples[key] = append(r.samples[key], ts.Samples...)
	}
	for _, md := range wr.Metadata {
		r.metadata[md.MetricFamilyName] = md
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples[key])
}

func TestRemoteWriteForwardsWithRetries(t *testing.T) {
	rcv := &receiver{failFirst: 3, samples: map[string][]prompb.Sample{}, metadata: map[string]prompb.MetricMetadata{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	cfg := config.Default()
	cfg.Metrics.ExternalLabels = map[string]string{"cluster": "test"}
	cfg.Metrics.RemoteWrite = []config.RemoteWrite{{
		URL: srv.URL + "/push", Name: "flaky",
		QueueConfig: config.QueueConfig{BatchSendDeadline: config.Duration(100 * time.Millisecond), MinBackoff: config.Duration(10 * time.Millisecond), MaxBackoff: config.Duration(50 * time.Millisecond)},
	}}
	require.NoError(t, cfg.Validate())
	pcfg, err := PrometheusConfig(cfg)
	require.NoError(t, err)
	ts := newTestServer(t, Options{Prometheus: pcfg})

	// Samples that arrive by remote write are forwarded too. The queue
	// only forwards samples newer than its start (as Prometheus does),
	// which is a moment after Open returns.
	now := time.Now().Add(time.Second).UnixMilli()
	var samples []prompb.Sample
	for i := 0; i < 100; i++ {
		samples = append(samples, prompb.Sample{Value: float64(i), Timestamp: now + int64(i)})
	}
	code, body := postWrite(t, ts.srv.URL, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: series("forwarded_total", "job", "a"), Samples: samples}}})
	require.Equal(t, http.StatusNoContent, code, body)

	key := `{__name__="forwarded_total", cluster="test", job="a"}`
	require.Eventually(t, func() bool { return rcv.count(key) >= 100 }, 30*time.Second, 50*time.Millisecond,
		"forwarded %d of 100 samples after %d requests", rcv.count(key), rcv.requests.Load())
	require.Greater(t, rcv.requests.Load(), int32(3), "the failed requests were retried")
	rcv.mu.Lock()
	got := rcv.samples[key]
	rcv.mu.Unlock()
	for i, s := range got[:100] {
		require.Equal(t, float64(i), s.Value)
	}
}

func TestRemoteWriteToPrometheus(t *testing.T) {
	prom := startPrometheus(t, "global: {}\n", "--web.enable-remote-write-receiver")
	cfg := config.Default()
	cfg.Metrics.RemoteWrite = []config.RemoteWrite{{URL: prom.URL + "/api/v1/write",
		QueueConfig: config.QueueConfig{BatchSendDeadline: config.Duration(100 * time.Millisecond)}}}
	pcfg, err := PrometheusConfig(cfg)
	require.NoError(t, err)
	ts := newTestServer(t, Options{Prometheus: pcfg})

	now := time.Now().Add(time.Second) // newer than the queue's start
	app := ts.store.Appender(t.Context())
	for i := 0; i < 10; i++ {
		lset := labels.FromStrings("__name__", "sonde_forwarded", "i", fmt.Sprint(i))
		ref, err := app.Append(0, lset, now.UnixMilli(), float64(i))
		require.NoError(t, err)
		_, err = app.UpdateMetadata(ref, lset, metadata.Metadata{Type: model.MetricTypeGauge, Help: "Forwarded."})
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	require.Eventually(t, func() bool {
		v := instantVector(t, prom.URL, `sum(sonde_forwarded)`, now)
		return len(v) == 1 && v[0].Value[1] == "45"
	}, 30*time.Second, 100*time.Millisecond)
}

func TestRemoteReadFromPrometheus(t *testing.T) {
	target, _ := exporter(t, nil)
	prom := startPrometheus(t, fmt.Sprintf(`
global: {scrape_interval: 200ms, scrape_timeout: 200ms}
scrape_configs:
  - job_name: remote
    static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(target.URL, "http://")))
	require.Eventually(t, func() bool {
		return len(instantVector(t, prom.URL, `exporter_temperature_celsius`, time.Now())) == 1
	}, 30*time.Second, 100*time.Millisecond)

	cfg := config.Default()
	cfg.Metrics.RemoteRead = []config.RemoteRead{{URL: prom.URL + "/api/v1/read", Name: "prom", ReadRecent: true}}
	require.NoError(t, cfg.Validate())
	pcfg, err := PrometheusConfig(cfg)
	require.NoError(t, err)
	ts := newTestServer(t, Options{Prometheus: pcfg})

	// A local series and a remote one, in one query.
	app := ts.store.Appender(t.Context())
	_, err = app.Append(0, labels.FromStrings("__name__", "exporter_temperature_celsius", "job", "local"), time.Now().UnixMilli(), 30)
	require.NoError(t, err)
	require.NoError(t, app.Commit())
	v := instantVector(t, ts.srv.URL, `exporter_temperature_celsius`, time.Now())
	got := map[string]string{}
	for _, s := range v {
		got[s.Metric["job"]] = s.Value[1].(string)
	}
	require.Equal(t, map[string]string{"remote": "21.5", "local": "30"}, got)
	code, r := get(t, ts.srv.URL, "/api/v1/series", url.Values{"match[]": {`exporter_temperature_celsius`}})
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(r.Data), `"job":"remote"`)
	require.Contains(t, string(r.Data), `"job":"local"`)
}
