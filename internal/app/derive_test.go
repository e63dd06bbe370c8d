package app

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sonde-dev/sonde/internal/config"
)

// promValues runs an instant PromQL query through the main port and maps
// the value of label to each sample's value.
func promValues(t *testing.T, base, q, label string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(b, &r))
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		f, err := strconv.ParseFloat(s.Value[1].(string), 64)
		require.NoError(t, err)
		out[s.Metric[label]] = f
	}
	return out
}

func promValue(t *testing.T, base, q string) float64 {
	t.Helper()
	v := promValues(t, base, q, "")
	require.Len(t, v, 1, q)
	return v[""]
}

// startApp runs an App on loopback ports until the test ends (or stop is
// called).
func startApp(t *testing.T, cfg *config.Config) (a *App, base string, stop func()) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return a, "http://" + a.Addr("http").String(), stop
}

func (a *App) flushDerived(t *testing.T) {
	t.Helper()
	require.NoError(t, a.derived.d.Load().Flush(context.Background()))
}

func postLogs(t *testing.T, base, group string, lines []string) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/logs?group="+url.QueryEscape(group), "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
}

func genlogsLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../derive/testdata/genlogs-2000.ndjson.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	var lines []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, sc.Err())
	return lines
}

// TestDerivedMetricsEndToEnd ingests genlogs' access logs and an EMF line
// as NDJSON through the main port, with a metric filter configured, and
// reads the derived metrics with PromQL; after a restart the last
// aggregates, written at shutdown, are still there.
func TestDerivedMetricsEndToEnd(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{HTTP: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0"}
	zero := 0.0
	cfg.MetricFilters = []config.MetricFilter{
		{Metric: "checkout_errors_total", LogGroup: "api", Filter: `status >= 500 and route like "/checkout"`, Dimensions: map[string]string{"service": "service"}},
		{Metric: "slow_requests_total", LogGroup: "api", Filter: `latency_ms > 1000`, DefaultValue: &zero},
		{Metric: "request_bytes_total", LogGroup: "api", Filter: `method = "POST"`, Value: "bytes"},
	}
	a, base, stop := startApp(t, cfg)

	lines := genlogsLines(t)
	type line struct {
		Service, Route, Method string
		Status                 int
		Latency                float64 `json:"latency_ms"`
		Bytes                  float64
	}
	var parsed []line
	for _, l := range lines {
		var p line
		require.NoError(t, json.Unmarshal([]byte(l), &p))
		parsed = append(parsed, p)
	}
	half := len(lines) / 2
	postLogs(t, base, "api", lines[:half])
	a.flushDerived(t)
	postLogs(t, base, "api", lines[half:])
	emf := fmt.Sprintf(`{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service"]],"Metrics":[{"Name":"CartSize","Unit":"Count"}]}]},"Service":"cart","CartSize":[1,2,3],"method":"GET","route":"/cart","status":200,"latency_ms":3}`, time.Now().UnixMilli())
	postLogs(t, base, "shop", []string{emf})
	a.flushDerived(t)

	wantErrors := map[string]float64{}
	var slow, postBytes float64
	for _, p := range parsed {
		if p.Status >= 500 && strings.Contains(p.Route, "/checkout") {
			wantErrors[p.Service]++
		}
		if p.Latency > 1000 {
			slow++
		}
		if p.Method == "POST" {
			postBytes += p.Bytes
		}
	}
	require.NotEmpty(t, wantErrors)
	require.Equal(t, wantErrors, promValues(t, base, `checkout_errors_total`, "service"))
	require.Equal(t, slow, promValue(t, base, `slow_requests_total`))
	require.Equal(t, postBytes, promValue(t, base, `request_bytes_total`))

	// RED metrics: every access log line once; the EMF line is not one.
	require.Equal(t, float64(len(lines)), promValue(t, base, `sum(http_server_requests_total)`))
	require.Empty(t, promValues(t, base, `http_server_requests_total{route="/cart"}`, "route"))
	p99 := promValues(t, base, `histogram_quantile(0.99, sum by (le, route) (rate(http_server_request_duration_seconds_bucket[5m])))`, "route")
	require.Len(t, p99, 10)
	for route, v := range p99 {
		require.True(t, v > 0 && v <= 10, "p99 of %s: %v", route, v)
	}
	require.Greater(t, p99["/checkout"], 1.0, "genlogs' /checkout stalls for seconds now and then")
	// EMF.
	require.Equal(t, 6.0, promValue(t, base, `histogram_sum(CartSize{namespace="Shop",Service="cart"})`))

	// The derived metrics are in /api/v1/metadata.
	resp, err := http.Get(base + "/api/v1/metadata?metric=http_server_request_duration_seconds")
	require.NoError(t, err)
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(md), `"type":"histogram"`)

	// Shutdown writes what was aggregated since the last flush, before the
	// metric store closes.
	postLogs(t, base, "api", lines[:10])
	stop()
	_, base, _ = startApp(t, cfg)
	require.Equal(t, float64(len(lines)+10), promValue(t, base, `sum(last_over_time(http_server_requests_total[10m]))`))
}

// TestOTLPMetricsOnBothPorts sends OTLP metrics with the SDK exporter to
// the OTLP port and the main port.
func TestOTLPMetricsOnBothPorts(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{HTTP: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0"}
	a, base, _ := startApp(t, cfg)
	for _, port := range []string{"http", "otlp_http"} {
		ctx := context.Background()
		exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL("http://"+a.Addr(port).String()+"/v1/metrics"))
		require.NoError(t, err)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))),
			sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc-"+port))))
		c, err := mp.Meter("t").Int64Counter("orders.placed")
		require.NoError(t, err)
		c.Add(ctx, 4)
		require.NoError(t, mp.Shutdown(ctx))
	}
	require.Equal(t, map[string]float64{"svc-http": 4, "svc-otlp_http": 4}, promValues(t, base, `orders_placed_total`, "job"))
}

// TestREDFromOtelHTTPServerSpans instruments a real HTTP server with
// otelhttp, exports its spans to sonde over OTLP, and reads the p99 per
// route from the RED metrics of the server spans.
func TestREDFromOtelHTTPServerSpans(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{HTTP: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0"}
	a, base, _ := startApp(t, cfg)

	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://"+a.Addr("otlp_http").String()+"/v1/traces"))
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "shop"))))
	defer func() { require.NoError(t, tp.Shutdown(ctx)) }()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /slow/{id}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(60 * time.Millisecond)
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	srv := http.Server{Handler: otelhttp.NewHandler(mux, "shop", otelhttp.WithTracerProvider(tp))}
	ln, err := netListen()
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	get := func(path string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	round := func() {
		for i := 0; i < 10; i++ {
			get("/fast")
			get("/slow/" + strconv.Itoa(i))
		}
		get("/broken")
		require.NoError(t, tp.ForceFlush(ctx))
		a.flushDerived(t)
	}
	round()
	round()

	counts := promValues(t, base, `sum by (route) (http_server_requests_total{service="shop",method="GET"})`, "route")
	require.Equal(t, map[string]float64{"/fast": 20, "/slow/{id}": 20, "/broken": 2}, counts)
	require.Equal(t, 2.0, promValue(t, base, `sum(http_server_requests_total{status="500"})`))
	p99 := promValues(t, base, `histogram_quantile(0.99, sum by (le, route) (rate(http_server_request_duration_seconds_bucket[5m])))`, "route")
	require.Len(t, p99, 3)
	// Every /slow request took at least 60ms: its p99 is in the bucket
	// above 50ms or higher.
	require.GreaterOrEqual(t, p99["/slow/{id}"], 0.05)
	require.LessOrEqual(t, p99["/slow/{id}"], 10.0)
	require.False(t, math.IsNaN(p99["/fast"]))
	require.Greater(t, p99["/fast"], 0.0)
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
