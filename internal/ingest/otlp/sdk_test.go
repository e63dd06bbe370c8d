package otlp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
)

// errExporter keeps the errors of the exporter it wraps, which the SDK
// would otherwise only hand to the global error handler.
type errExporter struct {
	sdklog.Exporter
	mu   sync.Mutex
	errs []error
}

func (e *errExporter) Export(ctx context.Context, records []sdklog.Record) error {
	err := e.Exporter.Export(ctx, records)
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
	}
	return err
}

// emitSample logs two records through the OpenTelemetry SDK with exp: one
// with a string body inside a span, one with a map body and no span.
func emitSample(t *testing.T, exp sdklog.Exporter) {
	t.Helper()
	ctx := context.Background()
	rec := &errExporter{Exporter: exp}
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "checkout"),
			attribute.String("service.instance.id", "pod-7"),
			attribute.String("deployment.environment", "test"),
		)),
		// One batch for both records, exported by Shutdown.
		sdklog.WithProcessor(sdklog.NewBatchProcessor(rec, sdklog.WithExportInterval(time.Hour))),
	)
	logger := lp.Logger("checkout/http", log.WithInstrumentationVersion("1.2.3"))

	var r log.Record
	r.SetTimestamp(testTime)
	r.SetSeverity(log.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetBody(attribute.StringValue("payment declined"))
	r.AddAttributes(
		attribute.String("http.route", "/pay"),
		attribute.Int("http.status_code", 402),
		attribute.Float64("latency", 0.25),
		attribute.Bool("retry", false),
		attribute.Map("user", attribute.String("id", "u-1"), attribute.Int("tier", 3)),
		attribute.StringSlice("tags", []string{"a", "b"}),
	)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID(testTraceID),
		SpanID:     trace.SpanID(testSpanID),
		TraceFlags: trace.FlagsSampled,
	})
	logger.Emit(trace.ContextWithSpanContext(ctx, sc), r)

	var r2 log.Record
	r2.SetTimestamp(testTime.Add(time.Second))
	r2.SetSeverity(log.SeverityInfo)
	r2.SetBody(attribute.MapValue(attribute.String("event", "refund"), attribute.Int("amount", 12)))
	logger.Emit(ctx, r2)

	require.NoError(t, lp.Shutdown(ctx))
	require.Empty(t, rec.errs)
}

// requireSample checks what emitSample's records became in the store.
func requireSample(t *testing.T, env *testEnv) {
	t.Helper()
	events := env.scan(t, "checkout")
	require.Len(t, events, 2)

	ev := events[0]
	require.Equal(t, "checkout", ev.Group)
	require.Equal(t, "pod-7", ev.Stream)
	require.Equal(t, testTime.UnixMilli(), ev.Time)
	require.Equal(t, "payment declined", ev.Message)
	f := fieldTexts(ev)
	for name, want := range map[string]string{
		"severityText":                               "string:WARN",
		"severityNumber":                             "int:13",
		"traceId":                                    "id128:4bf92f3577b34da6a3ce929d0e0e4736",
		"spanId":                                     "id64:00f067aa0ba902b7",
		"flags":                                      "int:1",
		"attributes.http.route":                      "string:/pay",
		"attributes.http.status_code":                "int:402",
		"attributes.latency":                         "float:0.25",
		"attributes.retry":                           "bool:false",
		"attributes.user.id":                         "string:u-1",
		"attributes.user.tier":                       "int:3",
		"attributes.tags.0":                          "string:a",
		"attributes.tags.1":                          "string:b",
		"resource.attributes.service.name":           "string:checkout",
		"resource.attributes.service.instance.id":    "string:pod-7",
		"resource.attributes.deployment.environment": "string:test",
		"scope.name":                                 "string:checkout/http",
		"scope.version":                              "string:1.2.3",
	} {
		require.Equal(t, want, f[name], name)
	}
	// The trace id is stored as binary, so a trace lookup finds the log.
	require.Equal(t, event.KindID128, fieldMap(ev)["traceId"].Kind)
	require.Equal(t, event.KindID64, fieldMap(ev)["spanId"].Kind)

	ev = events[1]
	require.Equal(t, testTime.Add(time.Second).UnixMilli(), ev.Time)
	require.JSONEq(t, `{"event":"refund","amount":12}`, ev.Message)
	f = fieldTexts(ev)
	require.Equal(t, "string:refund", f["body.event"])
	require.Equal(t, "int:12", f["body.amount"])
	require.Equal(t, "int:9", f["severityNumber"])
	require.NotContains(t, f, "traceId")
	require.NotContains(t, f, "flags")
}

func TestSDKHTTP(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()

	exp, err := otlploghttp.New(context.Background(),
		otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"),
		otlploghttp.WithCompression(otlploghttp.GzipCompression),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}),
	)
	require.NoError(t, err)
	emitSample(t, exp)
	requireSample(t, env)
}

func TestSDKGRPC(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	addr := startGRPC(t, env.recv)

	exp, err := otlploggrpc.New(context.Background(),
		otlploggrpc.WithEndpoint(addr),
		otlploggrpc.WithInsecure(),
		otlploggrpc.WithCompressor("gzip"),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}),
	)
	require.NoError(t, err)
	emitSample(t, exp)
	requireSample(t, env)
}

// TestSDKRetriesWhenBusy shows that the SDK exporters retry a batch that
// sonde refuses for backpressure: the first export reaches a receiver whose
// pipeline is too small for the batch, the retry reaches one with room.
func TestSDKRetriesWhenBusy(t *testing.T) {
	for _, protocol := range []string{ProtocolHTTP, ProtocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			env := newTestEnv(t, pipeline.Options{}, Options{})
			busy := newTestEnv(t, pipeline.Options{MaxQueuedEvents: 1}, Options{})
			var calls atomic.Int32
			var exp sdklog.Exporter
			var err error
			if protocol == ProtocolHTTP {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if calls.Add(1) == 1 {
						busy.recv.Handler().ServeHTTP(w, r)
						return
					}
					env.recv.Handler().ServeHTTP(w, r)
				}))
				defer srv.Close()
				exp, err = otlploghttp.New(context.Background(),
					otlploghttp.WithEndpointURL(srv.URL+"/v1/logs"),
					otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 20 * time.Second}),
				)
			} else {
				ln, lerr := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, lerr)
				s := grpc.NewServer(GRPCServerOptions(16 << 20)...)
				plogotlp.RegisterGRPCServer(s, &firstCall{calls: &calls, first: &logsGRPC{r: busy.recv}, rest: &logsGRPC{r: env.recv}})
				go func() { _ = s.Serve(ln) }()
				defer s.Stop()
				exp, err = otlploggrpc.New(context.Background(),
					otlploggrpc.WithEndpoint(ln.Addr().String()),
					otlploggrpc.WithInsecure(),
					otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: 20 * time.Second}),
				)
			}
			require.NoError(t, err)
			emitSample(t, exp)
			require.Equal(t, int32(2), calls.Load())
			require.InDelta(t, 2, testutil.ToFloat64(busy.metrics.EventsRejected.WithLabelValues(protocol, "busy")), 0)
			requireSample(t, env)
		})
	}
}

// firstCall sends the first export to one server and the others to another.
type firstCall struct {
	plogotlp.UnimplementedGRPCServer
	calls       *atomic.Int32
	first, rest plogotlp.GRPCServer
}

func (f *firstCall) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if f.calls.Add(1) == 1 {
		return f.first.Export(ctx, req)
	}
	return f.rest.Export(ctx, req)
}
