package trace

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/samplers/jaegerremote"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

func TestWildcard(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"", "", true}, {"", "a", false},
		{"/api/*", "/api/sessions/{id}", true}, {"/api/*", "/health", false},
		{"GET", "GET", true}, {"GET", "get", false}, {"G?T", "GET", true}, {"G?T", "GT", false},
		{"*-api", "sessions-api", true}, {"*-api", "sessions-api2", false},
		{"a*b*c", "aXXbYYc", true}, {"a*b*c", "aXXbYY", false}, {"*a", "aaa", true},
		{"?", "", false}, {"**", "x", true},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, Wildcard(tc.pattern, tc.s), "%q ~ %q", tc.pattern, tc.s)
	}
}

func TestStrategyMapsXRayRules(t *testing.T) {
	s := NewSampling([]SamplingRule{
		{Name: "checkout", Priority: 100, ReservoirSize: 5, FixedRate: 0.5, ServiceName: "shop*", HTTPMethod: "POST", URLPath: "/api/checkout/*"},
		{Name: "health", Priority: 1, FixedRate: 0, URLPath: "/healthz"},
		{Name: "by-host", Priority: 2, FixedRate: 1, Host: "admin.example.com"},
		{Name: "shop-default", Priority: 500, ReservoirSize: 2, FixedRate: 0.2, ServiceName: "shop"},
	}, nil)
	ops := []Operation{
		{Name: "POST /api/checkout/{cart}", Method: "POST", Route: "/api/checkout/{cart}"},
		{Name: "GET /api/products", Method: "GET", Route: "/api/products"},
		{Name: "consume orders"},
	}
	st := s.Strategy("shop", ops)
	require.Equal(t, "PROBABILISTIC", st.StrategyType)
	require.Equal(t, 0.2, st.ProbabilisticSampling.SamplingRate)
	require.Equal(t, 0.2, st.OperationSampling.DefaultSamplingProbability)
	require.Equal(t, 2.0, st.OperationSampling.DefaultLowerBoundTracesPerSecond)
	got := map[string]float64{}
	for _, o := range st.OperationSampling.PerOperationStrategies {
		got[o.Operation] = o.ProbabilisticSampling.SamplingRate
	}
	require.Equal(t, map[string]float64{
		"POST /api/checkout/{cart}": 0.5,
		// health: * method, an exact path: the path and every method.
		"/healthz": 0, "GET /healthz": 0, "POST /healthz": 0, "PUT /healthz": 0, "PATCH /healthz": 0,
		"DELETE /healthz": 0, "HEAD /healthz": 0, "OPTIONS /healthz": 0,
	}, got)

	// Another service gets the default rule, X-Ray's 1/s + 5% unless
	// configured.
	st = s.Strategy("billing", nil)
	require.Equal(t, 0.05, st.ProbabilisticSampling.SamplingRate)
	require.Equal(t, 1.0, st.OperationSampling.DefaultLowerBoundTracesPerSecond)

	// Reservoir only: rate limiting.
	s = NewSampling(nil, &SamplingRule{ReservoirSize: 7})
	st = s.Strategy("x", nil)
	require.Equal(t, "RATE_LIMITING", st.StrategyType)
	require.Equal(t, 7, st.RateLimitingSampling.MaxTracesPerSecond)
	data, err := json.Marshal(st)
	require.NoError(t, err)
	require.JSONEq(t, `{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7}}`, string(data))
}

// TestJaegerRemoteSamplerReadsTheStrategy runs OpenTelemetry's
// jaeger_remote sampler against the sampling endpoint.
func TestJaegerRemoteSamplerReadsTheStrategy(t *testing.T) {
	h := NewHandler(HandlerOptions{
		Engine: newFixtureEngine(t, nil),
		Sampling: NewSampling([]SamplingRule{
			{Name: "always-pay", Priority: 10, FixedRate: 1, HTTPMethod: "POST", URLPath: "/pay"},
		}, &SamplingRule{ReservoirSize: 0, FixedRate: 0}),
	})
	mux := http.NewServeMux()
	h.Mount(func(p, _ string, hh http.Handler) { mux.Handle(p, hh) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	sampler := jaegerremote.New("payments",
		jaegerremote.WithSamplingServerURL(srv.URL+PathSamplingJSON),
		jaegerremote.WithSamplingRefreshInterval(50*time.Millisecond),
		jaegerremote.WithInitialSampler(sdktrace.NeverSample()))
	defer sampler.Close()
	decide := func(name string, i int) sdktrace.SamplingDecision {
		var tid oteltrace.TraceID
		tid[0], tid[15] = byte(i), byte(i>>8)|1
		return sampler.ShouldSample(sdktrace.SamplingParameters{TraceID: tid, Name: name}).Decision
	}
	require.Eventually(t, func() bool { return decide("POST /pay", 1) == sdktrace.RecordAndSample }, 10*time.Second, 20*time.Millisecond)
	for i := 0; i < 200; i++ {
		require.Equal(t, sdktrace.RecordAndSample, decide("POST /pay", i))
		require.Equal(t, sdktrace.Drop, decide("GET /products", i))
	}
}
