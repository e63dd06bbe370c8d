package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// shopCmd runs two small services instrumented with the OpenTelemetry SDK
// and otelhttp, a frontend calling sessions-api over HTTP (W3C trace
// context), and sends them requests. sessions-api reads a "database" whose
// query is slow for one session in ten: the bottleneck to find. Spans are
// exported with otlptracehttp configured by the standard environment
// variables (OTEL_EXPORTER_OTLP_ENDPOINT...), as any OpenTelemetry SDK is.
func shopCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("shop", flag.ExitOnError)
	requests := fs.Int("requests", 200, "requests to send")
	_ = fs.Parse(args)

	prop := propagation.TraceContext{}
	provider := func(service string) (*sdktrace.TracerProvider, error) {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, err
		}
		return sdktrace.NewTracerProvider(
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
			sdktrace.WithBatcher(exp)), nil
	}
	sessionsTP, err := provider("sessions-api")
	if err != nil {
		return err
	}
	frontendTP, err := provider("frontend")
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))

	db := sessionsTP.Tracer("db")
	sessions := http.NewServeMux()
	sessions.HandleFunc("GET /sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, sp := db.Start(r.Context(), "SELECT sessions", oteltrace.WithSpanKind(oteltrace.SpanKindClient),
			oteltrace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.String("db.name", "sessions"),
				attribute.String("server.address", "db.internal"), attribute.Int("server.port", 5432),
				attribute.String("db.query.text", "SELECT * FROM sessions WHERE id = $1")))
		slow := r.PathValue("id") == "7"
		if slow {
			time.Sleep(time.Duration(250+rng.IntN(100)) * time.Millisecond) // the missing index
		} else {
			time.Sleep(time.Duration(2+rng.IntN(4)) * time.Millisecond)
		}
		sp.End()
		if r.PathValue("id") == "13" {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`"}`)
	})
	sessionsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(sessionsLn, otelhttp.NewHandler(sessions, "sessions-api", otelhttp.WithTracerProvider(sessionsTP), otelhttp.WithPropagators(prop)))

	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(frontendTP), otelhttp.WithPropagators(prop))}
	frontend := http.NewServeMux()
	frontend.HandleFunc("GET /api/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+sessionsLn.Addr().String()+"/sessions/"+r.PathValue("id"), nil)
		resp, err := client.Do(req)
		if err != nil {
			oteltrace.SpanFromContext(r.Context()).SetStatus(codes.Error, err.Error())
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	frontendLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(frontendLn, otelhttp.NewHandler(frontend, "frontend", otelhttp.WithTracerProvider(frontendTP), otelhttp.WithPropagators(prop)))

	for i := 0; i < *requests; i++ {
		resp, err := http.Get(fmt.Sprintf("http://%s/api/sessions/%d", frontendLn.Addr(), i%20))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := sessionsTP.Shutdown(ctx); err != nil {
		return err
	}
	if err := frontendTP.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Printf("sent %d requests through frontend -> sessions-api -> postgres\n", *requests)
	return nil
}
