package otlp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/trace"
)

// newProvider is a service's tracer provider exporting to exp, with every
// span sampled.
func newProvider(service string, exp sdktrace.SpanExporter) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Hour)),
	)
}

// twoServices runs a frontend and a sessions service, each instrumented
// with otelhttp and its own tracer provider; the frontend calls sessions
// over HTTP with W3C trace context. It makes three requests (one fails in
// sessions with 500), then flushes both providers, and returns the trace
// ids of the requests in order.
func twoServices(t *testing.T, newExporter func() sdktrace.SpanExporter) []oteltrace.TraceID {
	t.Helper()
	prop := propagation.TraceContext{}
	sessionsTP, frontendTP := newProvider("sessions", newExporter()), newProvider("frontend", newExporter())

	sessionsMux := http.NewServeMux()
	sessionsMux.HandleFunc("GET /sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, sp := sessionsTP.Tracer("sessions").Start(r.Context(), "load session")
		time.Sleep(2 * time.Millisecond)
		sp.End()
		if r.PathValue("id") == "fail" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	sessions := httptest.NewServer(otelhttp.NewHandler(sessionsMux, "sessions",
		otelhttp.WithTracerProvider(sessionsTP), otelhttp.WithPropagators(prop)))
	defer sessions.Close()

	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport,
		otelhttp.WithTracerProvider(frontendTP), otelhttp.WithPropagators(prop))}
	var ids []oteltrace.TraceID
	frontendMux := http.NewServeMux()
	frontendMux.HandleFunc("GET /api/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		ids = append(ids, oteltrace.SpanContextFromContext(r.Context()).TraceID())
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, sessions.URL+"/sessions/"+r.PathValue("id"), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		w.WriteHeader(resp.StatusCode)
	})
	frontend := httptest.NewServer(otelhttp.NewHandler(frontendMux, "frontend",
		otelhttp.WithTracerProvider(frontendTP), otelhttp.WithPropagators(prop)))
	defer frontend.Close()

	for _, id := range []string{"1", "fail", "2"} {
		resp, err := http.Get(frontend.URL + "/api/sessions/" + id)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, sessionsTP.Shutdown(ctx))
	require.NoError(t, frontendTP.Shutdown(ctx))
	client.CloseIdleConnections()
	return ids
}

// checkTwoServices reads back the traces of twoServices through the trace
// engine: one trace per request across both services, parent and child
// linked over the network hop.
func checkTwoServices(t *testing.T, env *testEnv, ids []oteltrace.TraceID) {
	t.Helper()
	require.Len(t, ids, 3)
	eng := trace.New(trace.Options{Store: env.store, Dialect: insights.DuckDB})
	ctx := context.Background()
	tr, err := eng.Get(ctx, ids[1].String())
	require.NoError(t, err)
	require.Equal(t, 4, tr.SpanCount)
	require.Equal(t, "frontend", tr.RootService)
	require.Equal(t, "GET /api/sessions/{id}", tr.RootName)
	require.Equal(t, "fault", tr.Status)
	require.Len(t, tr.Roots, 1)
	root := tr.Roots[0]
	require.Equal(t, "server", root.Kind)
	require.Equal(t, "/api/sessions/{id}", root.HTTP.Route)
	require.Equal(t, "GET", root.HTTP.Method)
	require.Equal(t, int64(500), root.HTTP.Status)
	require.Len(t, root.Children, 1)
	call := root.Children[0]
	require.Equal(t, "client", call.Kind)
	require.Equal(t, "frontend", call.Service)
	require.Len(t, call.Children, 1)
	srv := call.Children[0]
	require.Equal(t, "sessions", srv.Service)
	require.Equal(t, "GET /sessions/{id}", srv.Name)
	require.Equal(t, "/sessions/{id}", srv.HTTP.Route)
	require.Equal(t, "fault", srv.Status)
	require.Len(t, srv.Children, 1)
	require.Equal(t, "load session", srv.Children[0].Name)
	require.True(t, srv.Children[0].Critical)

	start, end := time.Now().Add(-time.Hour), time.Now().Add(time.Minute)
	res, err := eng.Search(ctx, trace.SearchRequest{Filter: `service("sessions") { fault }`, Start: start, End: end})
	require.NoError(t, err)
	require.Len(t, res.Traces, 1)
	require.Equal(t, ids[1].String(), res.Traces[0].TraceID)
	res, err = eng.Search(ctx, trace.SearchRequest{Filter: `edge("frontend", "sessions") { ok }`, Start: start, End: end})
	require.NoError(t, err)
	require.Len(t, res.Traces, 2)
	m, err := eng.ServiceMap(ctx, trace.MapRequest{Start: start, End: end})
	require.NoError(t, err)
	require.Len(t, m.Edges, 1)
	require.Equal(t, "frontend", m.Edges[0].Source)
	require.Equal(t, "sessions", m.Edges[0].Target)
	require.Equal(t, int64(3), m.Edges[0].Requests)
	require.Equal(t, int64(1), m.Edges[0].Faults)
}

func TestSDKTracesHTTP(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()
	ids := twoServices(t, func() sdktrace.SpanExporter {
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(srv.URL+TracesPath))
		require.NoError(t, err)
		return exp
	})
	checkTwoServices(t, env, ids)
}

func TestSDKTracesGRPC(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	addr := startGRPC(t, env.recv)
	ids := twoServices(t, func() sdktrace.SpanExporter {
		exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
		require.NoError(t, err)
		return exp
	})
	checkTwoServices(t, env, ids)
}
