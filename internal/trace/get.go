package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// Trace is a whole trace: its spans as a tree with timings, the critical
// path, the errors, the annotations and the log events that carry its id.
type Trace struct {
	TraceID     string  `json:"traceId"`
	XRayTraceID string  `json:"xrayTraceId"`
	RootService string  `json:"rootService"`
	RootName    string  `json:"rootName"`
	Start       string  `json:"start"`
	StartUs     int64   `json:"startUs"`
	DurationMs  float64 `json:"durationMs"`
	Status      string  `json:"status"`
	SpanCount   int     `json:"spanCount"`
	// Services lists the services and peers that took part, sorted.
	Services []string `json:"services"`
	// Roots are the spans without a parent in the trace: normally one; more
	// when a parent span is missing (not sampled, not arrived yet).
	Roots []*Span `json:"roots"`
	// CriticalPath is the chain of span segments that made the trace as
	// long as it is, in time order.
	CriticalPath []Segment `json:"criticalPath"`
	// Errors are the spans that did not end ok.
	Errors []ErrorSpan `json:"errors"`
	// Annotations are every annotation value seen in the trace.
	Annotations map[string][]any `json:"annotations"`
	// Logs are the log events that carry the trace id, oldest first.
	Logs []LogEvent `json:"logs"`
	// LogsTruncated tells that more log events matched than MaxLogs.
	LogsTruncated bool `json:"logsTruncated"`
}

// Span is one span of a Trace.
type Span struct {
	SpanID        string  `json:"spanId"`
	ParentSpanID  string  `json:"parentSpanId,omitempty"`
	Service       string  `json:"service"`
	Stream        string  `json:"stream,omitempty"`
	Name          string  `json:"name"`
	Kind          string  `json:"kind"`
	Start         string  `json:"start"`
	StartUs       int64   `json:"startUs"`
	OffsetMs      float64 `json:"offsetMs"`
	DurationMs    float64 `json:"durationMs"`
	SelfMs        float64 `json:"selfMs"`
	InProgress    bool    `json:"inProgress,omitempty"`
	Status        string  `json:"status"`
	StatusMessage string  `json:"statusMessage,omitempty"`
	HTTP          *HTTP   `json:"http,omitempty"`
	Peer          string  `json:"peer,omitempty"`
	PeerType      string  `json:"peerType,omitempty"`
	User          string  `json:"user,omitempty"`
	Origin        string  `json:"origin,omitempty"`
	// Critical tells whether the span is on the critical path, and
	// CriticalMs how much of its own time is.
	Critical   bool            `json:"critical"`
	CriticalMs float64         `json:"criticalMs"`
	Exceptions json.RawMessage `json:"exceptions,omitempty"`
	Events     json.RawMessage `json:"events,omitempty"`
	Links      json.RawMessage `json:"links,omitempty"`
	// Annotations are the indexed key-values; Metadata the X-Ray metadata
	// (metadata.* fields); Attributes every other field, flattened.
	Annotations map[string]any `json:"annotations,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	Children    []*Span        `json:"children"`

	endUs int64
	dup   bool
}

// HTTP is a span's HTTP request.
type HTTP struct {
	Method    string `json:"method,omitempty"`
	Route     string `json:"route,omitempty"`
	URL       string `json:"url,omitempty"`
	Status    int64  `json:"status,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	ClientIP  string `json:"clientIp,omitempty"`
}

// Segment is a piece of the critical path: a span's own time.
type Segment struct {
	SpanID     string  `json:"spanId"`
	Service    string  `json:"service"`
	Name       string  `json:"name"`
	StartUs    int64   `json:"startUs"`
	DurationMs float64 `json:"durationMs"`
}

// ErrorSpan is a span that ended with an error, throttle or fault.
type ErrorSpan struct {
	SpanID           string `json:"spanId"`
	Service          string `json:"service"`
	Name             string `json:"name"`
	Status           string `json:"status"`
	HTTPStatus       int64  `json:"httpStatus,omitempty"`
	StatusMessage    string `json:"statusMessage,omitempty"`
	ExceptionType    string `json:"exceptionType,omitempty"`
	ExceptionMessage string `json:"exceptionMessage,omitempty"`
}

// LogEvent is a log event correlated with a trace.
type LogEvent struct {
	Timestamp string `json:"timestamp"`
	TimeMs    int64  `json:"timeMs"`
	Group     string `json:"group"`
	Stream    string `json:"stream"`
	Message   string `json:"message"`
}

// Get returns the trace with the id (32 hex digits or X-Ray's
// "1-xxxxxxxx-..." form), or an error wrapping ErrNotFound.
func (e *Engine) Get(ctx context.Context, id string) (*Trace, error) {
	tid, ok := span.ParseTraceID(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a trace id (32 hex digits or 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx)", ErrFilter, id)
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	snap, t, ok, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	if !ok {
		return nil, fmt.Errorf("trace %s: %w", tid, ErrNotFound)
	}
	lit, ok := t.traceLiteral(tid)
	if !ok {
		return nil, fmt.Errorf("trace %s: %w", tid, ErrNotFound)
	}
	spans, err := e.readSpans(ctx, snap, t, "("+t.traceID()+" = "+lit+")")
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("trace %s: %w", tid, ErrNotFound)
	}
	tr := assemble(tid, spans)
	if err := e.correlatedLogs(ctx, snap, tid, tr); err != nil {
		return nil, err
	}
	return tr, nil
}

// readSpans reads every field of the spans matching where, in start order.
func (e *Engine) readSpans(ctx context.Context, snap store.Snapshot, t table, where string) ([]*Span, error) {
	type fieldCol struct {
		field string
		kind  event.Kind
	}
	var cols []fieldCol
	sel := []string{t.ts(), store.ColStream}
	for f, cs := range t.sch.Fields {
		for _, c := range cs {
			cols = append(cols, fieldCol{f, c.Kind})
			v, _ := t.d.Column(c, t.ts())
			sel = append(sel, v)
		}
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM " + t.from() + " WHERE " + where
	rows, err := snap.Query(ctx, sql)
	if err != nil {
		return nil, e.fail(ctx, "read spans", err)
	}
	defer rows.Close()
	vals := make([]any, len(sel))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []*Span
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, e.fail(ctx, "read spans", err)
		}
		fields := make(map[string]any, len(cols))
		for i, c := range cols {
			if v := scanValue(vals[2+i]); v != nil {
				fields[c.field] = v
			}
		}
		s := spanFromFields(fields)
		s.Stream = asString(scanValue(vals[1]))
		if s.StartUs == 0 {
			s.StartUs = asInt(scanValue(vals[0])) * 1000
			s.endUs = s.StartUs + int64(s.DurationMs*1000)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail(ctx, "read spans", err)
	}
	return out, nil
}

// spanFromFields builds a span from its event's fields.
func spanFromFields(f map[string]any) *Span {
	take := func(name string) any {
		v := f[name]
		delete(f, name)
		return v
	}
	s := &Span{
		SpanID:        asString(take(span.FieldSpanID)),
		ParentSpanID:  asString(take(span.FieldParentID)),
		Service:       asString(take(span.FieldService)),
		Name:          asString(take(span.FieldName)),
		Kind:          asString(take(span.FieldKind)),
		StartUs:       asInt(take(span.FieldStart)),
		DurationMs:    asFloat(take(span.FieldDuration)),
		Status:        asString(take(span.FieldStatus)),
		StatusMessage: asString(take(span.FieldStatusMessage)),
		Peer:          asString(take(span.FieldPeer)),
		PeerType:      asString(take(span.FieldPeerType)),
		User:          asString(take(span.FieldUser)),
		Origin:        asString(take(span.FieldOrigin)),
		Children:      []*Span{},
	}
	take(span.FieldTraceID)
	if b, ok := take(span.FieldInProgress).(bool); ok {
		s.InProgress = b
	}
	h := HTTP{
		Method:    asString(take(span.FieldHTTPMethod)),
		Route:     asString(take(span.FieldHTTPRoute)),
		URL:       asString(take(span.FieldHTTPURL)),
		Status:    asInt(take(span.FieldHTTPStatus)),
		UserAgent: asString(take(span.FieldHTTPUserAgent)),
		ClientIP:  asString(take(span.FieldHTTPClientIP)),
	}
	if h != (HTTP{}) {
		s.HTTP = &h
	}
	rawJSON := func(name string) json.RawMessage {
		if v := asString(take(name)); v != "" && json.Valid([]byte(v)) {
			return json.RawMessage(v)
		}
		return nil
	}
	s.Exceptions = rawJSON(span.FieldExceptions)
	s.Events = rawJSON(span.FieldEvents)
	s.Links = rawJSON(span.FieldLinks)
	if s.Exceptions == nil {
		typ, msg := asString(take(span.FieldExceptionType)), asString(take(span.FieldExceptionMessage))
		if typ != "" || msg != "" {
			b, _ := json.Marshal([]map[string]string{{"type": typ, "message": msg}})
			s.Exceptions = b
		}
	} else {
		take(span.FieldExceptionType)
		take(span.FieldExceptionMessage)
	}
	for k, v := range f {
		switch {
		case strings.HasPrefix(k, span.PrefixAnnotation):
			if s.Annotations == nil {
				s.Annotations = map[string]any{}
			}
			s.Annotations[k[len(span.PrefixAnnotation):]] = v
		case strings.HasPrefix(k, span.PrefixMetadata):
			if s.Metadata == nil {
				s.Metadata = map[string]any{}
			}
			s.Metadata[k[len(span.PrefixMetadata):]] = v
		default:
			if s.Attributes == nil {
				s.Attributes = map[string]any{}
			}
			s.Attributes[k] = v
		}
	}
	s.endUs = s.StartUs + int64(s.DurationMs*1000+0.5)
	s.Start = time.UnixMicro(s.StartUs).UTC().Format(time.RFC3339Nano)
	return s
}

// assemble builds the tree, the timings and the critical path of a trace's
// spans.
func assemble(tid span.TraceID, spans []*Span) *Trace {
	// The same span may be stored twice (an X-Ray segment sent in progress,
	// then complete; a retried batch): keep the most complete copy.
	byID := make(map[string]*Span, len(spans))
	for _, s := range spans {
		if o, ok := byID[s.SpanID]; ok {
			if better(s, o) {
				o.dup = true
				byID[s.SpanID] = s
			} else {
				s.dup = true
			}
			continue
		}
		byID[s.SpanID] = s
	}
	kept := spans[:0]
	for _, s := range spans {
		if !s.dup {
			kept = append(kept, s)
		}
	}
	spans = kept
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].StartUs < spans[j].StartUs })

	tr := &Trace{
		TraceID: tid.String(), XRayTraceID: span.XRayTraceID(tid),
		Roots: []*Span{}, CriticalPath: []Segment{}, Errors: []ErrorSpan{},
		Annotations: map[string][]any{}, Logs: []LogEvent{}, SpanCount: len(spans),
	}
	first, last := spans[0].StartUs, spans[0].endUs
	services := map[string]bool{}
	worst := 0
	for _, s := range spans {
		first, last = min(first, s.StartUs), max(last, s.endUs)
		if p, ok := byID[s.ParentSpanID]; ok && s.ParentSpanID != "" && p != s {
			p.Children = append(p.Children, s)
		} else {
			tr.Roots = append(tr.Roots, s)
		}
		services[s.Service] = true
		if r := slices.Index(rankStatus, s.Status); r > 0 {
			worst = max(worst, r)
			es := ErrorSpan{SpanID: s.SpanID, Service: s.Service, Name: s.Name, Status: s.Status, StatusMessage: s.StatusMessage}
			if s.HTTP != nil {
				es.HTTPStatus = s.HTTP.Status
			}
			var exc []struct{ Type, Message string }
			if json.Unmarshal(s.Exceptions, &exc) == nil && len(exc) > 0 {
				es.ExceptionType, es.ExceptionMessage = exc[0].Type, exc[0].Message
			}
			tr.Errors = append(tr.Errors, es)
		}
		keys := make([]string, 0, len(s.Annotations))
		for k := range s.Annotations {
			keys = append(keys, k)
		}
		for _, k := range keys {
			v := s.Annotations[k]
			if !slices.Contains(tr.Annotations[k], v) {
				tr.Annotations[k] = append(tr.Annotations[k], v)
			}
		}
	}
	// Peers count as participants when nothing answered for them: a
	// client span without children in another service.
	for _, s := range spans {
		if s.Peer == "" || s.Kind == "server" || s.Kind == "internal" {
			continue
		}
		answered := false
		for _, c := range s.Children {
			answered = answered || c.Service != s.Service
		}
		if !answered {
			services[s.Peer] = true
		}
	}
	for name := range services {
		tr.Services = append(tr.Services, name)
	}
	slices.Sort(tr.Services)
	tr.StartUs = first
	tr.Start = time.UnixMicro(first).UTC().Format(time.RFC3339Nano)
	tr.DurationMs = float64(last-first) / 1000
	tr.Status = rankStatus[worst]
	root := tr.Roots[0]
	tr.RootService, tr.RootName = root.Service, root.Name
	for _, s := range spans {
		s.OffsetMs = float64(s.StartUs-first) / 1000
		s.SelfMs = float64(selfTime(s)) / 1000
	}
	// The critical path of the first root, which the others hang off in
	// time when parents are missing.
	var segs []Segment
	criticalPath(root, root.endUs, &segs)
	slices.Reverse(segs)
	tr.CriticalPath = segs
	for _, s := range spans {
		s.CriticalMs = math.Round(s.CriticalMs*1000) / 1000
	}
	return tr
}

// better reports whether a is a more complete copy of a span than b.
func better(a, b *Span) bool {
	if a.InProgress != b.InProgress {
		return !a.InProgress
	}
	return a.DurationMs > b.DurationMs
}

// selfTime is a span's time not covered by its children (µs).
func selfTime(s *Span) int64 {
	type iv struct{ a, b int64 }
	var ivs []iv
	for _, c := range s.Children {
		a, b := max(c.StartUs, s.StartUs), min(c.endUs, s.endUs)
		if b > a {
			ivs = append(ivs, iv{a, b})
		}
	}
	slices.SortFunc(ivs, func(x, y iv) int {
		switch {
		case x.a < y.a:
			return -1
		case x.a > y.a:
			return 1
		}
		return 0
	})
	covered, curA, curB := int64(0), int64(-1), int64(-1)
	for _, v := range ivs {
		if v.a > curB {
			covered += curB - curA
			curA, curB = v.a, v.b
		} else {
			curB = max(curB, v.b)
		}
	}
	covered += curB - curA
	return max(0, s.endUs-s.StartUs-covered)
}

// criticalPath walks back from the end of s: the child that finished last
// before the cursor is on the path, then the one that finished last before
// that child started, and so on; the gaps between them are s's own time.
// Segments are appended newest first.
func criticalPath(s *Span, cursor int64, segs *[]Segment) {
	s.Critical = true
	cursor = min(cursor, s.endUs)
	children := slices.Clone(s.Children)
	slices.SortFunc(children, func(a, b *Span) int {
		switch {
		case a.endUs > b.endUs:
			return -1
		case a.endUs < b.endUs:
			return 1
		}
		return 0
	})
	own := func(from, to int64) {
		if to > from {
			*segs = append(*segs, Segment{SpanID: s.SpanID, Service: s.Service, Name: s.Name, StartUs: from, DurationMs: float64(to-from) / 1000})
			s.CriticalMs += float64(to-from) / 1000
		}
	}
	for _, c := range children {
		if c.StartUs >= cursor || c.endUs <= s.StartUs {
			continue
		}
		end := min(c.endUs, cursor)
		own(end, cursor)
		criticalPath(c, end, segs)
		cursor = max(c.StartUs, s.StartUs)
	}
	own(s.StartUs, cursor)
}

// correlatedLogs finds the log events of other groups that carry the trace
// id, in a window around the trace, through the Insights compiler so that
// typed id columns are compared as such.
func (e *Engine) correlatedLogs(ctx context.Context, snap store.Snapshot, tid span.TraceID, tr *Trace) error {
	from := tr.StartUs/1000 - 10*60*1000
	to := (tr.StartUs+int64(tr.DurationMs*1000))/1000 + 10*60*1000 + 1
	var groups []*store.Schema
	used := map[string]bool{}
	for _, g := range snap.Groups() {
		if g == span.Group {
			continue
		}
		sch, err := snap.Schema(g)
		if err != nil {
			return err
		}
		if sch.MaxTime < from || sch.MinTime >= to {
			continue
		}
		has := false
		for _, f := range e.opts.LogTraceFields {
			if len(sch.Fields[f]) > 0 {
				has, used[f] = true, true
			}
		}
		if has {
			groups = append(groups, sch)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	hexID, xray := tid.String(), span.XRayTraceID(tid)
	var conds []string
	for _, f := range e.opts.LogTraceFields {
		if used[f] {
			name := "`" + strings.ReplaceAll(f, "`", "") + "`"
			conds = append(conds, name+" = "+strconv.Quote(hexID), name+" = "+strconv.Quote(xray))
		}
	}
	q := "fields @timestamp, @log, @logStream, @message | filter " + strings.Join(conds, " or ") +
		" | sort @timestamp asc | limit " + strconv.Itoa(e.opts.MaxLogs+1)
	parsed, err := insights.Parse(q)
	if err != nil {
		return fmt.Errorf("BUG: log lookup %q: %w", q, err)
	}
	compiled, err := insights.Compile(parsed, insights.Target{Groups: groups, Start: from, End: to, Now: time.Now().UnixMilli()}, e.opts.Dialect)
	if err != nil {
		return fmt.Errorf("BUG: compile log lookup: %w", err)
	}
	rows, err := snap.Query(ctx, compiled.SQL)
	if err != nil {
		return e.fail(ctx, "find logs of trace", err)
	}
	defer rows.Close()
	idx := map[string]int{}
	for i, c := range compiled.Columns {
		idx[c.Name] = i
	}
	vals := make([]any, len(compiled.Columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return e.fail(ctx, "find logs of trace", err)
		}
		if len(tr.Logs) == e.opts.MaxLogs {
			tr.LogsTruncated = true
			break
		}
		ms := asInt(scanValue(vals[idx["@timestamp"]]))
		tr.Logs = append(tr.Logs, LogEvent{
			TimeMs:    ms,
			Timestamp: time.UnixMilli(ms).UTC().Format(time.RFC3339Nano),
			Group:     asString(scanValue(vals[idx["@log"]])),
			Stream:    asString(scanValue(vals[idx["@logStream"]])),
			Message:   asString(scanValue(vals[idx["@message"]])),
		})
	}
	return rows.Err()
}
