package clickhouse

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// snapshot is a read view. ClickHouse has no read transactions: each query
// sees the parts that exist when it starts. What the snapshot fixes is the
// catalog, so its schemas never name a column that the tables lack (columns
// are added before they are published, and never dropped), and the time
// bounds of each group.
type snapshot struct {
	d       *DB
	cat     *catalog
	parts   map[string]partInfo
	schemas map[string]*store.Schema

	// The last query: the relation its matched rows come from (marked by
	// the ClickHouse query dialect), and what the server said about it.
	ctx        context.Context
	matched    matched
	profile    ch.ProfileInfo
	gotProfile bool
}

var _ store.Snapshot = (*snapshot)(nil)

// Snapshot implements store.Store.
func (d *DB) Snapshot(ctx context.Context) (store.Snapshot, error) {
	if d.closed.Load() {
		return nil, store.ErrUnavailable
	}
	if err := d.syncBuffer(ctx); err != nil {
		return nil, err
	}
	if err := d.refresh(ctx); err != nil {
		return nil, err
	}
	cat := d.cat.Load()
	parts, err := d.recentParts(ctx)
	if err != nil {
		return nil, err
	}
	return &snapshot{d: d, cat: cat, parts: parts, schemas: map[string]*store.Schema{}}, nil
}

func (s *snapshot) Groups() []string {
	names := make([]string, 0, len(s.cat.groups))
	for n := range s.cat.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Schema implements store.Snapshot. MinTime and MaxTime are the bounds of
// the days whose partitions hold the group's events, as system.parts told
// at most a second ago, so reading them costs no scan. An event appended
// since, of a later day, is outside them: a query whose range covers them
// gets no time filter and counts that event even if it lies after the
// range's end, which takes a range ending past the last known day and an
// event later still.
func (s *snapshot) Schema(group string) (*store.Schema, error) {
	if sch := s.schemas[group]; sch != nil {
		return sch, nil
	}
	g := s.cat.groups[group]
	if g == nil {
		return nil, fmt.Errorf("log group %q: %w", group, store.ErrNotFound)
	}
	sch := *g.schema
	if p := s.parts[g.local]; p.hasDays {
		sch.MinTime, sch.MaxTime = p.minDay*dayMillis, (p.maxDay+1)*dayMillis-1
	}
	s.schemas[group] = &sch
	return &sch, nil
}

// Query implements store.Snapshot. Errors carry ClickHouse's message.
func (s *snapshot) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.ctx, s.gotProfile = ctx, false
	s.matched = parseMatched(query)
	qctx := s.d.queryContext(ctx, ch.WithProfileInfo(func(p *ch.ProfileInfo) {
		s.profile, s.gotProfile = *p, true
	}))
	rows, err := s.d.db.QueryContext(qctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	return rows, nil
}

// matchedMarker is how the ClickHouse query dialect marks the relation
// whose rows a query matched (insights.MatchedMarker; a test checks they
// agree): "/*sonde:matched:N:F:S*/" then N bytes of SQL; F is 1 when the
// relation feeds the final ORDER BY ... LIMIT; S, in base64url, counts the
// same rows more cheaply when they are all the rows scanned.
const matchedMarker = "/*sonde:matched:"

// matched is the marked relation of a query.
type matched struct {
	rel     string
	final   bool
	scanned string
}

// parseMatched finds the marked relation of a query.
func parseMatched(query string) matched {
	i := strings.Index(query, matchedMarker)
	if i < 0 {
		return matched{}
	}
	rest := query[i+len(matchedMarker):]
	end := strings.Index(rest, "*/")
	if end < 0 {
		return matched{}
	}
	fields := strings.Split(rest[:end], ":")
	rest = rest[end+2:]
	if len(fields) != 3 {
		return matched{}
	}
	size, err := strconv.Atoi(fields[0])
	scanned, err2 := base64.RawURLEncoding.DecodeString(fields[2])
	if err != nil || err2 != nil || size < 0 || size > len(rest) {
		return matched{}
	}
	return matched{rel: rest[:size], final: fields[1] == "1", scanned: string(scanned)}
}

// LastQueryStats implements store.Snapshot. When the matched rows feed the
// final ORDER BY ... LIMIT, ClickHouse counted them (rows_before_limit,
// exact on servers before 22.x, which stop early when reading in order);
// otherwise the snapshot counts them with a second query: a count of the
// rows scanned when they are the matched ones (cheap: no column to read),
// else a count of the marked relation.
func (s *snapshot) LastQueryStats() store.QueryStats {
	m := s.matched
	if m.rel == "" {
		return store.QueryStats{}
	}
	if m.final && s.gotProfile && s.profile.CalculatedRowsBeforeLimit && s.d.version.Version.Major < 22 {
		return store.QueryStats{RowsMatched: int64(s.profile.RowsBeforeLimit)}
	}
	q := "SELECT count() FROM " + m.rel
	if m.scanned != "" {
		q = m.scanned
	}
	var n uint64
	if err := s.d.db.QueryRowContext(s.d.queryContext(s.ctx), q).Scan(&n); err != nil {
		s.d.log.Warn("Counting matched rows failed", "err", err)
		return store.QueryStats{}
	}
	return store.QueryStats{RowsMatched: int64(n)}
}

// DecodeValue implements store.Snapshot.
func (s *snapshot) DecodeValue(kind event.Kind, v any) event.Value { return decodeValue(kind, v) }

// Close implements store.Snapshot.
func (s *snapshot) Close() error { return nil }

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
	cols := snap.(*snapshot).cat.groups[req.Group].order
	var q strings.Builder
	q.WriteString("SELECT ts, ingest, stream, msg, shape")
	for _, c := range cols {
		q.WriteString(", " + quoteIdent(c.Name))
	}
	fmt.Fprintf(&q, " FROM %s WHERE ts >= %d", sch.Table, req.From)
	if req.To != 0 {
		fmt.Fprintf(&q, " AND ts < %d", req.To)
	}
	q.WriteString(" ORDER BY ts")
	if req.Limit > 0 {
		q.WriteString(" LIMIT " + strconv.Itoa(req.Limit))
	}
	rows, err := d.db.QueryContext(ctx, q.String())
	if err != nil {
		return fmt.Errorf("scan group %q: %w", req.Group, classify(err))
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan group %q: %w", req.Group, classify(err))
	}
	return nil
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
		b, _ := v.(uint8)
		return event.Bool(b != 0)
	case event.KindID128, event.KindID64:
		b, _ := v.(string)
		if len(b) != 16 && len(b) != 8 {
			return event.Value{}
		}
		val := event.Value{Kind: kind, X: getUint64(b[:8])}
		if kind == event.KindID128 {
			val.Y = getUint64(b[8:])
		}
		return val
	case event.KindIPv4:
		x, _ := v.(uint32)
		return event.Value{Kind: kind, X: uint64(x)}
	case event.KindTime:
		x, _ := v.(uint8)
		return event.Value{Kind: kind, X: uint64(x)}
	}
	return event.Value{}
}

func getUint64(b string) uint64 {
	var x uint64
	for i := 0; i < len(b); i++ {
		x = x<<8 | uint64(b[i])
	}
	return x
}
