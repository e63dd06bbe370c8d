package otlp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sonde-dev/sonde/internal/metrics"
	"github.com/sonde-dev/sonde/internal/pipeline"
)

// metricsEnv is a receiver whose metrics go to a real metric store.
type metricsEnv struct {
	*testEnv
	ms *metrics.Store
}

func newMetricsEnv(t testing.TB) *metricsEnv {
	t.Helper()
	ms, err := metrics.Open(metrics.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ms.Close()) })
	return &metricsEnv{testEnv: newTestEnv(t, pipeline.Options{}, Options{MetricStore: ms}), ms: ms}
}

func (e *metricsEnv) query(t *testing.T, q string) promql.Vector {
	t.Helper()
	qry, err := e.ms.Engine().NewInstantQuery(context.Background(), e.ms, nil, q, time.Now())
	require.NoError(t, err)
	defer qry.Close()
	res := qry.Exec(context.Background())
	require.NoError(t, res.Err, q)
	v, err := res.Vector()
	require.NoError(t, err, q)
	return v
}

func (e *metricsEnv) value(t *testing.T, q string) float64 {
	t.Helper()
	v := e.query(t, q)
	require.Len(t, v, 1, "%s: %v", q, v)
	return v[0].F
}

// recordSDKMetrics records one of each kind of instrument with the
// OpenTelemetry SDK and exports them through exp.
func recordSDKMetrics(t *testing.T, exp sdkmetric.Exporter) {
	t.Helper()
	ctx := context.Background()
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))
	res, err := resource.New(ctx, resource.WithAttributes(
		attribute.String("service.name", "checkout"), attribute.String("service.instance.id", "i-1"),
		attribute.String("deployment.environment", "test")))
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "rpc.latency"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}})))
	m := mp.Meter("sonde-test")
	route := metric.WithAttributes(attribute.String("http.route", "/pay"))

	requests, err := m.Int64Counter("http.requests", metric.WithUnit("{request}"), metric.WithDescription("Requests served."))
	require.NoError(t, err)
	requests.Add(ctx, 7, route)
	active, err := m.Int64UpDownCounter("active.requests")
	require.NoError(t, err)
	active.Add(ctx, 5)
	active.Add(ctx, -2)
	depth, err := m.Float64Gauge("queue.depth")
	require.NoError(t, err)
	depth.Record(ctx, 42.5)
	dur, err := m.Float64Histogram("http.server.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.1, 0.5, 1))
	require.NoError(t, err)
	for _, v := range []float64{0.05, 0.2, 0.3, 0.7, 2} {
		dur.Record(ctx, v, route)
	}
	lat, err := m.Float64Histogram("rpc.latency", metric.WithUnit("ms"))
	require.NoError(t, err)
	for _, v := range []float64{10, 20, 40, 80} {
		lat.Record(ctx, v)
	}
	require.NoError(t, mp.ForceFlush(ctx))
	require.NoError(t, mp.Shutdown(ctx))
}

// requireSDKMetrics checks the recorded metrics by PromQL, under the names
// Prometheus gives OTLP metrics.
func requireSDKMetrics(t *testing.T, e *metricsEnv) {
	t.Helper()
	require.Equal(t, 7.0, e.value(t, `http_requests_total{job="checkout",instance="i-1",http_route="/pay"}`))
	require.Equal(t, 3.0, e.value(t, `active_requests{job="checkout"}`))
	require.Equal(t, 42.5, e.value(t, `queue_depth{job="checkout"}`))
	require.Equal(t, 5.0, e.value(t, `http_server_duration_seconds_count{http_route="/pay"}`))
	require.InDelta(t, 3.25, e.value(t, `http_server_duration_seconds_sum{http_route="/pay"}`), 1e-9)
	require.Equal(t, 3.0, e.value(t, `http_server_duration_seconds_bucket{http_route="/pay",le="0.5"}`))
	require.Equal(t, 5.0, e.value(t, `http_server_duration_seconds_bucket{http_route="/pay",le="+Inf"}`))
	// histogram_quantile over the classic buckets: the median is in (0.1, 0.5].
	med := e.value(t, `histogram_quantile(0.5, http_server_duration_seconds_bucket)`)
	require.True(t, med > 0.1 && med <= 0.5, "median %v", med)
	// The exponential histogram is a native histogram.
	require.Equal(t, 4.0, e.value(t, `histogram_count(rpc_latency_milliseconds{job="checkout"})`))
	require.Equal(t, 150.0, e.value(t, `histogram_sum(rpc_latency_milliseconds)`))
	// Other resource attributes are in target_info.
	require.Equal(t, 1.0, e.value(t, `target_info{job="checkout",deployment_environment="test"}`))
}

func TestMetricsSDKHTTP(t *testing.T) {
	e := newMetricsEnv(t)
	srv := httptest.NewServer(e.recv.Handler())
	defer srv.Close()
	exp, err := otlpmetrichttp.New(context.Background(),
		otlpmetrichttp.WithEndpointURL(srv.URL+MetricsPath),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}),
	)
	require.NoError(t, err)
	recordSDKMetrics(t, exp)
	requireSDKMetrics(t, e)
}

func TestMetricsSDKGRPC(t *testing.T) {
	e := newMetricsEnv(t)
	addr := startGRPC(t, e.recv)
	exp, err := otlpmetricgrpc.New(context.Background(),
		otlpmetricgrpc.WithEndpoint(addr),
		otlpmetricgrpc.WithInsecure(),
		otlpmetricgrpc.WithCompressor("gzip"),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}),
	)
	require.NoError(t, err)
	recordSDKMetrics(t, exp)
	requireSDKMetrics(t, e)
}

// TestMetricsSDKDeltaIsRejected exports with the delta temporality
// preference: the SDK gets a partial success and nothing of the counter
// is stored.
func TestMetricsSDKDeltaIsRejected(t *testing.T) {
	e := newMetricsEnv(t)
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		e.recv.Handler().ServeHTTP(rec, r)
		if body == nil {
			body = rec.Body.Bytes() // the first export's answer
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	exp, err := otlpmetrichttp.New(context.Background(),
		otlpmetrichttp.WithEndpointURL(srv.URL+MetricsPath),
		otlpmetrichttp.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality { return metricdata.DeltaTemporality }),
	)
	require.NoError(t, err)
	ctx := context.Background()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))))
	c, err := mp.Meter("t").Int64Counter("deltas")
	require.NoError(t, err)
	c.Add(ctx, 3)
	g, err := mp.Meter("t").Int64Gauge("level")
	require.NoError(t, err)
	g.Record(ctx, 9)
	// The SDK reports the partial success as an export error.
	require.ErrorContains(t, mp.ForceFlush(ctx), "OTLP partial success")
	require.NoError(t, mp.Shutdown(ctx))

	resp := pmetricotlp.NewExportResponse()
	require.NoError(t, resp.UnmarshalProto(body))
	require.EqualValues(t, 1, resp.PartialSuccess().RejectedDataPoints())
	require.Contains(t, resp.PartialSuccess().ErrorMessage(), `metric "deltas" has delta temporality`)
	require.Empty(t, e.query(t, `deltas_total`))
	require.Equal(t, 9.0, e.value(t, `level`))
}

// postMetrics posts md as OTLP/HTTP protobuf and returns the status, the
// decoded response (for 200) and the headers.
func postMetrics(t *testing.T, h http.Handler, md pmetric.Metrics) (int, pmetricotlp.ExportResponse, http.Header) {
	t.Helper()
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, MetricsPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := pmetricotlp.NewExportResponse()
	if rec.Code == http.StatusOK {
		require.NoError(t, resp.UnmarshalProto(rec.Body.Bytes()))
	}
	return rec.Code, resp, rec.Header()
}

// gauge makes a request with one gauge data point per value, at ts.
func gauge(name string, ts time.Time, values ...float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints()
	for i, v := range values {
		p := dp.AppendEmpty()
		p.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		p.SetDoubleValue(v)
		p.Attributes().PutInt("i", int64(i))
	}
	return md
}

func TestMetricsPartialSuccess(t *testing.T) {
	e := newMetricsEnv(t)
	h := e.recv.Handler()
	now := time.Now()
	code, resp, _ := postMetrics(t, h, gauge("temp", now, 1, 2, 3))
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 0, resp.PartialSuccess().RejectedDataPoints())

	// An older sample of the same series is out of order; one an hour
	// ahead is refused; a new series is kept.
	md := gauge("temp", now.Add(-time.Minute), 10)
	more := gauge("temp", now.Add(time.Hour), 20, 21)
	more.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	fresh := gauge("humidity", now, 50)
	fresh.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	code, resp, _ = postMetrics(t, h, md)
	require.Equal(t, http.StatusOK, code)
	msg := resp.PartialSuccess().ErrorMessage()
	require.EqualValues(t, 3, resp.PartialSuccess().RejectedDataPoints(), msg)
	require.Contains(t, msg, "3 of 4 data points rejected")
	require.Contains(t, msg, "out of order")
	require.Contains(t, msg, "in the future")
	require.Equal(t, 50.0, e.value(t, `humidity`))
	require.Equal(t, 1.0, e.value(t, `temp{i="0"}`))
}

func TestMetricsSummary(t *testing.T) {
	e := newMetricsEnv(t)
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("rpc.duration")
	m.SetUnit("ms")
	p := m.SetEmptySummary().DataPoints().AppendEmpty()
	p.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	p.SetCount(10)
	p.SetSum(123)
	q := p.QuantileValues().AppendEmpty()
	q.SetQuantile(0.99)
	q.SetValue(40)
	code, _, _ := postMetrics(t, e.recv.Handler(), md)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 40.0, e.value(t, `rpc_duration_milliseconds{quantile="0.99"}`))
	require.Equal(t, 10.0, e.value(t, `rpc_duration_milliseconds_count`))
	require.Equal(t, 123.0, e.value(t, `rpc_duration_milliseconds_sum`))
}

func TestMetricsBackpressure(t *testing.T) {
	e := newMetricsEnv(t)
	h := e.recv.Handler()
	sink := e.recv.metricsSink
	sink.wait = time.Millisecond
	for i := 0; i < cap(sink.slots); i++ {
		sink.slots <- struct{}{}
	}
	code, _, hdr := postMetrics(t, h, gauge("g", time.Now(), 1))
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "1", hdr.Get("Retry-After"))

	// gRPC clients get ResourceExhausted with a retry delay.
	conn, err := grpc.NewClient(startGRPC(t, e.recv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = pmetricotlp.NewGRPCClient(conn).Export(context.Background(), pmetricotlp.NewExportRequestFromMetrics(gauge("g", time.Now(), 1)))
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	for i := 0; i < cap(sink.slots); i++ {
		<-sink.slots
	}
	code, _, _ = postMetrics(t, h, gauge("g", time.Now(), 1))
	require.Equal(t, http.StatusOK, code)

	// A closed metric store: 503, retry later.
	require.NoError(t, e.ms.Close())
	code, _, hdr = postMetrics(t, h, gauge("g", time.Now(), 2))
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "5", hdr.Get("Retry-After"))
}

func TestMetricsBadPayloads(t *testing.T) {
	e := newMetricsEnv(t)
	srv := httptest.NewServer(e.recv.Handler())
	defer srv.Close()
	post := func(ct, body string) (int, string) {
		resp, err := http.Post(srv.URL+MetricsPath, ct, strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("application/json", `{"resourceMetrics":[{`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "decode OTLP JSON metrics")
	code, _ = post("text/plain", `x`)
	require.Equal(t, http.StatusUnsupportedMediaType, code)

	// Attribute values nested past the guard are refused before decoding.
	deep := strings.Repeat(`{"kvlistValue":{"values":[{"key":"k","value":`, 200) + `{"stringValue":"x"}` + strings.Repeat(`}]}}`, 200)
	code, body = post("application/json", `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asDouble":1,"attributes":[{"key":"a","value":`+deep+`}]}]}}]}]}]}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "nests values deeper")

	md := gauge("g", time.Now(), 1)
	v := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().PutEmptyMap("a")
	for i := 0; i < 200; i++ {
		v = v.PutEmptyMap("k")
	}
	raw, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	require.Error(t, checkProtoDepth(raw, msgMetricsRequest))
}

func TestMetricsOffWithoutStore(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	require.Nil(t, env.recv.MetricsHandler())
	code, _, _ := postMetrics(t, env.recv.Handler(), gauge("g", time.Now(), 1))
	require.Equal(t, http.StatusNotFound, code)
}

func FuzzDecodeMetrics(f *testing.F) {
	now := time.Unix(1700000000, 0)
	for _, md := range []pmetric.Metrics{gauge("g", now, 1, 2), gauge("h.total", now, -1)} {
		b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		require.NoError(f, err)
		f.Add(b)
		j, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalJSON()
		require.NoError(f, err)
		f.Add(j)
	}
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"s","sum":{"aggregationTemporality":1,"dataPoints":[{"asInt":"3"}]}},{"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"2","bucketCounts":["1"],"explicitBounds":[1,2]}]}},{"name":"e","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"scale":90,"count":"1","positive":{"offset":-5,"bucketCounts":["1"]}}]}}]}]}]}`))
	f.Add([]byte{})
	e := newMetricsEnv(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, enc := range []wireEncoding{encodingProto, encodingJSON} {
			req, err := decodeMetrics(data, enc)
			if err != nil {
				continue
			}
			total := req.Metrics().DataPointCount()
			resp, err := e.recv.exportMetrics(context.Background(), ProtocolHTTP, req.Metrics())
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if n := resp.PartialSuccess().RejectedDataPoints(); n < 0 || n > int64(total) {
				t.Fatalf("%d of %d data points rejected", n, total)
			}
		}
	})
}
