package derive_test

import (
	"encoding/json"
	"math"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/derive"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

const p99Query = `histogram_quantile(0.99, sum by (le, route) (rate(http_server_request_duration_seconds_bucket[5m])))`

type genlogsLine struct {
	Service, Method, Route string
	Status                 int
	Latency                float64 `json:"latency_ms"`
}

func (l genlogsLine) key() [4]any { return [4]any{l.Service, l.Route, l.Method, l.Status} }

// bucketOf returns the bounds of the RED bucket that holds seconds.
func bucketOf(seconds float64) (lo, hi float64) {
	lo = 0
	for _, b := range derive.REDBuckets {
		if seconds <= b {
			return lo, b
		}
		lo = b
	}
	return lo, math.Inf(1)
}

// TestREDFromGenlogs derives RED metrics from genlogs' access log lines
// and checks the counts and the p99 per route of the documented query.
func TestREDFromGenlogs(t *testing.T) {
	e := newEnv(t, derive.Options{RED: derive.REDOptions{Enabled: true}})
	lines := genlogs(t)
	evs := parse(t, "api", lines...)
	half := len(evs) / 2

	// rate() needs two samples: flush after each half.
	e.d.Observe(evs[:half])
	e.flush()
	e.d.Observe(evs[half:])
	e.flush()

	var parsed []genlogsLine
	for _, l := range lines {
		var g genlogsLine
		require.NoError(t, json.Unmarshal([]byte(l), &g))
		parsed = append(parsed, g)
	}
	require.Equal(t, float64(len(lines)), e.value(`sum(http_server_requests_total)`))
	require.Equal(t, float64(len(lines)), e.value(`sum(http_server_request_duration_seconds_count)`))
	errs := 0
	for _, g := range parsed {
		if g.Status >= 500 {
			errs++
		}
	}
	require.Positive(t, errs)
	require.Equal(t, float64(errs), e.value(`sum(http_server_requests_total{status=~"5.."})`))
	perLabels := map[[4]any]float64{}
	for _, g := range parsed {
		perLabels[g.key()]++
	}
	for _, s := range e.query(`http_server_requests_total`) {
		var status int
		require.NoError(t, json.Unmarshal([]byte(s.Metric.Get("status")), &status))
		k := [4]any{s.Metric.Get("service"), s.Metric.Get("route"), s.Metric.Get("method"), status}
		require.Equal(t, perLabels[k], s.F, "%v", k)
		delete(perLabels, k)
	}
	require.Empty(t, perLabels, "every label set has its series")

	// Over all the data, the p99 per route falls in the bucket of the
	// exact p99, as histogram_quantile interpolates within it.
	byRoute := map[string][]float64{}
	for _, g := range parsed {
		byRoute[g.Route] = append(byRoute[g.Route], g.Latency/1000)
	}
	exactBucket := map[string][2]float64{}
	cumulative := e.byLabel(`histogram_quantile(0.99, sum by (le, route) (http_server_request_duration_seconds_bucket))`, "route")
	require.Len(t, cumulative, len(byRoute))
	for route, lats := range byRoute {
		sort.Float64s(lats)
		exact := lats[int(math.Ceil(0.99*float64(len(lats))))-1]
		lo, hi := bucketOf(exact)
		exactBucket[route] = [2]float64{lo, hi}
		require.True(t, cumulative[route] >= lo && cumulative[route] <= hi, "route %s: p99 %v, want within the bucket of the exact %v: [%v, %v]", route, cumulative[route], exact, lo, hi)
	}

	// The documented query reads rates, which Prometheus extrapolates per
	// series: its p99 of the second half lands in the exact bucket or a
	// neighbour.
	p99 := e.byLabel(p99Query, "route")
	require.Len(t, p99, len(byRoute))
	for route, got := range p99 {
		lo, hi := exactBucket[route][0], exactBucket[route][1]
		lo, _ = bucketOf(lo) // the bucket below
		if !math.IsInf(hi, 1) {
			_, hi = bucketOf(hi * 1.0001) // the bucket above
		}
		require.True(t, got >= lo && got <= hi, "route %s: p99 %v, want within [%v, %v]", route, got, lo, hi)
	}
	// genlogs' /checkout stalls for 2 to 3 seconds now and then.
	require.Greater(t, p99["/checkout"], 1.0)
	require.Less(t, p99["/health"], 1.0)
}

// TestREDFieldVariants checks the field names and units RED metrics know
// besides genlogs'.
func TestREDFieldVariants(t *testing.T) {
	cases := []struct {
		name, line                     string
		service, route, method, status string
		seconds                        float64
	}{
		{"otel names", `{"http.method":"GET","http.route":"/a/{id}","http.status_code":200,"duration_ms":250,"service.name":"svc"}`,
			"svc", "/a/{id}", "GET", "200", 0.25},
		{"path is normalized", `{"method":"GET","path":"/users/12345/orders/9f1c2e3a-1b2c-4d5e-8f90-123456789abc?x=1","status":"404","response_time":12}`,
			"web", "/users/{id}/orders/{id}", "GET", "404", 0.012},
		{"route wins over path", `{"path":"/users/7","route":"/users/:id","status_code":201,"latency":3,"verb":"POST"}`,
			"web", "/users/:id", "POST", "201", 0.003},
		{"nginx seconds", `{"request_method":"PUT","request_uri":"/x","status":503,"request_time":1.5}`,
			"web", "/x", "PUT", "503", 1.5},
		{"microseconds", `{"method":"DELETE","route":"/y","status":204,"duration_us":1500}`,
			"web", "/y", "DELETE", "204", 0.0015},
		{"camel case", `{"httpMethod":"GET","endpoint":"/z","statusCode":200,"durationMs":40,"app":"z-app"}`,
			"z-app", "/z", "GET", "200", 0.04},
		{"OTLP log record", `{"attributes":{"http":{"request":{"method":"GET"},"route":"/o","response":{"status_code":500}}},"duration":7,"resource":{"attributes":{"service":{"name":"otel-svc"}}}}`,
			"otel-svc", "/o", "GET", "500", 0.007},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, derive.Options{RED: derive.REDOptions{Enabled: true}})
			e.d.Observe(parse(t, "web", c.line))
			e.flush()
			v := e.query(`http_server_request_duration_seconds_sum`)
			require.Len(t, v, 1)
			m := v[0].Metric
			require.Equal(t, c.service, m.Get("service"))
			require.Equal(t, c.route, m.Get("route"))
			require.Equal(t, c.method, m.Get("method"))
			require.Equal(t, c.status, m.Get("status"))
			require.InDelta(t, c.seconds, v[0].F, 1e-12)
		})
	}
}

func TestREDSkipsOtherEvents(t *testing.T) {
	e := newEnv(t, derive.Options{RED: derive.REDOptions{Enabled: true, Groups: []string{"web", "api-*"}}})
	e.d.Observe(parse(t, "web",
		`{"method":"GET","route":"/a","status":200}`,                 // no latency
		`{"method":"GET","route":"/a","latency_ms":5}`,               // no status
		`{"status":200,"latency_ms":5}`,                              // neither method nor route
		`{"method":"GET","route":"/a","status":"ok","latency_ms":5}`, // not a status
		`{"method":"GET","route":"/a","status":700,"latency_ms":5}`,  // not a status
		`{"method":"GET","route":"/a","status":200,"latency_ms":-1}`, // negative
		`GET /a 200 5ms`, // plain text
		`{"method":"GET","route":"/a","status":200,"latency_ms":5}`,
	))
	e.d.Observe(parse(t, "api-1", `{"method":"GET","route":"/b","status":200,"latency_ms":5}`))
	e.d.Observe(parse(t, "other", `{"method":"GET","route":"/c","status":200,"latency_ms":5}`))
	e.flush()
	require.Equal(t, map[string]float64{"/a": 1, "/b": 1}, e.byLabel(`http_server_requests_total`, "route"))
}

func TestREDFromServerSpans(t *testing.T) {
	e := newEnv(t, derive.Options{RED: derive.REDOptions{Enabled: true}})
	var evs []event.Event
	add := func(kind span.Kind, method, route string, status int, ms int64) {
		s := span.Span{TraceID: span.TraceID{1}, SpanID: span.SpanID{2}, Service: "checkout", Name: method + " " + route,
			Kind: kind, Start: 1_000_000_000, End: 1_000_000_000 + ms*1_000_000, HTTP: span.HTTP{Method: method, Route: route, Status: status}}
		evs, _ = s.AppendEvent(evs, 0)
	}
	add(span.KindServer, "GET", "/pay", 200, 30)
	add(span.KindServer, "GET", "/pay", 500, 700)
	add(span.KindClient, "GET", "/pay", 200, 30) // the caller's view: not a request served
	add(span.KindServer, "", "", 0, 5)           // not HTTP
	e.d.Observe(evs)
	e.flush()
	require.Equal(t, map[string]float64{"200": 1, "500": 1}, e.byLabel(`http_server_requests_total{service="checkout",route="/pay",method="GET"}`, "status"))
	require.InDelta(t, 0.73, e.value(`sum(http_server_request_duration_seconds_sum)`), 1e-9)
	require.Equal(t, 1.0, e.value(`http_server_request_duration_seconds_bucket{status="500",le="1.0"}`)-e.value(`http_server_request_duration_seconds_bucket{status="500",le="0.5"}`))
}

func TestREDSeriesCap(t *testing.T) {
	e := newEnv(t, derive.Options{RED: derive.REDOptions{Enabled: true, MaxSeries: 2}})
	e.d.Observe(parse(t, "web",
		`{"method":"GET","route":"/a","status":200,"latency_ms":5}`,
		`{"method":"GET","route":"/b","status":200,"latency_ms":5}`,
		`{"method":"GET","route":"/c","status":200,"latency_ms":5}`,
		`{"method":"GET","route":"/a","status":200,"latency_ms":5}`,
	))
	e.flush()
	require.Equal(t, map[string]float64{"/a": 2, "/b": 1}, e.byLabel(`http_server_requests_total`, "route"))
	require.Equal(t, 1.0, e.counter("sonde_derive_series_dropped_total", "red"))
	require.Equal(t, 2.0, e.counter("sonde_derive_series", "red"))
}

func TestREDLatencyUnitsInConfig(t *testing.T) {
	e := newEnv(t, derive.Options{RED: derive.REDOptions{Enabled: true, Fields: derive.REDFields{Latency: []string{"took:s"}}}})
	e.d.Observe(parse(t, "web",
		`{"method":"GET","route":"/a","status":200,"took":2}`,
		`{"method":"GET","route":"/a","status":200,"latency_ms":5}`, // not a configured latency field
	))
	e.flush()
	require.Equal(t, 2.0, e.value(`sum(http_server_request_duration_seconds_sum)`))
	require.Equal(t, 1.0, e.value(`sum(http_server_requests_total)`))

	_, err := derive.New(derive.Options{Appendable: e.store, RED: derive.REDOptions{Enabled: true, Fields: derive.REDFields{Latency: []string{"took:min"}}}})
	require.ErrorContains(t, err, `unknown unit "min"`)
}
