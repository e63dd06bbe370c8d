package clickhouse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
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
// what the batch's columns held. cols reads the columns.
func (b *block) load(batch driver.Batch, cols *columnReader) error {
	dst := batch.Columns()
	if len(dst) != len(b.data) {
		return fmt.Errorf("insert into %s: the server expects %d columns, the block has %d", b.table, len(dst), len(b.data))
	}
	r := cols.start(b.data)
	for i, c := range dst {
		if err := c.Decode(r, b.rows); err != nil {
			cols.r = nil // it may hold the rest of a column: start afresh
			return fmt.Errorf("load column %s (%s) of %s: %w", b.names[i], b.types[i], b.table, err)
		}
	}
	return nil
}

// columnReader feeds the driver's column decoders the columns of blocks,
// one after the other, through one proto.Reader: a reader per column cost
// a 128 KiB buffer each, a tenth of the flusher's time. Each decoder reads
// exactly its column's bytes, so the columns can follow each other in one
// stream.
type columnReader struct {
	r    *proto.Reader
	cols [][]byte
}

// start queues the columns of a block (leaving the block as it is) and
// returns the reader to decode them with, in order.
func (c *columnReader) start(cols [][]byte) *proto.Reader {
	c.cols = append(c.cols[:0], cols...)
	if c.r == nil {
		c.r = proto.NewReader(c)
	}
	return c.r
}

// Read implements io.Reader over the queued columns.
func (c *columnReader) Read(p []byte) (int, error) {
	for len(c.cols) > 0 && len(c.cols[0]) == 0 {
		c.cols = c.cols[1:]
	}
	if len(c.cols) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.cols[0])
	c.cols[0] = c.cols[0][n:]
	return n, nil
}

// nativeColumn builds one Nullable column of a block in a single buffer:
// the null map of every row of the block (NULL until a row is set), then
// the values written so far.
type nativeColumn struct {
	kind event.Kind
	rows int    // rows that have a value or padding
	buf  []byte // null map, then values
}

// newNativeColumn starts a column of n rows in buf (length 0).
func newNativeColumn(kind event.Kind, n int, buf []byte) nativeColumn {
	buf = append(buf, make([]byte, n)...)
	for i := range buf {
		buf[i] = 1
	}
	return nativeColumn{kind: kind, buf: buf}
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

// padTo writes an empty value (a NULL's placeholder) for the rows before
// row that have none.
func (c *nativeColumn) padTo(row int) {
	n := row - c.rows
	if n <= 0 {
		return
	}
	w := max(width(c.kind), 1) // an empty string is one zero byte
	c.buf = append(c.buf, make([]byte, n*w)...)
	c.rows = row
}

// set writes the value of row, which follows every row written so far.
func (c *nativeColumn) set(row int, v event.Value) {
	c.padTo(row)
	c.buf[row] = 0
	c.rows++
	switch c.kind {
	case event.KindInt, event.KindFloat:
		c.buf = binary.LittleEndian.AppendUint64(c.buf, v.X)
	case event.KindBool, event.KindTime:
		c.buf = append(c.buf, uint8(v.X))
	case event.KindIPv4:
		c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(v.X))
	case event.KindString:
		c.buf = appendString(c.buf, v.Str)
	case event.KindID128:
		c.buf = binary.BigEndian.AppendUint64(c.buf, v.X)
		c.buf = binary.BigEndian.AppendUint64(c.buf, v.Y)
	case event.KindID64:
		c.buf = binary.BigEndian.AppendUint64(c.buf, v.X)
	}
}

// finish pads the column to its n rows and returns its encoding.
func (c *nativeColumn) finish(n int) []byte {
	c.padTo(n)
	return c.buf
}

// columnBuffers recycles the byte slices of encoded blocks from one Append
// to the next (d.wmu serializes them): once a block is in the log, or
// inserted, its bytes are free. Allocating them anew for every batch made
// garbage collection a fifth of the ingest profile. Buffers are handed out
// in the order they came back, so that a group's columns get the buffers
// that fit them last time.
type columnBuffers struct {
	free [][]byte
}

// maxKeptBuffer is the largest buffer kept for reuse.
const maxKeptBuffer = 64 << 20

// get returns an empty buffer with room for at least n bytes.
func (p *columnBuffers) get(n int) []byte {
	if len(p.free) > 0 {
		b := p.free[0]
		p.free = p.free[1:]
		if cap(b) >= n {
			return b[:0]
		}
	}
	return make([]byte, 0, n)
}

// release takes back one buffer that is no longer used.
func (p *columnBuffers) release(b []byte) {
	if cap(b) <= maxKeptBuffer {
		p.free = append(p.free, b)
	}
}

// put takes back the buffers of blocks that are no longer used.
func (p *columnBuffers) put(blocks ...*block) {
	for _, b := range blocks {
		for _, d := range b.data {
			p.release(d)
		}
		b.data = nil
	}
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encode builds the block of a group's events: the system columns, then a
// column per field kind of the group writer. The stream and message
// columns are left out when no event has one: ClickHouse fills in their
// defaults (” and NULL), and nobody decodes, sends or parses a value per
// row for nothing. Its buffers come from bufs.
func (w *groupWriter) encode(events []event.Event, ingest int64, bufs *columnBuffers) *block {
	n := len(events)
	b := &block{table: w.g.table, rows: n}
	hasStream, hasMsg := false, false
	ts := bufs.get(8 * n)
	ing := bufs.get(8 * n)
	stream := bufs.get(n)
	msg := newNativeColumn(event.KindString, n, bufs.get(n))
	shape := append(bufs.get(5*n), make([]byte, n)...) // null map, then the ids
	cols := make([]nativeColumn, len(w.cols))
	for i := range cols {
		cols[i] = newNativeColumn(w.kinds[i], n, bufs.get(n*(1+max(width(w.kinds[i]), 1))))
	}
	for i := range events {
		ev := &events[i]
		ts = binary.LittleEndian.AppendUint64(ts, uint64(ev.Time))
		ing = binary.LittleEndian.AppendUint64(ing, uint64(ingest))
		stream = appendString(stream, ev.Stream)
		hasStream = hasStream || ev.Stream != ""
		var slots *shapeSlots
		if ev.Shape != nil {
			slots = w.shapes[ev.Shape]
		}
		if slots != nil && slots.id != 0 && (ev.PlainStrings || !needsEscape(ev)) {
			shape = binary.LittleEndian.AppendUint32(shape, uint32(slots.id))
			for j := range ev.Fields {
				cols[slots.pos[j]].set(i, ev.Fields[j].Value)
			}
			continue
		}
		shape[i] = 1
		shape = append(shape, 0, 0, 0, 0)
		hasMsg = true
		if ev.Shape != nil {
			// A JSON event that SQL will not rebuild keeps the text that
			// Rebuild writes, as if it were rebuilt.
			msg.set(i, event.Value{Kind: event.KindString, Str: ev.Rebuild()})
		} else {
			msg.set(i, event.Value{Kind: event.KindString, Str: ev.Message})
		}
		for j := range ev.Fields {
			f := &ev.Fields[j]
			cols[w.pos[fieldKind{f.Name, f.Kind}]].set(i, f.Value)
		}
	}
	b.add(store.ColTime, "Int64", ts)
	b.add(store.ColIngest, "Int64", ing)
	if hasStream {
		b.add(store.ColStream, "String", stream)
	} else {
		bufs.release(stream)
	}
	if hasMsg {
		b.add(store.ColMessage, "Nullable(String)", msg.finish(n))
	} else {
		bufs.release(msg.buf)
	}
	b.add(store.ColShape, "Nullable(Int32)", shape)
	for i := range cols {
		b.add(w.cols[i], sqlType(w.kinds[i]), cols[i].finish(n))
	}
	return b
}

// add appends a column to the block.
func (b *block) add(name, typ string, data []byte) {
	b.names = append(b.names, name)
	b.types = append(b.types, typ)
	b.data = append(b.data, data)
}
