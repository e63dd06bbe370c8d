package duckdb

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// catalog is the committed metadata: groups, their columns and shapes. A
// published catalog is immutable; the writer clones what it changes and
// publishes the new catalog after its transaction commits, so readers never
// see a column that their snapshot of the database lacks.
type catalog struct {
	groups  map[string]*group
	nextID  int
	cloned  map[*group]bool // groups cloned by the writer for this change
	changed bool
}

type fieldKind struct {
	field string
	kind  event.Kind
}

// group is one log group's metadata.
type group struct {
	id        int
	name      string
	table     string
	created   int64
	retention int
	cols      map[fieldKind]string // physical column per field kind
	schema    *store.Schema
	shapeIDs  map[string]int32 // by shape key
	nextCol   int
	nextShape int32
}

func tableName(id int) string   { return "g" + strconv.Itoa(id) }
func columnName(pos int) string { return "c" + strconv.Itoa(pos) }

func (d *DB) loadCatalog(ctx context.Context) (*catalog, error) {
	cat := &catalog{groups: map[string]*group{}, nextID: 1}
	byID := map[int]*group{}
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, created, retention_days FROM _groups ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	for rows.Next() {
		g := &group{cols: map[fieldKind]string{}, shapeIDs: map[string]int32{}, nextShape: 1}
		if err := rows.Scan(&g.id, &g.name, &g.created, &g.retention); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load groups: %w", err)
		}
		g.table = tableName(g.id)
		g.schema = &store.Schema{Group: g.name, Table: g.table, Fields: map[string][]store.Column{}, Shapes: map[int32]*event.Shape{}}
		if err := d.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT coalesce(min(ts), 0), coalesce(max(ts), 0) FROM %s`, g.table)).
			Scan(&g.schema.MinTime, &g.schema.MaxTime); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load time range of %q: %w", g.name, err)
		}
		cat.groups[g.name] = g
		byID[g.id] = g
		cat.nextID = max(cat.nextID, g.id+1)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}

	rows, err = d.db.QueryContext(ctx, `SELECT grp, pos, field, kind FROM _columns ORDER BY grp, pos`)
	if err != nil {
		return nil, fmt.Errorf("load columns: %w", err)
	}
	for rows.Next() {
		var (
			gid, pos int
			field    string
			kind     uint8
		)
		if err := rows.Scan(&gid, &pos, &field, &kind); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load columns: %w", err)
		}
		g := byID[gid]
		if g == nil {
			continue
		}
		g.addColumn(field, event.Kind(kind), pos)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("load columns: %w", err)
	}

	rows, err = d.db.QueryContext(ctx, `SELECT grp, id, template FROM _shapes ORDER BY grp, id`)
	if err != nil {
		return nil, fmt.Errorf("load shapes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			gid      int
			id       int32
			template string
		)
		if err := rows.Scan(&gid, &id, &template); err != nil {
			return nil, fmt.Errorf("load shapes: %w", err)
		}
		g := byID[gid]
		if g == nil {
			continue
		}
		sh, err := event.ParseShape([]byte(template))
		if err != nil {
			return nil, fmt.Errorf("load shape %d of group %q: %w", id, g.name, err)
		}
		g.addShape(sh, id)
	}
	return cat, rows.Err()
}

func (g *group) addColumn(field string, kind event.Kind, pos int) string {
	name := columnName(pos)
	g.cols[fieldKind{field, kind}] = name
	g.schema.Fields[field] = append(g.schema.Fields[field], store.Column{Field: field, Kind: kind, Name: name})
	g.nextCol = max(g.nextCol, pos+1)
	return name
}

func (g *group) addShape(sh *event.Shape, id int32) {
	g.shapeIDs[sh.Key] = id
	g.schema.Shapes[id] = sh
	g.nextShape = max(g.nextShape, id+1)
}

// edit returns a copy of the catalog for the writer to change.
func (c *catalog) edit() *catalog {
	return &catalog{groups: maps.Clone(c.groups), nextID: c.nextID, cloned: map[*group]bool{}}
}

// mutable returns a writable copy of the named group, cloning it on the first
// change in this edit.
func (c *catalog) mutable(g *group) *group {
	if c.cloned[g] {
		return g
	}
	n := *g
	n.cols = maps.Clone(g.cols)
	n.shapeIDs = maps.Clone(g.shapeIDs)
	n.schema = &store.Schema{Group: g.schema.Group, Table: g.schema.Table,
		Fields: make(map[string][]store.Column, len(g.schema.Fields)), Shapes: maps.Clone(g.schema.Shapes),
		MinTime: g.schema.MinTime, MaxTime: g.schema.MaxTime}
	for f, cols := range g.schema.Fields {
		n.schema.Fields[f] = cols[:len(cols):len(cols)] // appends copy
	}
	c.groups[g.name] = &n
	c.cloned[&n] = true
	c.changed = true
	return &n
}

// Schema implements store.Store.
func (d *DB) Schema(_ context.Context, name string) (*store.Schema, error) {
	g := d.cat.Load().groups[name]
	if g == nil {
		return nil, fmt.Errorf("log group %q: %w", name, store.ErrNotFound)
	}
	return g.schema, nil
}

// sqlType is the DuckDB column type of each kind.
func sqlType(k event.Kind) string {
	switch k {
	case event.KindString:
		return "VARCHAR"
	case event.KindInt:
		return "BIGINT"
	case event.KindFloat:
		return "DOUBLE"
	case event.KindBool:
		return "BOOLEAN"
	case event.KindID128:
		return "UUID"
	case event.KindID64:
		return "UBIGINT"
	case event.KindIPv4:
		return "UINTEGER"
	case event.KindTime:
		return "UTINYINT"
	}
	panic(fmt.Sprintf("BUG: no SQL type for kind %d", k))
}
