package clickhouse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonde-dev/sonde/internal/event"
)

// block is the events of one group of one Append as ClickHouse's Native
// format encodes them, column by column: what one Data packet of an insert
// carries, and what a record of the write-ahead log holds (see wal.go).
//
// Encoding straight into bytes keeps a block free of pointers (the garbage
// collector never scans it) and lets the same bytes serve the log and the
// insert.
type block struct {
	table string
	names []string // column names, the system columns first
	types []string // their ClickHouse types
	rows  int
	data  [][]byte // each column's Native encoding (Nullable: null map, then values)
}

// bytes is the size of the block's column data.
func (b *block) bytes() int {
	n := 0
	for _, d := range b.data {
		n += len(d)
	}
	return n
}

// columnsKey identifies the block's column list: blocks with the same key
// go into one insert.
func (b *block) columnsKey() string {
	var k []byte
	k = append(k, b.table...)
	for _, n := range b.names {
		k = append(k, 0)
		k = append(k, n...)
	}
	return string(k)
}

// insertQuery is the INSERT statement of the block's columns.
func (b *block) insertQuery(d *DB) string {
	var q bytes.Buffer
	q.WriteString("INSERT INTO ")
	q.WriteString(d.full(b.table))
	q.WriteString(" (")
	for i, n := range b.names {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(quoteIdent(n))
	}
	q.WriteString(")")
	return q.String()
}

// load puts the block into a batch prepared for its insertQuery, replacing
// what the batch's columns held.
func (b *block) load(batch driver.Batch) error {
	cols := batch.Columns()
	if len(cols) != len(b.data) {
		return fmt.Errorf("insert into %s: the server expects %d columns, the block has %d", b.table, len(cols), len(b.data))
	}
	for i, c := range cols {
		if err := c.Decode(proto.NewReader(bytes.NewReader(b.data[i])), b.rows); err != nil {
			return fmt.Errorf("load column %s (%s) of %s: %w", b.names[i], b.types[i], b.table, err)
		}
	}
	return nil
}

// nativeColumn builds one column of a block.
type nativeColumn struct {
	kind     event.Kind
	nullable bool
	nulls    []byte // one per row, 1 for NULL (Nullable columns)
	vals     []byte
}

// width is the size of a value of a fixed-width kind; 0 for strings.
func width(k event.Kind) int {
	switch k {
	case event.KindInt, event.KindFloat, event.KindID64:
		return 8
	case event.KindBool, event.KindTime:
		return 1
	case event.KindIPv4:
		return 4
	case event.KindID128:
		return 16
	}
	return 0
}

// padTo fills rows up to row (excluded) with NULL.
func (c *nativeColumn) padTo(row int) {
	n := row - len(c.nulls)
	if n <= 0 {
		return
	}
	for i := 0; i < n; i++ {
		c.nulls = append(c.nulls, 1)
	}
	if w := width(c.kind); w > 0 {
		c.vals = append(c.vals, make([]byte, n*w)...)
	} else {
		c.vals = append(c.vals, make([]byte, n)...) // empty strings
	}
}

// set writes the value of row, which follows every row written so far.
func (c *nativeColumn) set(row int, v event.Value) {
	c.padTo(row)
	c.nulls = append(c.nulls, 0)
	switch c.kind {
	case event.KindInt:
		c.vals = binary.LittleEndian.AppendUint64(c.vals, uint64(v.Int()))
	case event.KindFloat:
		c.vals = binary.LittleEndian.AppendUint64(c.vals, math.Float64bits(v.Float()))
	case event.KindBool, event.KindTime:
		c.vals = append(c.vals, uint8(v.X))
	case event.KindIPv4:
		c.vals = binary.LittleEndian.AppendUint32(c.vals, uint32(v.X))
	case event.KindString:
		c.vals = appendString(c.vals, v.Str)
	case event.KindID128:
		c.vals = binary.BigEndian.AppendUint64(c.vals, v.X)
		c.vals = binary.BigEndian.AppendUint64(c.vals, v.Y)
	case event.KindID64:
		c.vals = binary.BigEndian.AppendUint64(c.vals, v.X)
	}
}

// finish pads the column to rows and returns its encoding.
func (c *nativeColumn) finish(rows int) []byte {
	c.padTo(rows)
	if !c.nullable {
		return c.vals
	}
	out := make([]byte, 0, len(c.nulls)+len(c.vals))
	return append(append(out, c.nulls...), c.vals...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encode builds the block of a group's events: the system columns, then a
// column per field kind of the group writer.
func (w *groupWriter) encode(events []event.Event, ingest int64) *block {
	n := len(events)
	b := &block{table: w.g.table, rows: n}
	b.names = append(append(b.names, systemColumns...), w.cols...)
	b.types = append(b.types, "Int64", "Int64", "String", "Nullable(String)", "Nullable(Int32)")
	for _, k := range w.kinds {
		b.types = append(b.types, sqlType(k))
	}
	ts := make([]byte, 0, 8*n)
	ing := make([]byte, 0, 8*n)
	stream := make([]byte, 0, n)
	msg := nativeColumn{kind: event.KindString, nullable: true}
	shape := make([]byte, n, 5*n) // null map, then the ids
	cols := make([]nativeColumn, len(w.cols))
	for i := range cols {
		cols[i] = nativeColumn{kind: w.kinds[i], nullable: true, nulls: make([]byte, 0, n)}
		if wd := width(w.kinds[i]); wd > 0 {
			cols[i].vals = make([]byte, 0, wd*n)
		}
	}
	var ids []byte
	for i := range events {
		ev := &events[i]
		ts = binary.LittleEndian.AppendUint64(ts, uint64(ev.Time))
		ing = binary.LittleEndian.AppendUint64(ing, uint64(ingest))
		stream = appendString(stream, ev.Stream)
		var slots *shapeSlots
		if ev.Shape != nil {
			slots = w.shapes[ev.Shape]
		}
		if slots != nil && slots.id != 0 && !needsEscape(ev) {
			ids = binary.LittleEndian.AppendUint32(ids, uint32(slots.id))
			for j := range ev.Fields {
				cols[slots.pos[j]].set(i, ev.Fields[j].Value)
			}
			continue
		}
		shape[i] = 1
		ids = append(ids, 0, 0, 0, 0)
		if ev.Shape != nil {
			// A JSON event that SQL will not rebuild keeps the text that
			// Rebuild writes, as if it were rebuilt.
			msg.set(i, event.Value{Str: ev.Rebuild()})
		} else {
			msg.set(i, event.Value{Str: ev.Message})
		}
		for j := range ev.Fields {
			f := &ev.Fields[j]
			cols[w.pos[fieldKind{f.Name, f.Kind}]].set(i, f.Value)
		}
	}
	b.data = append(b.data, ts, ing, stream, msg.finish(n), append(shape, ids...))
	for i := range cols {
		b.data = append(b.data, cols[i].finish(n))
	}
	return b
}
