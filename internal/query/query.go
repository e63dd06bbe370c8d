// Package query runs Logs Insights queries: it picks the log groups, opens
// a consistent snapshot of the store, compiles the query for the store's
// dialect, runs it under a time limit and turns the rows into results with
// the counts Logs Insights reports (records matched and scanned).
package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
)

// Options configure an Engine.
type Options struct {
	Store store.Store
	// Timeout bounds each query (default 60s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Engine runs queries. It is safe for concurrent use.
type Engine struct {
	opts    Options
	dialect insights.Dialect
}

// New returns an Engine over a store, with the dialect the store speaks.
func New(opts Options) (*Engine, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := DialectOf(opts.Store.Dialect())
	if err != nil {
		return nil, err
	}
	return &Engine{opts: opts, dialect: d}, nil
}

// DialectOf returns the query dialect of a store dialect name.
func DialectOf(name string) (insights.Dialect, error) {
	switch name {
	case "duckdb":
		return insights.DuckDB, nil
	case "clickhouse":
		return insights.ClickHouse, nil
	}
	return nil, fmt.Errorf("no query dialect for store %q", name)
}

// Request is one query.
type Request struct {
	Query string
	// Start and End bound @timestamp; End is exclusive.
	Start, End time.Time
	// Groups names log groups; a trailing * makes a name a prefix. Empty
	// means every group (unless the query has SOURCE).
	Groups []string
}

// Result is a query's answer.
type Result struct {
	Columns       []string `json:"columns"`
	ColumnTypes   []string `json:"columnTypes"`
	Rows          [][]any  `json:"rows"`
	Visualization string   `json:"visualization"`
	Stats         Stats    `json:"stats"`
}

// Stats are the counts Logs Insights reports for a query.
type Stats struct {
	RecordsMatched int64   `json:"recordsMatched"`
	RecordsScanned int64   `json:"recordsScanned"`
	BytesScanned   int64   `json:"bytesScanned"`
	ElapsedMs      float64 `json:"elapsedMs"`
}

// ErrBadRequest wraps errors in the request itself (query syntax, unknown
// log groups, times).
var ErrBadRequest = errors.New("bad query request")

// Run runs a query.
func (e *Engine) Run(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	q, err := insights.Parse(req.Query)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if !req.End.After(req.Start) {
		return nil, fmt.Errorf("%w: end %s is not after start %s", ErrBadRequest, req.End.Format(time.RFC3339), req.Start.Format(time.RFC3339))
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()

	snap, err := e.opts.Store.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	names, err := selectGroups(snap.Groups(), req.Groups, q.Source)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	target := insights.Target{Start: req.Start.UnixMilli(), End: req.End.UnixMilli(), Now: start.UnixMilli()}
	for _, n := range names {
		sch, err := snap.Schema(n)
		if err != nil {
			return nil, err
		}
		target.Groups = append(target.Groups, sch)
	}
	compiled, err := insights.Compile(q, target, e.dialect)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res := &Result{Visualization: compiled.Visualization, Rows: [][]any{}}
	for _, c := range compiled.Columns {
		res.Columns = append(res.Columns, c.Name)
		res.ColumnTypes = append(res.ColumnTypes, c.Type.String())
	}

	res.Stats.RecordsScanned = compiled.Scanned
	rows, err := snap.Query(ctx, compiled.SQL)
	if err != nil {
		return nil, e.fail(ctx, err)
	}
	width := len(compiled.Columns)
	if compiled.Message != nil {
		width += compiled.Message.Hidden()
	}
	var matched, scanned int64
	if compiled.MatchedColumn >= 0 {
		width = compiled.MatchedColumn + 1
	}
	if compiled.ScannedColumn >= 0 {
		width = compiled.ScannedColumn + 1
	}
	vals := make([]any, width)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var cells []any
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, e.fail(ctx, err)
		}
		if m := compiled.Message; m != nil {
			vals[m.Column] = m.Message(vals[m.Column], vals[len(compiled.Columns):], snap.DecodeValue)
		}
		if compiled.MatchedColumn >= 0 {
			n, _ := insights.ToInt64(vals[compiled.MatchedColumn])
			matched += n
		}
		if compiled.ScannedColumn >= 0 && len(res.Rows) == 0 {
			scanned, _ = insights.ToInt64(vals[compiled.ScannedColumn])
		}
		if len(cells) < len(compiled.Columns) { // rows' cells, allocated 64 rows at a time
			cells = make([]any, 64*len(compiled.Columns))
		}
		row := cells[:len(compiled.Columns):len(compiled.Columns)]
		cells = cells[len(row):]
		for i, v := range vals[:len(row)] {
			row[i] = FormatValue(v, compiled.Columns[i].Type)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Close(); err != nil {
		return nil, e.fail(ctx, err)
	}
	if err := rows.Err(); err != nil {
		return nil, e.fail(ctx, err)
	}
	// The rows matched, as the query counted them or as the store tells
	// of its last query (before any other statement runs).
	complete := len(res.Rows) < compiled.Limit
	switch {
	case compiled.MatchedColumn >= 0 && complete:
		res.Stats.RecordsMatched = matched
	case compiled.MatchedAreScanned:
		// cut by the limit: the rows scanned, counted below
	default:
		res.Stats.RecordsMatched = snap.LastQueryStats().RowsMatched
	}
	// The rows scanned: counted by the query, the rows it matched, or (no
	// rows, or rows cut by the limit) counted now.
	switch {
	case compiled.ScannedColumn >= 0 && len(res.Rows) > 0:
		res.Stats.RecordsScanned += scanned
	case compiled.MatchedAreScanned && complete:
		res.Stats.RecordsScanned = matched
	case compiled.CountSQL != "":
		if err := e.count(ctx, snap, compiled.CountSQL, &res.Stats); err != nil {
			return nil, e.fail(ctx, err)
		}
	}
	if compiled.MatchedAreScanned && !complete {
		res.Stats.RecordsMatched = res.Stats.RecordsScanned
	}
	if st, err := e.opts.Store.Stats(ctx); err == nil && st.Events > 0 {
		res.Stats.BytesScanned = int64(float64(res.Stats.RecordsScanned) * float64(st.DiskBytes) / float64(st.Events))
	}
	res.Stats.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	e.opts.Logger.Debug("Query", "query", req.Query, "groups", len(names), "rows", len(res.Rows), "elapsed_ms", res.Stats.ElapsedMs)
	return res, nil
}

// fail turns a store error into the context's error when the query was
// cancelled or ran out of time, which is the real cause.
func (e *Engine) fail(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("query ran longer than %s: %w", e.opts.Timeout, ctxErr)
		}
		return ctxErr
	}
	return fmt.Errorf("run query: %w", err)
}

func (e *Engine) count(ctx context.Context, snap store.Snapshot, sql string, st *Stats) error {
	rows, err := snap.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if n, ok := FormatValue(v, insights.TNumber).(int64); ok {
			st.RecordsScanned += n
		}
	}
	return rows.Err()
}

// selectGroups picks the groups a query reads: the request's names and
// prefixes, the SOURCE clause's, or all.
func selectGroups(all, requested []string, src *insights.Source) ([]string, error) {
	var exact, prefixes []string
	for _, g := range requested {
		if p, ok := strings.CutSuffix(g, "*"); ok {
			prefixes = append(prefixes, p)
		} else {
			exact = append(exact, g)
		}
	}
	if src != nil {
		exact = append(exact, src.Names...)
		prefixes = append(prefixes, src.Prefixes...)
	}
	if len(exact) == 0 && len(prefixes) == 0 {
		return all, nil
	}
	var out []string
	for _, g := range exact {
		if !slices.Contains(all, g) {
			return nil, fmt.Errorf("log group %q does not exist", g)
		}
		out = append(out, g)
	}
	for _, g := range all {
		for _, p := range prefixes {
			if strings.HasPrefix(g, p) && !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// TimeLayout is how results show timestamps, as Logs Insights does
// (event.LayoutSpaceMilli, which writes them faster).
const TimeLayout = "2006-01-02 15:04:05.000"

// FormatValue turns a scanned SQL value into a JSON-friendly result value
// of type t: numbers as int64 or float64, timestamps as UTC text, JSON and
// text as strings.
func FormatValue(v any, t insights.Type) any {
	if v == nil {
		return nil
	}
	switch t {
	case insights.TTime:
		if ms, ok := insights.ToInt64(v); ok {
			return event.LayoutSpaceMilli.Format(ms)
		}
		if f, ok := toFloat(v); ok {
			return event.LayoutSpaceMilli.Format(int64(f))
		}
	case insights.TNumber:
		if i, ok := insights.ToInt64(v); ok {
			return i
		}
		if f, ok := toFloat(v); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil
			}
			if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return int64(f)
			}
			return f
		}
	case insights.TBool:
		if b, ok := v.(bool); ok {
			return b
		}
		// Databases without a boolean type (ClickHouse before 22.x) answer 0 or 1.
		if i, ok := insights.ToInt64(v); ok {
			return i != 0
		}
	case insights.TJSON:
		switch v.(type) {
		case string, []byte:
		default: // the driver decoded the JSON: write it back as text
			if b, err := json.Marshal(v); err == nil {
				return string(b)
			}
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case bool, int64, float64:
		return x
	case time.Time:
		return x.UTC().Format(TimeLayout)
	}
	if i, ok := insights.ToInt64(v); ok {
		return i
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return fmt.Sprint(v)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	case interface{ Float64() float64 }: // duckdb.Decimal
		return x.Float64(), true
	}
	return 0, false
}
