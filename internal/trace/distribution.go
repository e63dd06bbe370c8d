package trace

import (
	"context"
	"fmt"
	"time"

	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// DistributionRequest asks for the response-time distribution of the
// entry spans (server, consumer and root spans) of a service, a route, or
// of the root spans of a trace group.
type DistributionRequest struct {
	// Service and Route narrow the spans (empty: any). Route matches
	// http.route, or the span name for spans without a route.
	Service, Route string
	Start, End     time.Time
	// Group and Filter restrict the spans to the traces of a trace group
	// and/or a filter expression.
	Group, Filter string
	// RootsOnly counts only root spans: one per trace, the request as the
	// caller saw it.
	RootsOnly bool
}

// Distribution is a response-time histogram with its figures.
type Distribution struct {
	Service string `json:"service,omitempty"`
	Route   string `json:"route,omitempty"`
	Group   string `json:"group,omitempty"`
	Stats
	P50Ms     float64 `json:"p50Ms"`
	P90Ms     float64 `json:"p90Ms"`
	P99Ms     float64 `json:"p99Ms"`
	ElapsedMs float64 `json:"elapsedMs"`
}

// Distribution computes a response-time distribution.
func (e *Engine) Distribution(ctx context.Context, req DistributionRequest) (*Distribution, error) {
	began := time.Now()
	if !req.End.After(req.Start) {
		return nil, fmt.Errorf("%w: end is not after start", ErrFilter)
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	snap, t, ok, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	out := &Distribution{Service: req.Service, Route: req.Route, Group: req.Group}
	if req.Group != "" {
		if e.opts.Groups == nil {
			return nil, fmt.Errorf("trace group %q: %w", req.Group, ErrGroupNotFound)
		}
		if _, found := e.opts.Groups.Get(req.Group); !found {
			return nil, fmt.Errorf("trace group %q: %w", req.Group, ErrGroupNotFound)
		}
	}
	if !ok {
		out.finish()
		out.ElapsedMs = elapsedMs(began)
		return out, nil
	}
	start, end := req.Start.UnixMilli(), req.End.UnixMilli()
	restrict, err := e.traceRestriction(t, req.Group, req.Filter, start, end)
	if err != nil {
		return nil, err
	}
	which := t.isRoot()
	if !req.RootsOnly {
		which = "(" + t.inStrings(span.FieldKind, "server", "consumer") + " OR " + t.isRoot() + ")"
	}
	where := []string{t.timeRange(start, end), which, restrict}
	if req.Service != "" {
		where = append(where, t.inStrings(span.FieldService, req.Service))
	}
	if req.Route != "" {
		route := t.strCmp("=", req.Route, span.FieldHTTPRoute)
		noRoute := "(NOT " + t.isSet(span.FieldHTTPRoute) + " AND " + t.strCmp("=", req.Route, span.FieldName) + ")"
		where = append(where, "("+route+" OR "+noRoute+")")
	}
	cond := andJoin(where...)
	dur := t.duration()
	bucket := bucketSQL(t.d, dur)
	rows, err := e.queryStats(ctx, snap, "SELECT "+bucket+", "+statsCols(t, t.text(span.FieldStatus), dur)+" FROM "+t.from()+
		" WHERE "+cond+" GROUP BY "+bucket, 0)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out.add(r.bucket, r.n, r.errs, r.faults, r.throttles, r.sumMs)
	}
	out.finish()
	if out.Requests == 0 {
		out.ElapsedMs = elapsedMs(began)
		return out, nil
	}
	pct := func(p string) string {
		s, _ := t.d.Aggregate("pct", []string{dur, p}, []insights.Type{insights.TNumber, insights.TNumber}, t.ts())
		return s
	}
	r, err := snap.Query(ctx, "SELECT "+pct("0.5")+", "+pct("0.9")+", "+pct("0.99")+" FROM "+t.from()+" WHERE "+cond)
	if err != nil {
		return nil, e.fail(ctx, "compute distribution", err)
	}
	defer r.Close()
	if r.Next() {
		var a, b, c any
		if err := r.Scan(&a, &b, &c); err != nil {
			return nil, e.fail(ctx, "compute distribution", err)
		}
		out.P50Ms, out.P90Ms, out.P99Ms = asFloat(scanValue(a)), asFloat(scanValue(b)), asFloat(scanValue(c))
	}
	if err := r.Err(); err != nil {
		return nil, e.fail(ctx, "compute distribution", err)
	}
	out.ElapsedMs = elapsedMs(began)
	return out, nil
}
