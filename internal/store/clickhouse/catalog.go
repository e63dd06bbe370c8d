package clickhouse

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// catalog is the metadata as this server last read or wrote it: groups,
// their columns and shapes. A published catalog is immutable; the writer
// clones what it changes and publishes the result once the tables have
// the columns it names, so snapshots never name a column that is missing.
type catalog struct {
	groups map[string]*group
	// counts are the rows of _groups, _columns and _shapes this catalog
	// accounts for: more rows mean another server added something.
	counts [3]uint64
}

type fieldKind struct {
	field string
	kind  event.Kind
}

// group is one log group's metadata.
type group struct {
	name      string
	table     string // the table queries and inserts use
	local     string // the table that holds the rows (a shard table in a cluster)
	created   int64
	retention int
	cols      map[fieldKind]string
	order     []store.Column // in the order they were added
	schema    *store.Schema  // MinTime and MaxTime unset: see snapshotSchema
	shapeIDs  map[string]int32
}

func (d *DB) newGroup(name string, created int64, retention int) *group {
	t := tableName(name)
	return &group{
		name: name, table: t, local: d.local(t), created: created, retention: retention,
		cols: map[fieldKind]string{}, shapeIDs: map[string]int32{},
		schema: &store.Schema{Group: name, Table: d.full(t), Fields: map[string][]store.Column{}, Shapes: map[int32]*event.Shape{},
			CountExpr: d.countExpr(t)},
	}
}

// countExpr counts a group table's rows from system.parts: the active
// parts are the ones a query started at the same moment reads, so it is
// what count(*) answers, without reading a column (ClickHouse before 20.x
// reads one to count). In a cluster the shards' parts are elsewhere, and
// count(*) of the Distributed table asks them.
func (d *DB) countExpr(table string) string {
	if d.opts.Cluster != "" {
		return ""
	}
	return "(SELECT sum(rows) FROM system.parts WHERE active AND database = " + quoteString(d.opts.Database) + " AND table = " + quoteString(table) + ")"
}

func (g *group) addColumn(field string, kind event.Kind, name string) {
	c := store.Column{Field: field, Kind: kind, Name: name}
	g.cols[fieldKind{field, kind}] = name
	g.order = append(g.order, c)
	g.schema.Fields[field] = append(g.schema.Fields[field], c)
}

func (g *group) addShape(sh *event.Shape, id int32) {
	g.shapeIDs[sh.Key] = id
	g.schema.Shapes[id] = sh
}

// edit returns a copy of the catalog for the writer to change.
func (c *catalog) edit() *catalog {
	return &catalog{groups: maps.Clone(c.groups), counts: c.counts}
}

// mutable returns a writable copy of g in c.
func (c *catalog) mutable(g *group, cloned map[*group]bool) *group {
	if cloned[g] {
		return g
	}
	n := *g
	n.cols = maps.Clone(g.cols)
	n.order = g.order[:len(g.order):len(g.order)] // appends copy
	n.shapeIDs = maps.Clone(g.shapeIDs)
	s := *g.schema
	s.Fields = make(map[string][]store.Column, len(g.schema.Fields))
	for f, cols := range g.schema.Fields {
		s.Fields[f] = cols[:len(cols):len(cols)]
	}
	s.Shapes = maps.Clone(g.schema.Shapes)
	n.schema = &s
	c.groups[g.name] = &n
	cloned[&n] = true
	return &n
}

// metaCounts counts the rows of the metadata tables.
func (d *DB) metaCounts(ctx context.Context) ([3]uint64, error) {
	var n [3]uint64
	q := fmt.Sprintf("SELECT (SELECT count() FROM %s), (SELECT count() FROM %s), (SELECT count() FROM %s)",
		d.full("_groups"), d.full("_columns"), d.full("_shapes"))
	if err := d.conn.QueryRow(ctx, q).Scan(&n[0], &n[1], &n[2]); err != nil {
		return n, classify(fmt.Errorf("count metadata: %w", err))
	}
	return n, nil
}

// loadCatalog reads the metadata, folding what several servers recorded
// twice.
func (d *DB) loadCatalog(ctx context.Context) (*catalog, error) {
	counts, err := d.metaCounts(ctx)
	if err != nil {
		return nil, err
	}
	cat := &catalog{groups: map[string]*group{}, counts: counts}
	rows, err := d.conn.Query(ctx, "SELECT name, min(created), argMax(retention_days, updated) FROM "+d.full("_groups")+" GROUP BY name")
	if err != nil {
		return nil, classify(fmt.Errorf("load groups: %w", err))
	}
	for rows.Next() {
		var name string
		var created int64
		var days int32
		if err := rows.Scan(&name, &created, &days); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load groups: %w", err)
		}
		cat.groups[name] = d.newGroup(name, created, int(days))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("load groups: %w", err))
	}

	rows, err = d.conn.Query(ctx, "SELECT grp, field, kind, any(col), min(added) AS first FROM "+d.full("_columns")+
		" GROUP BY grp, field, kind ORDER BY grp, first, field, kind")
	if err != nil {
		return nil, classify(fmt.Errorf("load columns: %w", err))
	}
	for rows.Next() {
		var grp, field, col string
		var kind uint8
		var added int64
		if err := rows.Scan(&grp, &field, &kind, &col, &added); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load columns: %w", err)
		}
		if g := cat.groups[grp]; g != nil && event.Kind(kind).Valid() {
			g.addColumn(field, event.Kind(kind), col)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("load columns: %w", err))
	}

	rows, err = d.conn.Query(ctx, "SELECT grp, id, min(template) FROM "+d.full("_shapes")+" GROUP BY grp, id")
	if err != nil {
		return nil, classify(fmt.Errorf("load shapes: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var grp, template string
		var id int32
		if err := rows.Scan(&grp, &id, &template); err != nil {
			return nil, fmt.Errorf("load shapes: %w", err)
		}
		g := cat.groups[grp]
		if g == nil {
			continue
		}
		sh, err := event.ParseShape([]byte(template))
		if err != nil {
			return nil, fmt.Errorf("load shape %d of group %q: %w", id, grp, err)
		}
		g.addShape(sh, id)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("load shapes: %w", err))
	}
	return cat, nil
}

// refresh reloads the catalog when it is older than Options.Refresh and
// another server added to the metadata since. A reload that races with
// this server's own writer gives way: the counts tell the next one.
func (d *DB) refresh(ctx context.Context) error {
	now := time.Now().UnixNano()
	if now-d.checked.Load() < int64(d.opts.Refresh) {
		return nil
	}
	d.loadMu.Lock()
	defer d.loadMu.Unlock()
	if now-d.checked.Load() < int64(d.opts.Refresh) {
		return nil
	}
	old := d.cat.Load()
	counts, err := d.metaCounts(ctx)
	if err != nil {
		return err
	}
	if counts != old.counts {
		cat, err := d.loadCatalog(ctx)
		if err != nil {
			return err
		}
		d.cat.CompareAndSwap(old, cat)
	}
	d.checked.Store(now)
	return nil
}

// Schema implements store.Store. MinTime and MaxTime are the exact bounds
// of the group's events, read from the table.
func (d *DB) Schema(ctx context.Context, name string) (*store.Schema, error) {
	if d.closed.Load() {
		return nil, store.ErrUnavailable
	}
	if err := d.syncBuffer(ctx); err != nil {
		return nil, err
	}
	if err := d.refresh(ctx); err != nil {
		return nil, err
	}
	g := d.cat.Load().groups[name]
	if g == nil {
		return nil, fmt.Errorf("log group %q: %w", name, store.ErrNotFound)
	}
	s := *g.schema
	var n uint64
	q := "SELECT min(ts), max(ts), count() FROM " + d.full(g.table)
	if err := d.conn.QueryRow(ctx, q).Scan(&s.MinTime, &s.MaxTime, &n); err != nil {
		return nil, classify(fmt.Errorf("time range of group %q: %w", name, err))
	}
	if n == 0 {
		s.MinTime, s.MaxTime = 0, 0
	}
	return &s, nil
}
