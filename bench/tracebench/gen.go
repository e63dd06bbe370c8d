package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// generator makes realistic traces of a small shop: a frontend calls
// sessions-api and payments, which call DynamoDB, PostgreSQL and a remote
// HTTP API. About 2% of traces fault, 3% have client errors and 0.5% are
// throttled; a few are slow.
type generator struct {
	rng   *rand.Rand
	start time.Time
	span  time.Duration
	sp    span.Span
}

type routeSpec struct {
	method, route, downstream string
}

var frontendRoutes = []routeSpec{
	{"GET", "/api/sessions/{id}", "sessions-api"},
	{"POST", "/api/sessions", "sessions-api"},
	{"POST", "/api/checkout", "payments"},
	{"GET", "/api/products", ""},
	{"GET", "/api/cart", "sessions-api"},
}

func (g *generator) id64() span.SpanID {
	var id span.SpanID
	x := g.rng.Uint64() | 1
	for i := 7; i >= 0; i-- {
		id[i] = byte(x)
		x >>= 8
	}
	return id
}

func (g *generator) traceID() span.TraceID {
	var t span.TraceID
	a, b := g.rng.Uint64(), g.rng.Uint64()|1
	for i := 7; i >= 0; i-- {
		t[i], t[8+i] = byte(a), byte(b)
		a >>= 8
		b >>= 8
	}
	return t
}

// latency draws a log-normal duration around median ms.
func (g *generator) latency(median float64) int64 {
	ms := median * math.Exp(g.rng.NormFloat64()*0.6)
	if g.rng.IntN(1000) == 0 {
		ms *= 40 // the long tail
	}
	return int64(ms * 1e6)
}

// trace appends the spans of one trace starting at t.
func (g *generator) trace(dst []event.Event, t int64) []event.Event {
	tid := g.traceID()
	r := frontendRoutes[g.rng.IntN(len(frontendRoutes))]
	outcome := g.rng.IntN(1000)
	httpStatus := 200
	switch {
	case outcome < 20:
		httpStatus = 500
	case outcome < 25:
		httpStatus = 429
	case outcome < 55:
		httpStatus = 404
	}
	tier := []string{"free", "pro", "enterprise"}[g.rng.IntN(3)]
	rootID := g.id64()
	total := g.latency(40)
	child := []event.Field{{Name: "annotation.customer_tier", Value: event.String(tier)}}
	dst = g.emit(dst, tid, rootID, span.SpanID{}, "frontend", r.method+" "+r.route, span.KindServer, t, total, r.method, r.route, httpStatus, "", "", child)
	at := t + total/10
	if r.downstream == "" {
		return g.emit(dst, tid, g.id64(), rootID, "frontend", "SELECT products", span.KindClient, at, total/2, "", "", 0, "products@postgres:5432", "database", nil)
	}
	clientID := g.id64()
	callDur := total * 8 / 10
	downStatus := httpStatus
	dst = g.emit(dst, tid, clientID, rootID, "frontend", r.method, span.KindClient, at, callDur, r.method, "", downStatus, r.downstream+":8080", "http", nil)
	serverID := g.id64()
	srvStart := at + 300_000
	srvDur := callDur - 600_000
	if srvDur < 1000 {
		srvDur = 1000
	}
	var annots []event.Field
	if r.downstream == "payments" {
		ps := "OK"
		if httpStatus >= 500 {
			ps = "FAILED"
		}
		annots = []event.Field{{Name: "annotation.PaymentStatus", Value: event.String(ps)}}
	}
	dst = g.emit(dst, tid, serverID, clientID, r.downstream, r.method+" "+r.route, span.KindServer, srvStart, srvDur, r.method, r.route, downStatus, "", "", annots)
	n := 1 + g.rng.IntN(4)
	step := srvDur / int64(n+1)
	for i := 0; i < n; i++ {
		s := srvStart + int64(i)*step + step/4
		switch {
		case r.downstream == "payments" && i == 0:
			st := 200
			if httpStatus >= 500 {
				st = 502
			}
			dst = g.emit(dst, tid, g.id64(), serverID, "payments", "POST", span.KindClient, s, step, "POST", "", st, "api.stripe.com", "http", nil)
		case i%2 == 0:
			dst = g.emit(dst, tid, g.id64(), serverID, r.downstream, "DynamoDB.GetItem", span.KindClient, s, step/2, "", "", 0, "DynamoDB", "aws", nil)
		default:
			dst = g.emit(dst, tid, g.id64(), serverID, r.downstream, "SELECT sessions", span.KindClient, s, step/2, "", "", 0, "sessions@postgres:5432", "database", nil)
		}
	}
	return dst
}

func (g *generator) emit(dst []event.Event, tid span.TraceID, id, parent span.SpanID, service, name string, kind span.Kind,
	start, dur int64, method, route string, status int, peer, peerType string, extra []event.Field) []event.Event {
	sp := &g.sp
	sp.Reset()
	sp.TraceID, sp.SpanID, sp.ParentID = tid, id, parent
	sp.Service, sp.Stream, sp.Name, sp.Kind = service, service+"-1", name, kind
	sp.Start, sp.End = start, start+dur
	sp.HTTP.Method, sp.HTTP.Route, sp.HTTP.Status = method, route, status
	if route != "" {
		sp.HTTP.URL = "http://" + service + route
	}
	sp.Peer, sp.PeerType = peer, peerType
	sp.Status = span.StatusOf(status, false)
	sp.Fields = append(sp.Fields, extra...)
	sp.Fields = append(sp.Fields, event.Field{Name: span.PrefixResource + "service.name", Value: event.String(service)})
	dst, _ = sp.AppendEvent(dst, 0)
	return dst
}

// generate appends n spans spread over [start, start+span) to st.
func generate(ctx context.Context, st store.Store, n int, start time.Time, over time.Duration, seed uint64) error {
	g := &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), start: start, span: over}
	const batch = 200_000
	perTrace := 5.5 // the average of trace()
	traces := float64(n) / perTrace
	stepNs := float64(over.Nanoseconds()) / traces
	t0 := start.UnixNano()
	done := 0
	i := 0
	began := time.Now()
	for done < n {
		events := make([]event.Event, 0, batch+16)
		for len(events) < batch && done+len(events) < n {
			events = g.trace(events, t0+int64(float64(i)*stepNs))
			i++
		}
		if err := st.Append(ctx, &store.Batch{Events: events}); err != nil {
			return err
		}
		done += len(events)
		fmt.Printf("\r%d spans (%d traces) in %s", done, i, time.Since(began).Round(time.Second))
	}
	fmt.Println()
	return nil
}
