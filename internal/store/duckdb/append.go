package duckdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// systemColumns are appended first, in this order.
var systemColumns = []string{store.ColTime, store.ColIngest, store.ColStream, store.ColMessage, store.ColShape}

// The writer checkpoints after a commit once the write-ahead log is larger
// than Options.CheckpointBytes. DuckDB's own automatic checkpoint is turned
// off so that it never runs inside a commit, while readers wait for the
// catalog.
// DefaultCheckpointBytes is the default of Options.CheckpointBytes. At
// 32MB, peak RSS during a fast ingest reached 300–320MB in one run of five;
// at 16MB it stays under 280MB for 3% more CPU (bench/ingest.sh).
const DefaultCheckpointBytes = 16 << 20

// Append implements store.Store.
func (d *DB) Append(ctx context.Context, b *store.Batch) error {
	if len(b.Events) == 0 && b.Key == "" {
		return nil
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	if err := d.soloWriter(); err != nil {
		return err
	}
	defer d.releaseSoloLater()
	if _, err := d.w.exec("BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	next, added, err := d.appendTx(ctx, b)
	if err == nil {
		err = d.commit(next, added)
	}
	if err != nil {
		if _, rbErr := d.w.exec("ROLLBACK"); rbErr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	d.events.Add(int64(len(b.Events)))
	d.maybeCheckpoint()
	return nil
}

// commit commits the writer's transaction and publishes its catalog and
// the events it added to each group (by group id), all under pubMu so that
// no snapshot sees one without the others.
func (d *DB) commit(next *catalog, added map[int]int64) error {
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	if _, err := d.w.exec("COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if next.changed {
		next.cloned = nil
		d.cat.Store(next)
	}
	for id, n := range added {
		d.counts[id] += n
	}
	return nil
}

func (d *DB) maybeCheckpoint() {
	st, err := os.Stat(d.path + ".wal")
	if err != nil || st.Size() < d.opts.CheckpointBytes {
		return
	}
	start := time.Now()
	if _, err := d.w.exec("CHECKPOINT"); err != nil {
		d.log.Warn("Checkpoint failed", "err", err)
		return
	}
	d.log.Debug("Checkpointed", "wal_bytes", st.Size(), "duration", time.Since(start))
}

// appendTx writes a batch in the writer's open transaction and returns the
// catalog to publish and the events added to each group.
func (d *DB) appendTx(ctx context.Context, b *store.Batch) (*catalog, map[int]int64, error) {
	cat := d.cat.Load().edit()
	if b.Key != "" {
		n, err := d.w.exec(fmt.Sprintf(`INSERT INTO _batches VALUES (%s, %d) ON CONFLICT DO NOTHING`,
			quote(cleanName(b.Key)), time.Now().UnixMilli()))
		if err != nil {
			return nil, nil, fmt.Errorf("record batch key: %w", err)
		}
		if n == 0 {
			return nil, nil, store.ErrDuplicateBatch
		}
	}
	ingest := b.IngestTime
	if ingest == 0 {
		ingest = time.Now().UnixMilli()
	}
	added := map[int]int64{}
	for _, part := range store.SplitByGroup(b.Events) {
		w := &groupWriter{d: d, cat: cat}
		if err := w.write(ctx, part, ingest); err != nil {
			return nil, nil, err
		}
		added[w.g.id] += int64(len(part))
	}
	return cat, added, nil
}

// groupWriter appends one group's part of a batch.
type groupWriter struct {
	d   *DB
	cat *catalog
	g   *group

	cols   []string          // appender columns: system columns, then fields
	phys   []physType        // their layouts
	pos    map[fieldKind]int // field kind, as the events name it -> index in cols
	shapes map[*event.Shape]*shapeSlots
}

// shapeSlots caches, per shape, its id and where each slot's value goes.
type shapeSlots struct {
	id  int32 // 0 when the group holds no more shapes: keep the raw text
	pos []int
}

func (w *groupWriter) write(ctx context.Context, events []event.Event, ingest int64) error {
	name := events[0].Group
	w.g = w.cat.groups[name]
	if w.g == nil {
		if err := w.createGroup(cleanName(name)); err != nil {
			return err
		}
	}
	w.cols = append([]string(nil), systemColumns...)
	w.phys = append([]physType(nil), systemPhys...)
	w.pos = map[fieldKind]int{}
	w.shapes = map[*event.Shape]*shapeSlots{}

	// Pass 1: make sure every column and shape exists, and widen the time
	// bounds.
	lo, hi := events[0].Time, events[0].Time
	for i := range events {
		ev := &events[i]
		lo, hi = min(lo, ev.Time), max(hi, ev.Time)
		if ev.Shape != nil {
			if _, err := w.shape(ev); err != nil {
				return err
			}
			continue
		}
		for j := range ev.Fields {
			if _, err := w.column(ev.Fields[j].Name, ev.Fields[j].Kind); err != nil {
				return err
			}
		}
	}

	if sch := w.g.schema; sch.MinTime == 0 && sch.MaxTime == 0 || lo < sch.MinTime || hi > sch.MaxTime {
		g := w.cat.mutable(w.g)
		w.g = g
		if g.schema.MinTime == 0 && g.schema.MaxTime == 0 {
			g.schema.MinTime, g.schema.MaxTime = lo, hi
		} else {
			g.schema.MinTime, g.schema.MaxTime = min(g.schema.MinTime, lo), max(g.schema.MaxTime, hi)
		}
	}

	// Pass 2: append the rows.
	app, err := newChunkAppender(w.d.w.conn, w.g.table, w.cols, w.phys)
	if err != nil {
		return fmt.Errorf("append to group %q: %w", name, err)
	}
	nsys := len(systemColumns)
	for i := range events {
		ev := &events[i]
		app.SetInt64(0, ev.Time)
		app.SetInt64(1, ingest)
		app.SetString(2, ev.Stream)
		for c := nsys; c < len(w.cols); c++ {
			app.Null(c)
		}
		var slots *shapeSlots
		if ev.Shape != nil {
			slots = w.shapes[ev.Shape]
		}
		if slots != nil && slots.id != 0 {
			app.Null(3)
			app.SetInt32(4, slots.id)
			for j := range ev.Fields {
				setValue(app, slots.pos[j], ev.Fields[j].Value)
			}
		} else {
			app.SetString(3, ev.Message)
			app.Null(4)
			for j := range ev.Fields {
				f := &ev.Fields[j]
				setValue(app, w.pos[fieldKind{f.Name, f.Kind}], f.Value)
			}
		}
		if err := app.Next(); err != nil {
			app.Destroy()
			return fmt.Errorf("append to group %q: %w", name, err)
		}
	}
	if err := app.Close(); err != nil {
		return fmt.Errorf("append to group %q: %w", name, err)
	}
	return nil
}

// systemPhys are the layouts of systemColumns.
var systemPhys = []physType{physBigInt, physBigInt, physVarchar, physVarchar, physInt}

// setValue writes a field value into its column of the current row. Valid
// is the default: only absent values need Null.
func setValue(app *chunkAppender, c int, v event.Value) {
	app.valid[c][app.row>>6] |= 1 << (app.row & 63)
	switch v.Kind {
	case event.KindString:
		app.SetString(c, v.Str)
	case event.KindInt:
		app.SetInt64(c, v.Int())
	case event.KindFloat:
		app.SetFloat64(c, v.Float())
	case event.KindBool:
		app.SetBool(c, v.Bool())
	case event.KindID128:
		app.SetUUID(c, v.X, v.Y)
	case event.KindID64:
		app.SetUint64(c, v.X)
	case event.KindIPv4:
		app.SetUint32(c, uint32(v.X))
	case event.KindTime:
		app.SetUint8(c, uint8(v.X))
	}
}

// shape returns the slots of ev's shape, registering the shape when new.
// An event whose fields do not match its shape is treated as shapeless.
func (w *groupWriter) shape(ev *event.Event) (*shapeSlots, error) {
	if s, ok := w.shapes[ev.Shape]; ok {
		return s, nil
	}
	s := &shapeSlots{}
	for _, p := range ev.Shape.Pieces {
		if p.Slot() {
			c, err := w.column(p.Field, p.Kind)
			if err != nil {
				return nil, err
			}
			s.pos = append(s.pos, c)
		}
	}
	if len(s.pos) != len(ev.Fields) {
		return nil, fmt.Errorf("BUG: event has %d fields for a shape of %d slots", len(ev.Fields), len(s.pos))
	}
	if id, ok := w.g.shapeIDs[ev.Shape.Key]; ok {
		s.id = id
	} else if len(w.g.shapeIDs) < w.d.opts.MaxShapesPerGroup {
		g := w.cat.mutable(w.g)
		w.g = g
		id := g.nextShape
		template, err := ev.Shape.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encode shape: %w", err)
		}
		if _, err := w.d.w.exec(fmt.Sprintf(`INSERT INTO _shapes VALUES (%d, %d, %s)`, g.id, id, quote(cleanName(string(template))))); err != nil {
			return nil, fmt.Errorf("record shape: %w", err)
		}
		g.addShape(ev.Shape, id)
		s.id = id
	}
	w.shapes[ev.Shape] = s
	return s, nil
}

// column returns the appender index of a field kind's column, adding the
// column to the table when the group has never seen it.
func (w *groupWriter) column(field string, kind event.Kind) (int, error) {
	fk := fieldKind{field, kind}
	if p, ok := w.pos[fk]; ok {
		return p, nil
	}
	field = cleanName(field)
	col, ok := w.g.cols[fieldKind{field, kind}]
	if !ok {
		if !kind.Valid() {
			return 0, fmt.Errorf("BUG: field %q has invalid kind %d", field, kind)
		}
		g := w.cat.mutable(w.g)
		w.g = g
		pos := g.nextCol
		name := columnName(pos)
		if _, err := w.d.w.exec(fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s %s`, g.table, name, sqlType(kind))); err != nil {
			return 0, fmt.Errorf("add column for field %q: %w", field, err)
		}
		if _, err := w.d.w.exec(fmt.Sprintf(`INSERT INTO _columns VALUES (%d, %d, %s, %d)`, g.id, pos, quote(field), kind)); err != nil {
			return 0, fmt.Errorf("record column for field %q: %w", field, err)
		}
		col = g.addColumn(field, kind, pos)
	}
	w.pos[fk] = len(w.cols)
	w.cols = append(w.cols, col)
	w.phys = append(w.phys, kindPhys[kind])
	return len(w.cols) - 1, nil
}

func (w *groupWriter) createGroup(name string) error {
	id := w.cat.nextID
	w.cat.nextID++
	g := &group{
		id: id, name: name, table: tableName(id), created: time.Now().UnixMilli(),
		cols: map[fieldKind]string{}, shapeIDs: map[string]int32{}, nextShape: 1,
	}
	g.schema = &store.Schema{Group: name, Table: g.table, Fields: map[string][]store.Column{}, Shapes: map[int32]*event.Shape{}}
	ddl := fmt.Sprintf(`CREATE TABLE %s (%s BIGINT NOT NULL, %s BIGINT NOT NULL, %s VARCHAR, %s VARCHAR, %s INTEGER)`,
		g.table, store.ColTime, store.ColIngest, store.ColStream, store.ColMessage, store.ColShape)
	if _, err := w.d.w.exec(ddl); err != nil {
		return fmt.Errorf("create table for group %q: %w", name, err)
	}
	if _, err := w.d.w.exec(fmt.Sprintf(`INSERT INTO _groups VALUES (%d, %s, %d, 0)`, id, quote(name), g.created)); err != nil {
		return fmt.Errorf("record group %q: %w", name, err)
	}
	w.cat.groups[name] = g
	w.cat.cloned[g] = true
	w.cat.changed = true
	w.g = g
	return nil
}

// kindPhys is the vector layout of each kind's column (see sqlType).
var kindPhys = [...]physType{
	event.KindString: physVarchar, event.KindInt: physBigInt, event.KindFloat: physDouble,
	event.KindBool: physBool, event.KindID128: physUUID, event.KindID64: physUBigInt,
	event.KindIPv4: physUInt, event.KindTime: physUTiny,
}
