package otlp

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/trace"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// telemetrygenVersion is the telemetrygen release the tests and
// bench/traces.sh build.
const telemetrygenVersion = "v0.161.0"

// telemetrygen returns the path of the telemetrygen binary: $TELEMETRYGEN,
// or bench/out/bin/telemetrygen (ignored by git), built there from the
// module proxy when missing. The test is skipped when it cannot be built.
func telemetrygen(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TELEMETRYGEN"); p != "" {
		return p
	}
	dir, err := filepath.Abs("../../../bench/out/bin")
	require.NoError(t, err)
	bin := filepath.Join(dir, "telemetrygen")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@"+telemetrygenVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-buildvcs=false")
	cmd.Dir = t.TempDir() // outside this module: go install pkg@version
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build telemetrygen %s: %v\n%s", telemetrygenVersion, err, out)
	}
	return bin
}

// TestTelemetrygen sends telemetrygen's traces over OTLP/HTTP and gRPC and
// reads them back.
func TestTelemetrygen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs telemetrygen")
	}
	bin := telemetrygen(t)
	env := newTestEnv(t, pipeline.Options{}, Options{})
	httpSrv := startHTTP(t, env.recv)
	grpcAddr := startGRPC(t, env.recv)
	run := func(args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args = append([]string{"traces", "--otlp-insecure", "--workers", "2", "--traces", "250", "--rate", "0", "--child-spans", "3"}, args...)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	run("--otlp-http", "--otlp-endpoint", httpSrv, "--service", "tg-http")
	run("--otlp-endpoint", grpcAddr, "--service", "tg-grpc", "--status-code", "Error")

	events := env.scan(t, span.Group)
	require.Len(t, events, 2*2*250*4)
	services := map[string]int{}
	for _, ev := range events {
		v, _ := ev.Get(span.FieldService)
		services[v.Str]++
	}
	require.Equal(t, map[string]int{"tg-http": 2000, "tg-grpc": 2000}, services)

	eng := trace.New(trace.Options{Store: env.store, Dialect: insights.DuckDB})
	ctx := context.Background()
	res, err := eng.Search(ctx, trace.SearchRequest{Filter: `service("tg-grpc") { fault }`, Start: time.Now().Add(-time.Hour), End: time.Now().Add(time.Minute), Limit: 1000})
	require.NoError(t, err)
	require.Len(t, res.Traces, 500)
	tr, err := eng.Get(ctx, res.Traces[0].TraceID)
	require.NoError(t, err)
	require.Equal(t, 4, tr.SpanCount)
	require.Len(t, tr.Roots, 1)
	require.Equal(t, "lets-go", tr.Roots[0].Name)
	require.Len(t, tr.Roots[0].Children, 3)
	require.True(t, strings.HasPrefix(tr.Roots[0].Children[0].Name, "okey-dokey-"))
}

// startHTTP serves the receiver's OTLP/HTTP endpoints on a loopback port
// and returns host:port.
func startHTTP(t *testing.T, recv *Receiver) string {
	t.Helper()
	srv := httptest.NewServer(recv.Handler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
