package trace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// Options configure an Engine.
type Options struct {
	// Store holds the spans (group span.Group) and the logs that are
	// correlated with them. It must not be nil.
	Store store.Store
	// Dialect writes the store's SQL. It must not be nil.
	Dialect insights.Dialect
	// Groups are the trace groups (group.name in filters, per-group maps
	// and figures); nil means none.
	Groups *Groups
	// LogTraceFields are the log fields that may hold a trace id (default
	// DefaultLogTraceFields).
	LogTraceFields []string
	// MaxLogs caps the log events returned with a trace (default 1000).
	MaxLogs int
	// Timeout bounds each request (default 60s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// DefaultLogTraceFields are the field names under which logs commonly
// carry a trace id: OpenTelemetry log records (traceId), the usual logging
// library names, Lambda's X-Ray line (@xrayTraceId) and a JSON key written
// "@xrayTraceId" (stored as "@@xrayTraceId", as CloudWatch shows it).
var DefaultLogTraceFields = []string{
	"traceId", "trace_id", "traceID", "trace.id", "TraceId",
	"@xrayTraceId", "@@xrayTraceId", "xray_trace_id", "AWS-XRAY-TRACE-ID",
	"otel.trace_id", "attributes.trace_id", "attributes.traceId", "attributes.otel.trace_id",
	"logging.googleapis.com/trace",
}

// Engine answers trace questions from the event store: traces by id,
// searches with filter expressions, service maps and latency
// distributions. It is safe for concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.Store == nil || opts.Dialect == nil {
		panic("BUG: trace.New without a store or dialect")
	}
	if len(opts.LogTraceFields) == 0 {
		opts.LogTraceFields = DefaultLogTraceFields
	}
	if opts.MaxLogs <= 0 {
		opts.MaxLogs = 1000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: opts.Logger}
}

// ErrNotFound means no span of the trace is stored.
var ErrNotFound = errors.New("trace not found")

// read opens a snapshot and the spans table; ok is false when no span was
// ever stored. The caller must close the snapshot.
func (e *Engine) read(ctx context.Context) (store.Snapshot, table, bool, error) {
	snap, err := e.opts.Store.Snapshot(ctx)
	if err != nil {
		return nil, table{}, false, err
	}
	sch, err := snap.Schema(span.Group)
	if errors.Is(err, store.ErrNotFound) {
		return snap, table{}, false, nil
	}
	if err != nil {
		snap.Close()
		return nil, table{}, false, err
	}
	t := table{d: e.opts.Dialect, sch: sch}
	if t.traceID() == "" || t.spanID() == "" {
		return snap, t, false, nil
	}
	return snap, t, true, nil
}

// fail turns a store error into the context's error when the request was
// cancelled or ran out of time, which is the real cause.
func (e *Engine) fail(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", what, ctxErr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// compileFilter parses and compiles a filter for a time range.
func (e *Engine) compileFilter(t table, text string, start, end int64) (*compiler, formula, error) {
	expr, err := ParseFilter(text)
	if err != nil {
		return nil, nil, err
	}
	c := &compiler{t: t, start: start, end: end}
	if e.opts.Groups != nil {
		c.groups = e.opts.Groups.Lookup
	}
	f, err := c.compile(expr)
	if err != nil {
		return nil, nil, err
	}
	return c, f, nil
}

// scanValue converts a scanned SQL value to int64, float64, string or bool.
func scanValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x
	case []byte:
		return string(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	case interface{ Float64() float64 }:
		return x.Float64()
	case time.Time:
		return x.UnixMilli()
	}
	return fmt.Sprint(v)
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func asFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// traceLiteral writes a trace id as a literal of the traceId column.
func (t table) traceLiteral(id span.TraceID) (string, bool) {
	for _, c := range t.sch.Fields[span.FieldTraceID] {
		if c.Kind == event.KindID128 {
			return t.d.KindLiteral(c, id.String())
		}
	}
	return "", false
}
