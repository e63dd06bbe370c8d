package trace

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the start of the fixture's first trace.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// The fixture's traces:
//
//	A  frontend GET /api/sessions/{id} 500 -> sessions-api (fault) -> DynamoDB (fault); logs carry its id
//	B  frontend POST /api/checkout 4.2 s -> payments (502, PaymentStatus=FAILED) -> api.stripe.com (slow)
//	C  frontend GET /api/products, ok, user alice -> products@postgres
//	D  frontend GET /api/cart 429 (throttled)
const (
	traceA = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceB = "5759e988bd862e3fe1be46a994272793"
	traceC = "0af7651916cd43dd8448eb211c80319c"
	traceD = "1f0e2d3c4b5a69788796a5b4c3d2e1f0"
)

type fspan struct {
	trace, id, parent, service, name string
	kind                             span.Kind
	startMs, durMs                   float64
	method, route, url               string
	status                           int
	failed                           bool
	peer, peerType, user             string
	annotations                      map[string]event.Value
}

var fixture = []fspan{
	{trace: traceA, id: "a000000000000001", service: "frontend", name: "GET /api/sessions/{id}", kind: span.KindServer, startMs: 0, durMs: 120,
		method: "GET", route: "/api/sessions/{id}", url: "http://frontend/api/sessions/42", status: 500},
	{trace: traceA, id: "a000000000000002", parent: "a000000000000001", service: "frontend", name: "GET", kind: span.KindClient, startMs: 10, durMs: 100,
		method: "GET", url: "http://sessions-api:8080/sessions/42", status: 500, peer: "sessions-api:8080", peerType: "http"},
	{trace: traceA, id: "a000000000000003", parent: "a000000000000002", service: "sessions-api", name: "GET /sessions/{id}", kind: span.KindServer, startMs: 12, durMs: 95,
		method: "GET", route: "/sessions/{id}", status: 500},
	{trace: traceA, id: "a000000000000004", parent: "a000000000000003", service: "sessions-api", name: "DynamoDB.GetItem", kind: span.KindClient, startMs: 20, durMs: 60,
		failed: true, peer: "DynamoDB", peerType: "aws"},
	{trace: traceA, id: "a000000000000005", parent: "a000000000000003", service: "sessions-api", name: "render", kind: span.KindInternal, startMs: 85, durMs: 20},

	{trace: traceB, id: "b000000000000001", service: "frontend", name: "POST /api/checkout", kind: span.KindServer, startMs: 1000, durMs: 4200,
		method: "POST", route: "/api/checkout", url: "http://frontend/api/checkout", status: 502},
	{trace: traceB, id: "b000000000000002", parent: "b000000000000001", service: "frontend", name: "POST", kind: span.KindClient, startMs: 1010, durMs: 4100,
		method: "POST", status: 502, peer: "payments:8080", peerType: "http"},
	{trace: traceB, id: "b000000000000003", parent: "b000000000000002", service: "payments", name: "POST /pay", kind: span.KindServer, startMs: 1015, durMs: 4050,
		method: "POST", route: "/pay", status: 502, annotations: map[string]event.Value{"PaymentStatus": event.String("FAILED"), "amount": event.Int(120)}},
	{trace: traceB, id: "b000000000000004", parent: "b000000000000003", service: "payments", name: "POST", kind: span.KindClient, startMs: 1020, durMs: 4000,
		method: "POST", url: "https://api.stripe.com/v1/charges", status: 200, peer: "api.stripe.com", peerType: "http"},

	{trace: traceC, id: "c000000000000001", service: "frontend", name: "GET /api/products", kind: span.KindServer, startMs: 2000, durMs: 20,
		method: "GET", route: "/api/products", url: "http://frontend/api/products", status: 200, user: "alice"},
	{trace: traceC, id: "c000000000000002", parent: "c000000000000001", service: "frontend", name: "SELECT products", kind: span.KindClient, startMs: 2005, durMs: 5,
		peer: "products@postgres:5432", peerType: "database"},

	{trace: traceD, id: "d000000000000001", service: "frontend", name: "GET /api/cart", kind: span.KindServer, startMs: 3000, durMs: 2,
		method: "GET", route: "/api/cart", url: "http://frontend/api/cart", status: 429},
}

func (f fspan) event(t *testing.T) event.Event {
	t.Helper()
	var sp span.Span
	var ok bool
	sp.TraceID, ok = span.ParseTraceID(f.trace)
	require.True(t, ok)
	sp.SpanID, ok = span.ParseSpanID(f.id)
	require.True(t, ok)
	if f.parent != "" {
		sp.ParentID, _ = span.ParseSpanID(f.parent)
	}
	sp.Service, sp.Name, sp.Kind = f.service, f.name, f.kind
	sp.Stream = f.service + "-1"
	sp.Start = t0.UnixNano() + int64(f.startMs*1e6)
	sp.End = sp.Start + int64(f.durMs*1e6)
	sp.HTTP = span.HTTP{Method: f.method, Route: f.route, URL: f.url, Status: f.status}
	sp.Status = span.StatusOf(f.status, f.failed)
	sp.Peer, sp.PeerType, sp.User = f.peer, f.peerType, f.user
	for k, v := range f.annotations {
		sp.Fields = append(sp.Fields, event.Field{Name: span.PrefixAnnotation + k, Value: v})
	}
	sp.Fields = append(sp.Fields, event.Field{Name: span.PrefixResource + "service.name", Value: event.String(f.service)})
	evs, _ := sp.AppendEvent(nil, 0)
	return evs[0]
}

// newFixtureStore opens a store holding the fixture's spans and three log
// groups whose lines carry trace A's id in the common ways.
func newFixtureStore(t *testing.T) *duckdb.DB {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	var events []event.Event
	for _, f := range fixture {
		events = append(events, f.event(t))
	}
	p := event.NewParser(event.NewShapes(100), event.ParserOptions{})
	logLine := func(group, line string, ms int64) {
		var ev event.Event
		_, err := p.Parse(line, t0.UnixMilli()+ms, &ev)
		require.NoError(t, err)
		ev.Group, ev.Stream = group, "i-1"
		ev.Fields = append([]event.Field(nil), ev.Fields...)
		events = append(events, ev)
	}
	logLine("sessions-api", `{"level":"error","msg":"DynamoDB GetItem failed","trace_id":"`+traceA+`"}`, 50)
	logLine("sessions-api", `{"level":"info","msg":"unrelated","trace_id":"`+traceB+`"}`, 60)
	logLine("frontend", `{"msg":"request failed","traceId":"`+traceA+`","status":500}`, 110)
	logLine("lambda", `XRAY TraceId: 1-4bf92f35-77b34da6a3ce929d0e0e4736	SegmentId: a000000000000003	Sampled: true`, 30)
	logLine("frontend", `{"msg":"long ago","traceId":"`+traceA+`"}`, -2*3600*1000)
	require.NoError(t, st.Append(context.Background(), &store.Batch{Events: events}))
	return st
}

func newFixtureEngine(t *testing.T, groups *Groups) *Engine {
	t.Helper()
	return New(Options{Store: newFixtureStore(t), Dialect: insights.DuckDB, Groups: groups})
}

// fixtureRange covers the fixture with room around it.
var fixtureStart, fixtureEnd = t0.Add(-time.Minute), t0.Add(time.Minute)

func newEmptyStore(t *testing.T) *duckdb.DB {
	t.Helper()
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

func insightsDuckDB() insights.Dialect { return insights.DuckDB }

func parseTraceIDForTest(s string) (span.TraceID, bool) { return span.ParseTraceID(s) }
