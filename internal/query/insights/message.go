package insights

import (
	"math"
	"math/big"
	"slices"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// MessageRebuild tells the engine how to write the @message column of a
// result from raw columns, instead of SQL rebuilding it.
//
// The @message of a JSON event is not stored: SQL rebuilds it from the
// event's shape and columns (messageExpr), one CONCAT per shape of the
// group. Planning that expression costs about a millisecond for one shape
// and hundreds for hundreds, on every query that shows @message, though it
// then runs on the few rows shown. When a query only shows @message (no
// filter, parse, sort or stats reads it), the SQL returns the stored raw
// text in Column and, after the visible columns, the event's shape id,
// its time and the raw columns of Columns, and the engine rebuilds the
// text of the rows it returns with the event package, as Scan does.
type MessageRebuild struct {
	// Column is the index of @message among the visible columns; its
	// value is the raw text, NULL when the event has a shape.
	Column int
	// Schema is the group's schema: its shapes.
	Schema *store.Schema
	// Columns are the raw columns after the shape id and the time, in
	// order.
	Columns []store.Column
	index   map[store.Column]int
}

// Hidden is the number of columns the SQL returns after the visible ones.
func (m *MessageRebuild) Hidden() int { return 2 + len(m.Columns) }

// Message returns the @message of a row: raw is the value of Column,
// hidden the values after the visible columns, decode the store's
// (store.Snapshot.DecodeValue). It returns raw when the event kept its
// text or has no known shape, as the SQL rebuild does.
func (m *MessageRebuild) Message(raw any, hidden []any, decode func(event.Kind, any) event.Value) any {
	if raw != nil || hidden[0] == nil {
		return raw
	}
	id, ok := toInt32(hidden[0])
	if !ok {
		return raw
	}
	shape := m.Schema.Shapes[id]
	if shape == nil {
		return raw
	}
	ev := event.Event{Shape: shape}
	ev.Time, _ = ToInt64(hidden[1])
	for _, p := range shape.Pieces {
		if !p.Slot() {
			continue
		}
		var v event.Value
		if col, ok := findColumn(m.Schema, p.Field, p.Kind); ok {
			if x := hidden[2+m.index[col]]; x != nil {
				v = decode(p.Kind, x)
			}
		}
		ev.Fields = append(ev.Fields, event.Field{Name: p.Field, Value: v})
	}
	return ev.Rebuild()
}

// newMessageRebuild plans the rebuild of @message of group g: the columns
// its shapes' slots read, in table order.
func newMessageRebuild(g *store.Schema) *MessageRebuild {
	m := &MessageRebuild{Schema: g, index: map[store.Column]int{}}
	for _, sh := range g.Shapes {
		for _, p := range sh.Pieces {
			if !p.Slot() {
				continue
			}
			if col, ok := findColumn(g, p.Field, p.Kind); ok {
				if _, seen := m.index[col]; !seen {
					m.index[col] = 0
					m.Columns = append(m.Columns, col)
				}
			}
		}
	}
	slices.SortFunc(m.Columns, func(a, b store.Column) int {
		if len(a.Name) != len(b.Name) {
			return len(a.Name) - len(b.Name)
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	for i, col := range m.Columns {
		m.index[col] = i
	}
	return m
}

// messageShownOnly reports whether a query reads @message only to show it:
// plain `fields @message` or `display @message`, or the default columns.
// Any expression, filter, parse, sort, dedup or stats on it needs the SQL
// rebuild.
func messageShownOnly(q *Query) bool {
	only := true
	visit := func(e Expr) {
		walk(e, func(x Expr) {
			if f, ok := x.(*FieldRef); ok && f.Name == "@message" {
				only = false
			}
		})
	}
	for _, cmd := range q.Commands {
		switch cmd := cmd.(type) {
		case *Fields:
			for _, it := range cmd.Items {
				if f, ok := it.Expr.(*FieldRef); ok && f.Name == "@message" && (it.Alias == "" || it.Alias == f.Name) {
					continue
				}
				visit(it.Expr)
			}
		case *Filter:
			visit(cmd.Cond)
		case *Stats:
			for _, it := range append(slices.Clone(cmd.Agg), cmd.By...) {
				visit(it.Expr)
			}
		case *Sort:
			for _, k := range cmd.Keys {
				visit(k.Expr)
			}
		case *ParseCommand:
			visit(cmd.Field)
		case *Dedup:
			for _, f := range cmd.Fields {
				visit(f)
			}
		case *Unnest:
			visit(cmd.Field)
		}
	}
	return only
}

func toInt32(v any) (int32, bool) {
	n, ok := ToInt64(v)
	return int32(n), ok && n == int64(int32(n))
}

// ToInt64 converts an integer that a store's driver returned, of any Go
// integer type (or *big.Int, for wide sums), when it fits an int64.
func ToInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}
