package trace

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/trace/filter"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// SearchRequest is a trace search.
type SearchRequest struct {
	// Filter is an X-Ray filter expression; empty matches every trace.
	Filter string
	// Start and End bound the spans considered (@timestamp, End exclusive).
	Start, End time.Time
	// Limit caps the traces returned, newest first (default 100, at most
	// MaxSearchLimit).
	Limit int
}

// MaxSearchLimit caps SearchRequest.Limit.
const MaxSearchLimit = 1000

// Summary is one trace found by a search.
type Summary struct {
	TraceID      string  `json:"traceId"`
	XRayTraceID  string  `json:"xrayTraceId"`
	RootService  string  `json:"rootService"`
	RootName     string  `json:"rootName"`
	Start        string  `json:"start"`
	StartUs      int64   `json:"startUs"`
	DurationMs   float64 `json:"durationMs"`
	ResponseMs   float64 `json:"responseTimeMs"`
	Status       string  `json:"status"`
	HTTPMethod   string  `json:"httpMethod,omitempty"`
	HTTPURL      string  `json:"httpUrl,omitempty"`
	HTTPStatus   int64   `json:"httpStatus,omitempty"`
	Spans        int64   `json:"spans"`
	HasError     bool    `json:"hasError"`
	HasFault     bool    `json:"hasFault"`
	HasThrottle  bool    `json:"hasThrottle"`
	RootComplete bool    `json:"rootComplete"`
}

// SearchResult is the answer to a search.
type SearchResult struct {
	Traces []Summary `json:"traces"`
	// ElapsedMs is how long the search took.
	ElapsedMs float64 `json:"elapsedMs"`
}

// statusRank orders statuses by severity for a trace's worst status.
func (t table) statusRank() string {
	s := t.col(span.FieldStatus, event.KindString)
	if s == "" {
		return "0"
	}
	return "CASE " + s + " WHEN 'fault' THEN 3 WHEN 'throttle' THEN 2 WHEN 'error' THEN 1 ELSE 0 END"
}

var rankStatus = []string{"ok", "error", "throttle", "fault"}

// Search finds the traces matching a filter in a time range, newest first.
func (e *Engine) Search(ctx context.Context, req SearchRequest) (*SearchResult, error) {
	began := time.Now()
	if !req.End.After(req.Start) {
		return nil, fmt.Errorf("%w: end %s is not after start %s", ErrFilter, req.End.Format(time.RFC3339), req.Start.Format(time.RFC3339))
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxSearchLimit)
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	snap, t, ok, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	res := &SearchResult{Traces: []Summary{}}
	start, end := req.Start.UnixMilli(), req.End.UnixMilli()
	if !ok {
		if req.Filter != "" {
			if _, err := ParseFilter(req.Filter); err != nil {
				return nil, err
			}
		}
		res.ElapsedMs = elapsedMs(began)
		return res, nil
	}
	if t.sch.MaxTime < start || t.sch.MinTime >= end {
		res.ElapsedMs = elapsedMs(began)
		return res, nil
	}
	var expr formula
	if req.Filter != "" {
		_, f, err := e.compileFilter(t, req.Filter, start, end)
		if err != nil {
			return nil, err
		}
		expr = f
	}
	// Newest first, in windows that double going back: the newest matches
	// are found by reading recent spans only.
	type hit struct {
		id string
		ts int64
	}
	var hits []hit
	from, to := max(start, t.sch.MinTime), min(end, t.sch.MaxTime+1)
	w := max((to-from)/32, int64(5*time.Minute/time.Millisecond))
	for we := to; we > from && len(hits) < limit; w *= 2 {
		ws := max(from, we-w)
		c := &compiler{t: t, start: max(start, ws-searchSlackMs), end: min(end, we+searchSlackMs), baseStart: ws, baseEnd: we}
		if e.opts.Groups != nil {
			c.groups = e.opts.Groups.Lookup
		}
		var sql string
		if expr == nil {
			sql = "SELECT " + t.traceID() + " AS tid, " + t.ts() + " AS ts FROM " + t.from() +
				" WHERE " + andJoin(t.timeRange(ws, we), t.isRoot())
		} else {
			// Compile again: atoms carry the window in their SQL.
			f, err := c.compile(mustParse(req.Filter))
			if err != nil {
				return nil, err
			}
			sql = c.matchingTraces(f)
		}
		hex, _ := t.d.Column(store.Column{Field: span.FieldTraceID, Kind: event.KindID128, Name: "h.tid"}, "h.ts")
		sql = "SELECT " + hex + ", h.ts FROM (" + sql + ") h ORDER BY h.ts DESC LIMIT " + strconv.Itoa(limit-len(hits))
		wstart := time.Now()
		rows, err := snap.Query(ctx, sql)
		if err != nil {
			return nil, e.fail(ctx, "search traces", err)
		}
		for rows.Next() {
			var id, ts any
			if err := rows.Scan(&id, &ts); err != nil {
				rows.Close()
				return nil, e.fail(ctx, "search traces", err)
			}
			hits = append(hits, hit{asString(scanValue(id)), asInt(scanValue(ts))})
		}
		if err := rows.Close(); err != nil {
			return nil, e.fail(ctx, "search traces", err)
		}
		e.log.Debug("Trace search window", "from", ws, "to", we, "hits", len(hits), "elapsed_ms", elapsedMs(wstart), "sql", sql)
		we = ws
	}
	if len(hits) == 0 {
		res.ElapsedMs = elapsedMs(began)
		return res, nil
	}
	// Summaries from the spans around the hits: a trace's spans lie within
	// summarySlack of the first span the search saw.
	lits := make([]string, 0, len(hits))
	lo, hi := hits[0].ts, hits[0].ts
	for _, h := range hits {
		id, ok := span.ParseTraceID(h.id)
		if !ok {
			continue
		}
		if lit, ok := t.traceLiteral(id); ok {
			lits = append(lits, lit)
		}
		lo, hi = min(lo, h.ts), max(hi, h.ts)
	}
	sumStart := time.Now()
	sql := summarySQL(t, andJoin(t.timeRange(lo-summarySlackMs, hi+summarySlackMs), "("+t.traceID()+" IN ("+strings.Join(lits, ", ")+"))"))
	res.Traces, err = e.summaries(ctx, snap, sql)
	if err != nil {
		return nil, err
	}
	res.ElapsedMs = elapsedMs(began)
	e.log.Debug("Trace search", "filter", req.Filter, "traces", len(res.Traces), "elapsed_ms", res.ElapsedMs, "summary_ms", elapsedMs(sumStart))
	return res, nil
}

// searchSlackMs widens the spans a search window's atoms read, so that a
// trace found in a window is judged on its spans just outside it too.
const searchSlackMs = 5 * 60 * 1000

// summarySlackMs bounds how far from the first span a search saw of a
// trace its other spans are read for its summary: traces longer than this
// are summarized from the spans within it.
const summarySlackMs = 15 * 60 * 1000

// mustParse parses a filter that was parsed successfully before.
func mustParse(text string) filter.Expr {
	e, err := filter.Parse(text)
	if err != nil {
		panic("BUG: filter parsed once but not twice: " + err.Error())
	}
	return e
}

func elapsedMs(since time.Time) float64 { return float64(time.Since(since).Microseconds()) / 1000 }

// summarySQL aggregates the spans matching where into one summary row per
// trace.
func summarySQL(t table, where string) string {
	d, rk := t.d, t.rootKey()
	earliest := func(x string, typ insights.Type) string {
		s, _ := d.Aggregate("earliest", []string{x}, []insights.Type{typ}, rk)
		return s
	}
	hex, _ := d.Column(store.Column{Field: span.FieldTraceID, Kind: event.KindID128, Name: t.traceID()}, t.ts())
	minHex, _ := d.Aggregate("min", []string{hex}, []insights.Type{insights.TString}, t.ts())
	flag := func(status string) string {
		return "max(CASE WHEN " + t.inStrings(span.FieldStatus, status) + " THEN 1 ELSE 0 END)"
	}
	cols := []string{
		minHex,
		"min(" + t.start() + ")",
		"max(" + t.end() + ")",
		earliest(t.text(span.FieldService), insights.TString),
		earliest(t.text(span.FieldName), insights.TString),
		earliest(t.duration(), insights.TNumber),
		earliest(t.text(span.FieldHTTPMethod), insights.TString),
		earliest(t.text(span.FieldHTTPURL), insights.TString),
		earliest(orNull(t.number(span.FieldHTTPStatus)), insights.TNumber),
		"max(" + t.statusRank() + ")",
		"count(*)",
		flag("error"), flag("fault"), flag("throttle"),
		"max(CASE WHEN " + t.isRoot() + " AND " + t.duration() + " IS NOT NULL THEN 1 ELSE 0 END)",
	}
	sql := "SELECT " + cols[0]
	for _, c := range cols[1:] {
		sql += ", " + c
	}
	return sql + " FROM " + t.from() + " WHERE " + where + " GROUP BY " + t.traceID()
}

// summaries runs summarySQL and sorts the traces newest first.
func (e *Engine) summaries(ctx context.Context, snap store.Snapshot, sql string) ([]Summary, error) {
	rows, err := snap.Query(ctx, sql)
	if err != nil {
		return nil, e.fail(ctx, "search traces", err)
	}
	defer rows.Close()
	out := []Summary{}
	vals := make([]any, 15)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, e.fail(ctx, "search traces", err)
		}
		for i := range vals {
			vals[i] = scanValue(vals[i])
		}
		s := Summary{
			TraceID:      asString(vals[0]),
			StartUs:      asInt(vals[1]),
			RootService:  asString(vals[3]),
			RootName:     asString(vals[4]),
			ResponseMs:   asFloat(vals[5]),
			HTTPMethod:   asString(vals[6]),
			HTTPURL:      asString(vals[7]),
			HTTPStatus:   asInt(vals[8]),
			Status:       rankStatus[min(max(asInt(vals[9]), 0), 3)],
			Spans:        asInt(vals[10]),
			HasError:     asInt(vals[11]) == 1 || asInt(vals[13]) == 1,
			HasFault:     asInt(vals[12]) == 1,
			HasThrottle:  asInt(vals[13]) == 1,
			RootComplete: asInt(vals[14]) == 1,
		}
		s.DurationMs = float64(asInt(vals[2])-s.StartUs) / 1000
		s.Start = time.UnixMicro(s.StartUs).UTC().Format(time.RFC3339Nano)
		if id, ok := span.ParseTraceID(s.TraceID); ok {
			s.XRayTraceID = span.XRayTraceID(id)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail(ctx, "search traces", err)
	}
	slices.SortFunc(out, func(a, b Summary) int {
		switch {
		case a.StartUs > b.StartUs:
			return -1
		case a.StartUs < b.StartUs:
			return 1
		}
		if a.TraceID < b.TraceID {
			return -1
		}
		return 1
	})
	return out, nil
}
