package trace

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// BucketBoundsMs are the upper bounds (inclusive, milliseconds) of the
// latency histograms' buckets; a last bucket holds everything slower.
var BucketBoundsMs = []float64{1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// Bucket is one histogram bucket. LeMs is nil for the last one (+Inf).
type Bucket struct {
	LeMs  *float64 `json:"leMs"`
	Count int64    `json:"count"`
}

// Stats are the request figures of a node, an edge or a group.
type Stats struct {
	Requests     int64    `json:"requests"`
	Errors       int64    `json:"errors"`
	Faults       int64    `json:"faults"`
	Throttles    int64    `json:"throttles"`
	ErrorRate    float64  `json:"errorRate"`
	FaultRate    float64  `json:"faultRate"`
	ThrottleRate float64  `json:"throttleRate"`
	AvgMs        float64  `json:"avgMs"`
	Histogram    []Bucket `json:"histogram"`
	sumMs        float64
}

// Node is a service map node: an instrumented service, or a peer that
// client spans call and that sends no spans of its own (a database, an AWS
// service, a remote HTTP host).
type Node struct {
	Name string `json:"name"`
	// Type is "service" for instrumented services, else the peer's type
	// ("database", "http", "aws", "rpc", "messaging", "remote").
	Type string `json:"type"`
	Stats
}

// Edge is a service map edge: calls from Source to Target, as the caller
// saw them (client-side latency).
type Edge struct {
	Source string `json:"source"`
	Target string `json:"target"`
	Stats
}

// ServiceMap is the graph of services and their calls in a time range.
type ServiceMap struct {
	Nodes []*Node `json:"nodes"`
	Edges []*Edge `json:"edges"`
	// Group is the trace group the map is restricted to ("" for all).
	Group     string  `json:"group,omitempty"`
	ElapsedMs float64 `json:"elapsedMs"`
}

// MapRequest asks for a service map.
type MapRequest struct {
	Start, End time.Time
	// Group restricts the map to the traces of a trace group.
	Group string
	// Filter restricts the map to the traces of a filter expression
	// (applied together with Group's).
	Filter string
}

func (s *Stats) add(bucket int, n, errs, faults, throttles int64, sumMs float64) {
	if s.Histogram == nil {
		s.Histogram = newHistogram()
	}
	if bucket >= 0 && bucket < len(s.Histogram) {
		s.Histogram[bucket].Count += n
	}
	s.Requests += n
	s.Errors += errs
	s.Faults += faults
	s.Throttles += throttles
	s.sumMs += sumMs
}

func (s *Stats) finish() {
	if s.Histogram == nil {
		s.Histogram = newHistogram()
	}
	if s.Requests > 0 {
		n := float64(s.Requests)
		s.ErrorRate, s.FaultRate, s.ThrottleRate = float64(s.Errors)/n, float64(s.Faults)/n, float64(s.Throttles)/n
		s.AvgMs = math.Round(s.sumMs/n*1000) / 1000
	}
}

func newHistogram() []Bucket {
	h := make([]Bucket, len(BucketBoundsMs)+1)
	for i := range BucketBoundsMs {
		h[i].LeMs = &BucketBoundsMs[i]
	}
	return h
}

// bucketSQL maps a duration in ms to its bucket index.
func bucketSQL(d insights.Dialect, ms string) string {
	var b strings.Builder
	b.WriteString("CASE")
	for i, le := range BucketBoundsMs {
		fmt.Fprintf(&b, " WHEN %s <= %s THEN %d", ms, d.Number(strconv.FormatFloat(le, 'g', -1, 64)), i)
	}
	fmt.Fprintf(&b, " ELSE %d END", len(BucketBoundsMs))
	return b.String()
}

// statsCols are the aggregate columns of a stats query over spans whose
// outcome is judged by status and latency by ms.
func statsCols(t table, status, ms string) string {
	cnt := func(vals ...string) string {
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = t.d.Str(v)
		}
		return "sum(CASE WHEN " + status + " IN (" + strings.Join(q, ", ") + ") THEN 1 ELSE 0 END)"
	}
	return "count(*), " + cnt("error", "throttle") + ", " + cnt("fault") + ", " + cnt("throttle") + ", sum(COALESCE(" + ms + ", 0))"
}

// statsRow reads the columns of statsCols after n leading key columns.
type statsRow struct {
	keys                       []string
	bucket                     int
	n, errs, faults, throttles int64
	sumMs                      float64
}

// queryStats runs a query whose rows are keys..., bucket, statsCols.
func (e *Engine) queryStats(ctx context.Context, snap store.Snapshot, sql string, nkeys int) ([]statsRow, error) {
	rows, err := snap.Query(ctx, sql)
	if err != nil {
		return nil, e.fail(ctx, "compute service map", err)
	}
	defer rows.Close()
	vals := make([]any, nkeys+6)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []statsRow
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, e.fail(ctx, "compute service map", err)
		}
		r := statsRow{keys: make([]string, nkeys)}
		for i := 0; i < nkeys; i++ {
			r.keys[i] = asString(scanValue(vals[i]))
		}
		r.bucket = int(asInt(scanValue(vals[nkeys])))
		r.n = asInt(scanValue(vals[nkeys+1]))
		r.errs = asInt(scanValue(vals[nkeys+2]))
		r.faults = asInt(scanValue(vals[nkeys+3]))
		r.throttles = asInt(scanValue(vals[nkeys+4]))
		r.sumMs = asFloat(scanValue(vals[nkeys+5]))
		out = append(out, r)
	}
	return out, rows.Err()
}

// traceRestriction returns a condition restricting spans of t to the
// traces of a group and/or filter ("" for none).
func (e *Engine) traceRestriction(t table, group, filterText string, start, end int64) (string, error) {
	var texts []string
	if group != "" {
		if e.opts.Groups == nil {
			return "", fmt.Errorf("%w: trace group %q: %w", ErrFilter, group, ErrGroupNotFound)
		}
		g, ok := e.opts.Groups.Get(group)
		if !ok {
			return "", fmt.Errorf("trace group %q: %w", group, ErrGroupNotFound)
		}
		texts = append(texts, "("+g.Filter+")")
	}
	if filterText != "" {
		texts = append(texts, "("+filterText+")")
	}
	if len(texts) == 0 {
		return "", nil
	}
	c, f, err := e.compileFilter(t, strings.Join(texts, " AND "), start, end)
	if err != nil {
		return "", err
	}
	return "(" + t.traceID() + " IN (SELECT tid FROM (" + c.matchingTraces(f) + ") m))", nil
}

// ServiceMap computes the service map of a time range: nodes for services
// (their entry spans: server, consumer and root spans) and for the
// uninstrumented peers that client spans call; edges for the calls across
// services (parent-child span pairs whose services differ) and to peers.
func (e *Engine) ServiceMap(ctx context.Context, req MapRequest) (*ServiceMap, error) {
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
	m := &ServiceMap{Nodes: []*Node{}, Edges: []*Edge{}, Group: req.Group}
	if req.Group != "" && e.opts.Groups != nil {
		if _, found := e.opts.Groups.Get(req.Group); !found {
			return nil, fmt.Errorf("trace group %q: %w", req.Group, ErrGroupNotFound)
		}
	}
	if !ok {
		m.ElapsedMs = elapsedMs(began)
		return m, nil
	}
	start, end := req.Start.UnixMilli(), req.End.UnixMilli()
	restrict, err := e.traceRestriction(t, req.Group, req.Filter, start, end)
	if err != nil {
		return nil, err
	}
	d := t.d
	nodes := map[string]*Node{}
	node := func(name, typ string) *Node {
		n := nodes[name]
		if n == nil {
			n = &Node{Name: name, Type: typ}
			nodes[name] = n
		}
		if n.Type != "service" && typ == "service" {
			n.Type = typ
		}
		return n
	}
	edges := map[[2]string]*Edge{}
	edge := func(src, dst string) *Edge {
		k := [2]string{src, dst}
		ed := edges[k]
		if ed == nil {
			ed = &Edge{Source: src, Target: dst}
			edges[k] = ed
		}
		return ed
	}

	// Services: their entry spans.
	svc := t.text(span.FieldService)
	status := t.text(span.FieldStatus)
	dur := t.duration()
	entry := "(" + t.inStrings(span.FieldKind, "server", "consumer") + " OR " + t.isRoot() + ")"
	bucket := bucketSQL(d, dur)
	sql := "SELECT " + svc + ", " + bucket + ", " + statsCols(t, status, dur) + " FROM " + t.from() +
		" WHERE " + andJoin(t.timeRange(start, end), entry, restrict) + " GROUP BY " + svc + ", " + bucket
	rows, err := e.queryStats(ctx, snap, sql, 1)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		node(r.keys[0], "service").add(r.bucket, r.n, r.errs, r.faults, r.throttles, r.sumMs)
	}

	// Calls between services: parent-child pairs across services, judged
	// by the caller's client span when there is one, else by the callee.
	if cp := t.as("c").parentID(); cp != "" {
		p, c := t.as("p"), t.as("c")
		pClient := p.inStrings(span.FieldKind, "client", "producer")
		caller := func(pv, cv string) string { return "CASE WHEN " + pClient + " THEN " + pv + " ELSE " + cv + " END" }
		edur := caller(p.duration(), c.duration())
		estatus := caller(p.text(span.FieldStatus), c.text(span.FieldStatus))
		ebucket := bucketSQL(d, edur)
		psvc, csvc := p.text(span.FieldService), c.text(span.FieldService)
		pRestrict := ""
		if restrict != "" {
			pRestrict = strings.Replace(restrict, "("+t.traceID()+" IN", "("+p.traceID()+" IN", 1)
		}
		sql = "SELECT " + psvc + ", " + csvc + ", " + ebucket + ", " + statsCols(t, estatus, edur) +
			" FROM " + p.from() + " JOIN " + c.from() + " ON " + c.traceID() + " = " + p.traceID() + " AND " + cp + " = " + p.spanID() +
			" WHERE " + andJoin(p.timeRange(start, end), c.timeRange(start, end), "("+psvc+" <> "+csvc+")", pRestrict) +
			" GROUP BY " + psvc + ", " + csvc + ", " + ebucket
		rows, err = e.queryStats(ctx, snap, sql, 2)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			node(r.keys[0], "service")
			node(r.keys[1], "service")
			edge(r.keys[0], r.keys[1]).add(r.bucket, r.n, r.errs, r.faults, r.throttles, r.sumMs)
		}
	}

	// Calls to peers that send no spans: client spans with a peer and no
	// child span in a service.
	{
		pt := t.text(span.FieldPeerType)
		noChild := ""
		if pid := t.parentID(); pid != "" {
			noChild = "(" + t.spanID() + " NOT IN (SELECT " + pid + " FROM " + t.from() + " WHERE " +
				andJoin(t.timeRange(start, end), "("+pid+" IS NOT NULL)", t.inStrings(span.FieldKind, "server", "consumer")) + "))"
		}
		peerText := t.text(span.FieldPeer)
		sql = "SELECT " + svc + ", " + peerText + ", " + pt + ", " + bucket + ", " + statsCols(t, status, dur) + " FROM " + t.from() +
			" WHERE " + andJoin(t.timeRange(start, end), t.inStrings(span.FieldKind, "client", "producer"), t.isSet(span.FieldPeer), noChild, restrict) +
			" GROUP BY " + svc + ", " + peerText + ", " + pt + ", " + bucket
		rows, err = e.queryStats(ctx, snap, sql, 3)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			typ := r.keys[2]
			if typ == "" {
				typ = "remote"
			}
			node(r.keys[0], "service")
			node(r.keys[1], typ).add(r.bucket, r.n, r.errs, r.faults, r.throttles, r.sumMs)
			edge(r.keys[0], r.keys[1]).add(r.bucket, r.n, r.errs, r.faults, r.throttles, r.sumMs)
		}
	}

	for _, n := range nodes {
		n.finish()
		m.Nodes = append(m.Nodes, n)
	}
	for _, ed := range edges {
		ed.finish()
		m.Edges = append(m.Edges, ed)
	}
	slices.SortFunc(m.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(m.Edges, func(a, b *Edge) int {
		if c := strings.Compare(a.Source, b.Source); c != 0 {
			return c
		}
		return strings.Compare(a.Target, b.Target)
	})
	m.ElapsedMs = elapsedMs(began)
	return m, nil
}
