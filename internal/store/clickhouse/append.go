package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// batchKeyDays is how long batch keys are remembered for duplicate checks.
const batchKeyDays = 7

// systemColumns are the columns of every group's table that hold no
// field. They come first in an insert, in this order; the stream and the
// message may be left out (see encode).
var systemColumns = []string{store.ColTime, store.ColIngest, store.ColStream, store.ColMessage, store.ColShape}

// Append implements store.Store. It first makes sure that every group,
// column and shape of the batch exists (DDL and metadata, which other
// servers may be adding too), then inserts each group's events as one
// block, which ClickHouse writes atomically, and records the batch key.
//
// With a buffer (Options.BufferDir) the blocks go to the local log instead
// and Append returns once they are synced there; see buffer.go.
//
// A batch of several groups is several inserts: if one fails, the groups
// before it stay written. A batch that fails with store.ErrUnavailable may
// also have been written in full, when ClickHouse finished an insert whose
// answer was lost; a retry then writes those events again. Nothing
// acknowledged is ever lost: Append returns nil only after ClickHouse
// confirmed every insert (in a cluster through insert_distributed_sync,
// which waits for the shard; all the events of a batch go to one shard).
func (d *DB) Append(ctx context.Context, b *store.Batch) error {
	if len(b.Events) == 0 && b.Key == "" {
		return nil
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.WriteTimeout)
	defer cancel()
	err := d.append(ctx, b)
	if err != nil && ctx.Err() != nil && !errors.Is(err, store.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func (d *DB) append(ctx context.Context, b *store.Batch) error {
	if d.buf != nil {
		if err := d.buf.usable(); err != nil {
			return err
		}
	}
	if b.Key != "" {
		var n uint64
		q := "SELECT count() FROM " + d.full("_batches") + " WHERE key = ? AND added >= ?"
		since := time.Now().Add(-batchKeyDays * 24 * time.Hour).UnixMilli()
		if err := d.conn.QueryRow(ctx, q, b.Key, since).Scan(&n); err != nil {
			return classify(fmt.Errorf("check batch key: %w", err))
		}
		if n > 0 {
			return store.ErrDuplicateBatch
		}
	}
	ingest := b.IngestTime
	if ingest == 0 {
		ingest = time.Now().UnixMilli()
	}
	parts := store.SplitByGroup(b.Events)
	writers := make([]*groupWriter, len(parts))
	next := d.cat.Load().edit()
	cloned := map[*group]bool{}
	var err error
	for i, part := range parts {
		writers[i] = &groupWriter{d: d, cat: next, cloned: cloned}
		if err = writers[i].prepare(ctx, part); err != nil {
			break
		}
	}
	// Publish what was recorded, even after a failure: it exists.
	if len(cloned) > 0 {
		d.cat.Store(next)
	}
	if err != nil {
		return err
	}
	if d.buf != nil {
		blocks := make([]*block, len(parts))
		for i, part := range parts {
			blocks[i] = writers[i].encode(part, ingest, &d.bufs)
		}
		err := d.buf.write(blocks)
		d.bufs.put(blocks...)
		if err != nil {
			return err
		}
	} else {
		for i, part := range parts {
			if err := writers[i].insert(ctx, part, ingest); err != nil {
				return err
			}
		}
	}
	if b.Key != "" {
		q := "INSERT INTO " + d.full("_batches") + " (key, added)"
		if err := d.insertRows(ctx, q, []any{b.Key, time.Now().UnixMilli()}); err != nil {
			return fmt.Errorf("record batch key: %w", err)
		}
	}
	return nil
}

// insertRows inserts a few rows of metadata.
func (d *DB) insertRows(ctx context.Context, q string, rows ...[]any) error {
	batch, err := d.conn.PrepareBatch(ctx, q)
	if err != nil {
		return classify(err)
	}
	defer batch.Abort()
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			return err
		}
	}
	return classify(batch.Send())
}

// groupWriter writes one group's part of a batch.
type groupWriter struct {
	d      *DB
	cat    *catalog
	cloned map[*group]bool
	g      *group

	cols   []string          // insert columns after the system columns
	kinds  []event.Kind      // their kinds
	pos    map[fieldKind]int // field kind -> index in cols
	shapes map[*event.Shape]*shapeSlots
}

// shapeSlots caches, per shape, its id and where each slot's value goes.
type shapeSlots struct {
	id  int32 // 0 when the event keeps its raw text
	pos []int
}

// prepare creates the group, its columns and shapes as needed.
func (w *groupWriter) prepare(ctx context.Context, events []event.Event) error {
	name := events[0].Group
	if err := w.ensureGroup(ctx, name, events); err != nil {
		return err
	}
	w.pos = map[fieldKind]int{}
	w.shapes = map[*event.Shape]*shapeSlots{}
	var missing []fieldKind
	need := func(f string, k event.Kind) int {
		fk := fieldKind{f, k}
		if p, ok := w.pos[fk]; ok {
			return p
		}
		if _, ok := w.g.cols[fk]; !ok {
			missing = append(missing, fk)
		}
		w.pos[fk] = len(w.cols)
		w.cols = append(w.cols, columnName(f, k))
		w.kinds = append(w.kinds, k)
		return len(w.cols) - 1
	}
	var newShapes []*event.Shape
	for i := range events {
		ev := &events[i]
		if ev.Shape != nil {
			if _, ok := w.shapes[ev.Shape]; ok {
				continue
			}
			s := &shapeSlots{}
			for _, p := range ev.Shape.Pieces {
				if p.Slot() {
					s.pos = append(s.pos, need(p.Field, p.Kind))
				}
			}
			if len(s.pos) != len(ev.Fields) {
				return fmt.Errorf("BUG: event has %d fields for a shape of %d slots", len(ev.Fields), len(s.pos))
			}
			w.shapes[ev.Shape] = s
			if id, ok := w.g.shapeIDs[ev.Shape.Key]; ok {
				s.id = id
			} else {
				newShapes = append(newShapes, ev.Shape)
			}
			continue
		}
		for j := range ev.Fields {
			if !ev.Fields[j].Kind.Valid() {
				return fmt.Errorf("BUG: field %q has invalid kind %d", ev.Fields[j].Name, ev.Fields[j].Kind)
			}
			need(ev.Fields[j].Name, ev.Fields[j].Kind)
		}
	}
	if err := w.addColumns(ctx, missing); err != nil {
		return err
	}
	return w.registerShapes(ctx, newShapes)
}

// ensureGroup creates the group of events unless it exists. Its table
// starts with the system columns and the sort columns that the events
// give (see Options.SortFields); the other fields become columns as
// they come. Another server may create the table at the same time, with
// other sort columns: the first one wins, and columns missing from it are
// added like any new field.
func (w *groupWriter) ensureGroup(ctx context.Context, name string, events []event.Event) error {
	if w.g = w.cat.groups[name]; w.g != nil {
		return nil
	}
	d := w.d
	g := d.newGroup(name, time.Now().UnixMilli(), 0)
	sortCols := d.sortColumns(events)
	columns := groupColumns
	for _, c := range sortCols {
		columns += ", " + quoteIdent(c) + " " + sqlType(event.KindString)
	}
	if err := d.createTable(ctx, g.table, columns, groupEngine(sortCols), groupShardKey); err != nil {
		return fmt.Errorf("create group %q: %w", name, err)
	}
	q := "INSERT INTO " + d.full("_groups") + " (name, tbl, created, retention_days, updated)"
	if err := d.insertRows(ctx, q, []any{name, g.table, g.created, int32(0), int64(0)}); err != nil {
		return fmt.Errorf("record group %q: %w", name, err)
	}
	w.cat.groups[name] = g
	w.cat.counts[0]++
	w.cloned[g] = true
	w.g = g
	return nil
}

// sortColumns picks the sort columns of a new group's table: for each role
// of Options.SortFields, the first candidate that is a string field of the
// first events.
func (d *DB) sortColumns(events []event.Event) []string {
	if len(d.opts.SortFields) == 0 {
		return nil
	}
	have := map[string]bool{}
	for i := range events[:min(len(events), 100)] {
		for _, f := range events[i].Fields {
			if f.Kind == event.KindString {
				have[f.Name] = true
			}
		}
	}
	var cols []string
	for _, role := range d.opts.SortFields {
		for _, name := range role {
			if have[name] {
				if c := columnName(name, event.KindString); !slices.Contains(cols, c) {
					cols = append(cols, c)
				}
				break
			}
		}
	}
	return cols
}

// addColumns adds the columns of new field kinds to the group's tables,
// then records them; only recorded columns enter the catalog.
func (w *groupWriter) addColumns(ctx context.Context, missing []fieldKind) error {
	if len(missing) == 0 {
		return nil
	}
	d := w.d
	defs := make([]colDef, len(missing))
	rows := make([][]any, len(missing))
	now := time.Now().UnixMilli()
	for i, fk := range missing {
		defs[i] = colDef{columnName(fk.field, fk.kind), sqlType(fk.kind)}
		rows[i] = []any{w.g.name, fk.field, uint8(fk.kind), defs[i].name, now}
	}
	if err := d.addColumns(ctx, w.g.table, defs); err != nil {
		return fmt.Errorf("add fields to group %q: %w", w.g.name, err)
	}
	q := "INSERT INTO " + d.full("_columns") + " (grp, field, kind, col, added)"
	if err := d.insertRows(ctx, q, rows...); err != nil {
		return fmt.Errorf("record fields of group %q: %w", w.g.name, err)
	}
	w.g = w.cat.mutable(w.g, w.cloned)
	for i, fk := range missing {
		w.g.addColumn(fk.field, fk.kind, defs[i].name)
	}
	w.cat.counts[1] += uint64(len(missing))
	return nil
}

// registerShapes gives new shapes their ids. An id is a hash of the shape's
// key; when two keys meet at one id, the least template wins and the other
// shape's events keep their raw text. Servers that record shapes at once
// agree on the winner, because each reads back what was recorded.
func (w *groupWriter) registerShapes(ctx context.Context, shapes []*event.Shape) error {
	d := w.d
	room := d.opts.MaxShapesPerGroup - len(w.g.shapeIDs)
	if len(shapes) == 0 || room <= 0 {
		return nil
	}
	if len(shapes) > room {
		shapes = shapes[:room]
	}
	ids := make([]int32, len(shapes))
	templates := make([]string, len(shapes))
	rows := make([][]any, len(shapes))
	taken := map[int32]bool{}
	now := time.Now().UnixMilli()
	for i, sh := range shapes {
		id := shapeID(sh.Key)
		for w.g.schema.Shapes[id] != nil || taken[id] {
			id = id%math.MaxInt32 + 1
		}
		taken[id] = true
		t, err := sh.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode shape: %w", err)
		}
		ids[i], templates[i] = id, string(t)
		rows[i] = []any{w.g.name, id, templates[i], now}
	}
	q := "INSERT INTO " + d.full("_shapes") + " (grp, id, template, added)"
	if err := d.insertRows(ctx, q, rows...); err != nil {
		return fmt.Errorf("record shapes of group %q: %w", w.g.name, err)
	}
	w.cat.counts[2] += uint64(len(shapes))
	idList := make([]string, len(ids))
	for i, id := range ids {
		idList[i] = fmt.Sprint(id)
	}
	res, err := d.conn.Query(ctx, "SELECT id, min(template) FROM "+d.full("_shapes")+" WHERE grp = ? AND id IN ("+
		strings.Join(idList, ", ")+") GROUP BY id", w.g.name)
	if err != nil {
		return classify(fmt.Errorf("read back shapes of group %q: %w", w.g.name, err))
	}
	winner := map[int32]string{}
	for res.Next() {
		var id int32
		var t string
		if err := res.Scan(&id, &t); err != nil {
			res.Close()
			return fmt.Errorf("read back shapes of group %q: %w", w.g.name, err)
		}
		winner[id] = t
	}
	res.Close()
	if err := res.Err(); err != nil {
		return classify(fmt.Errorf("read back shapes of group %q: %w", w.g.name, err))
	}
	w.g = w.cat.mutable(w.g, w.cloned)
	for i, sh := range shapes {
		if winner[ids[i]] != templates[i] {
			continue // another shape holds this id: these events keep their text
		}
		w.g.addShape(sh, ids[i])
		w.shapes[sh].id = ids[i]
	}
	return nil
}

// insert writes the events as one block.
func (w *groupWriter) insert(ctx context.Context, events []event.Event, ingest int64) error {
	err := w.send(ctx, events, ingest)
	if exceptionCode(err) == codeNoSuchColumn {
		// A host lacks a column that the metadata names (a shard added
		// later, or DDL cut short): add what is missing and try again.
		defs := make([]colDef, len(w.cols))
		for i, c := range w.cols {
			defs[i] = colDef{c, sqlType(w.kinds[i])}
		}
		if err := w.d.addColumns(ctx, w.g.table, defs); err != nil {
			return fmt.Errorf("repair columns of group %q: %w", w.g.name, err)
		}
		err = w.send(ctx, events, ingest)
	}
	if err != nil {
		return fmt.Errorf("insert into group %q: %w", w.g.name, classify(err))
	}
	return nil
}

func (w *groupWriter) send(ctx context.Context, events []event.Event, ingest int64) error {
	b := w.encode(events, ingest, &w.d.bufs)
	defer w.d.bufs.put(b)
	return w.d.insertBlocks(ctx, 1, func(int) (*block, error) { return b, nil })
}

// insertBlocks inserts n blocks of one column list (see block.columnsKey)
// as one INSERT, a Data packet per block; next returns block i, which
// only needs to stay intact until next is called again.
func (d *DB) insertBlocks(ctx context.Context, n int, next func(i int) (*block, error)) error {
	var (
		batch driver.Batch
		cols  columnReader
	)
	for i := range n {
		blk, err := next(i)
		if err != nil {
			return err
		}
		if batch == nil {
			if batch, err = d.conn.PrepareBatch(ctx, blk.insertQuery(d)); err != nil {
				return err
			}
			defer batch.Abort()
		}
		if err := blk.load(batch, &cols); err != nil {
			return err
		}
		if i < n-1 {
			if err := batch.Flush(); err != nil {
				return err
			}
		}
	}
	if batch == nil {
		return nil
	}
	return batch.Send()
}

// needsEscape reports whether a string of a JSON event has a character that
// JSON escapes. The store keeps the text of such events rather than have
// SQL rebuild them: the ClickHouse query dialect writes a string slot as
// the string in quotes (insights.ClickHouse's JSONToken), since escaping in
// 18.16's SQL would take dozens of nested calls for every string column.
func needsEscape(ev *event.Event) bool {
	for j := range ev.Fields {
		if ev.Fields[j].Kind == event.KindString && event.HasJSONEscape(ev.Fields[j].Str) {
			return true
		}
	}
	return false
}
