package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// snapshot is a read transaction opened together with the catalog it sees.
type snapshot struct {
	conn   *sql.Conn
	cat    *catalog
	counts map[int]int64 // events per group id as of the snapshot
	stats  store.QueryStats
}

var _ store.Snapshot = (*snapshot)(nil)

// Snapshot implements store.Store. DuckDB fixes a transaction's view of the
// data when it first touches a table, so the snapshot touches one while
// holding pubMu, which commit holds while it commits and publishes.
func (d *DB) Snapshot(ctx context.Context) (store.Snapshot, error) {
	if d.closed.Load() {
		return nil, store.ErrUnavailable
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	d.pubMu.RLock()
	_, err = conn.ExecContext(ctx, `BEGIN TRANSACTION; SELECT 1 FROM _groups LIMIT 1`)
	cat := d.cat.Load()
	counts := maps.Clone(d.counts)
	d.pubMu.RUnlock()
	if err != nil {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &snapshot{conn: conn, cat: cat, counts: counts}, nil
}

func (s *snapshot) Groups() []string {
	names := make([]string, 0, len(s.cat.groups))
	for n := range s.cat.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Schema implements store.Snapshot, with the group's event count as the
// snapshot sees it.
func (s *snapshot) Schema(group string) (*store.Schema, error) {
	g := s.cat.groups[group]
	if g == nil {
		return nil, fmt.Errorf("log group %q: %w", group, store.ErrNotFound)
	}
	sch := *g.schema
	sch.Events, sch.EventsKnown = s.counts[g.id], true
	return &sch, nil
}

// Query implements store.Snapshot. Reader connections run with DuckDB's
// profiler on (see profileSettings), which is where LastQueryStats comes
// from.
func (s *snapshot) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.stats = store.QueryStats{}
	return s.conn.QueryContext(ctx, query, args...)
}

// LastQueryStats implements store.Snapshot: the rows that reached the
// lowest aggregation, sort, window or limit of the last query's plan.
func (s *snapshot) LastQueryStats() store.QueryStats {
	info, err := duckdb.GetProfilingInfo(s.conn)
	if err != nil {
		return s.stats
	}
	if n, ok := matchedRows(info); ok {
		s.stats.RowsMatched = n
	}
	return s.stats
}

// blocking operators consume all their input: their input is what matched.
var blocking = map[string]bool{
	"HASH_GROUP_BY": true, "PERFECT_HASH_GROUP_BY": true, "UNGROUPED_AGGREGATE": true,
	"SIMPLE_AGGREGATE": true, "ORDER_BY": true, "TOP_N": true, "WINDOW": true,
	"STREAMING_WINDOW": true, "LIMIT": true, "STREAMING_LIMIT": true,
}

func matchedRows(p duckdb.ProfilingInfo) (int64, bool) {
	// Deepest blocking operator wins.
	for _, c := range p.Children {
		if n, ok := matchedRows(c); ok {
			return n, true
		}
	}
	if blocking[p.Metrics["OPERATOR_TYPE"]] {
		var n int64
		for _, c := range p.Children {
			v, _ := strconv.ParseInt(c.Metrics["OPERATOR_CARDINALITY"], 10, 64)
			n += v
		}
		return n, true
	}
	return 0, false
}

// DecodeValue implements store.Snapshot.
func (s *snapshot) DecodeValue(kind event.Kind, v any) event.Value { return decodeValue(kind, v) }

// Close implements store.Snapshot.
func (s *snapshot) Close() error {
	_, err := s.conn.ExecContext(context.Background(), "ROLLBACK")
	return errors.Join(err, s.conn.Close())
}

// Scan implements store.Store.
func (d *DB) Scan(ctx context.Context, req store.ScanRequest, fn func(*event.Event) error) error {
	snap, err := d.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	sch, err := snap.Schema(req.Group)
	if err != nil {
		return err
	}
	cols := orderedColumns(sch)
	var q strings.Builder
	q.WriteString("SELECT ts, ingest, stream, msg, shape")
	for _, c := range cols {
		q.WriteString(", ")
		q.WriteString(c.Name)
	}
	fmt.Fprintf(&q, " FROM %s WHERE ts >= $1", sch.Table)
	args := []any{req.From}
	if req.To != 0 {
		q.WriteString(" AND ts < $2")
		args = append(args, req.To)
	}
	q.WriteString(" ORDER BY ts")
	if req.Limit > 0 {
		q.WriteString(" LIMIT " + strconv.Itoa(req.Limit))
	}
	rows, err := snap.Query(ctx, q.String(), args...)
	if err != nil {
		return fmt.Errorf("scan group %q: %w", req.Group, err)
	}
	defer rows.Close()

	byCol := make(map[store.Column]int, len(cols))
	for i, c := range cols {
		byCol[c] = i
	}
	vals := make([]any, 5+len(cols))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	row := store.Row{Values: func(i int) (event.Value, bool) {
		if vals[5+i] == nil {
			return event.Value{}, false
		}
		return decodeValue(cols[i].Kind, vals[5+i]), true
	}}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("scan group %q: %w", req.Group, err)
		}
		row.Time, _ = vals[0].(int64)
		row.Stream, _ = vals[2].(string)
		row.Message, row.HasMsg = vals[3].(string)
		row.ShapeID, row.HasShape = vals[4].(int32)
		ev := store.AssembleEvent(req.Group, sch, cols, byCol, row)
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return rows.Err()
}

// orderedColumns lists a schema's columns in the order they were added.
func orderedColumns(sch *store.Schema) []store.Column {
	var cols []store.Column
	for _, cs := range sch.Fields {
		cols = append(cols, cs...)
	}
	slices.SortFunc(cols, func(a, b store.Column) int { return columnPos(a.Name) - columnPos(b.Name) })
	return cols
}

func columnPos(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "c"))
	return n
}

// decodeValue turns a scanned column value back into a field value.
func decodeValue(kind event.Kind, v any) event.Value {
	switch kind {
	case event.KindString:
		s, _ := v.(string)
		return event.String(s)
	case event.KindInt:
		i, _ := v.(int64)
		return event.Int(i)
	case event.KindFloat:
		f, _ := v.(float64)
		return event.Float(f)
	case event.KindBool:
		b, _ := v.(bool)
		return event.Bool(b)
	case event.KindID128:
		var b []byte
		switch u := v.(type) {
		case []byte:
			b = u
		case duckdb.UUID:
			b = u[:]
		case *duckdb.UUID:
			b = u[:]
		}
		if len(b) != 16 {
			return event.Value{}
		}
		return event.Value{Kind: kind, X: getUint64(b[:8]), Y: getUint64(b[8:])}
	case event.KindID64:
		x, _ := v.(uint64)
		return event.Value{Kind: kind, X: x}
	case event.KindIPv4:
		x, _ := v.(uint32)
		return event.Value{Kind: kind, X: uint64(x)}
	case event.KindTime:
		x, _ := v.(uint8)
		return event.Value{Kind: kind, X: uint64(x)}
	}
	return event.Value{}
}

func getUint64(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}
