package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// dayMillis is the span of one partition of a group's table.
const dayMillis = 86_400_000

// groupColumns are the system columns of every group's table.
const groupColumns = "ts Int64, ingest Int64, stream String, msg Nullable(String), shape Nullable(Int32)"

// groupEngine partitions by UTC day, which is what retention drops, and
// sorts by time, or by hour and then the sort columns (see
// Options.SortFields) and time. A sort key holds no Nullable column, so
// the sort columns enter it through assumeNotNull (NULL sorts as the empty string).
func groupEngine(sortCols []string) string {
	if len(sortCols) == 0 {
		return "MergeTree PARTITION BY intDiv(ts, 86400000) ORDER BY ts"
	}
	key := []string{"intDiv(ts, 3600000)"}
	for _, c := range sortCols {
		key = append(key, "assumeNotNull("+quoteIdent(c)+")")
	}
	return "MergeTree PARTITION BY intDiv(ts, 86400000) ORDER BY (" + strings.Join(append(key, "ts"), ", ") + ")"
}

// groupShardKey sends all the events of one Append to one shard (they share
// their ingest time), so that a batch is one insert into one table in a
// cluster too: written whole or not at all.
const groupShardKey = "intHash64(ingest)"

// metaTables hold what every server must agree on. Rows are only ever
// added; readers fold duplicates (two servers may record the same thing).
var metaTables = []struct{ name, columns, engine string }{
	// A group; its retention is that of the row with the latest updated.
	{"_groups", "name String, tbl String, created Int64, retention_days Int32, updated Int64", "MergeTree ORDER BY name"},
	// A field kind's column of a group's table.
	{"_columns", "grp String, field String, kind UInt8, col String, added Int64", "MergeTree ORDER BY (grp, field, kind)"},
	// A JSON shape of a group (event.Shape.MarshalJSON); for one id the
	// least template wins.
	{"_shapes", "grp String, id Int32, template String, added Int64", "MergeTree ORDER BY (grp, id)"},
	// Keys of committed batches, kept batchKeyDays.
	{"_batches", "key String, added Int64", "MergeTree PARTITION BY intDiv(added, 86400000) ORDER BY key"},
}

// Codes of ClickHouse errors that DDL tolerates.
const (
	codeDuplicateColumn = 44 // ILLEGAL_COLUMN: "column with this name already exists"
	codeTableExists     = 57 // TABLE_ALREADY_EXISTS
	codeNoSuchColumn    = 16 // NO_SUCH_COLUMN_IN_TABLE
)

func exceptionCode(err error) int32 {
	var e *ch.Exception
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// exec runs a DDL statement on one host. Every statement that changes the
// schema is logged at debug level: an operator can follow (and replay)
// what sonde did to the database.
func (d *DB) exec(ctx context.Context, h host, ddl string) error {
	d.log.Debug("ClickHouse DDL", "host", h.addr, "sql", ddl)
	return h.conn.Exec(ctx, ddl)
}

// full is a table's name with its database.
func (d *DB) full(table string) string { return quoteIdent(d.opts.Database) + "." + quoteIdent(table) }

// local is the name of the table that holds a table's rows on each host:
// the table itself on one server, its shard table in a cluster.
func (d *DB) local(table string) string {
	if d.opts.Cluster == "" {
		return table
	}
	return table + "_l"
}

// createTable creates a table (and in a cluster its shard tables, and a
// Distributed table that spreads rows over them by shardKey) unless it
// exists, on every host.
func (d *DB) createTable(ctx context.Context, name, columns, engine, shardKey string) error {
	for _, h := range d.hosts {
		ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s) ENGINE = %s", d.full(d.local(name)), columns, engine)
		if err := d.exec(ctx, h, ddl); err != nil && exceptionCode(err) != codeTableExists {
			return classify(fmt.Errorf("create table %s on %s: %w", name, h.addr, err))
		}
	}
	if d.opts.Cluster == "" {
		return nil
	}
	for _, h := range d.hosts {
		ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS %s ENGINE = Distributed(%s, %s, %s, %s)", d.full(name), d.full(d.local(name)),
			quoteIdent(d.opts.Cluster), quoteIdent(d.opts.Database), quoteIdent(d.local(name)), shardKey)
		if err := d.exec(ctx, h, ddl); err != nil && exceptionCode(err) != codeTableExists {
			return classify(fmt.Errorf("create distributed table %s on %s: %w", name, h.addr, err))
		}
	}
	return nil
}

// colDef is a column to add.
type colDef struct{ name, typ string }

// addColumns adds the columns a table lacks on every host: first to the
// shard tables, then to the Distributed tables that read them. Another
// server may add the same column at the same time; "already exists" is
// success.
func (d *DB) addColumns(ctx context.Context, table string, cols []colDef) error {
	if len(cols) == 0 {
		return nil
	}
	tables := []string{d.local(table)}
	if d.opts.Cluster != "" {
		tables = append(tables, table)
	}
	for _, t := range tables {
		for _, h := range d.hosts {
			if err := d.addColumnsOn(ctx, h, t, cols); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *DB) addColumnsOn(ctx context.Context, h host, table string, cols []colDef) error {
	rows, err := h.conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ?", d.opts.Database, table)
	if err != nil {
		return classify(fmt.Errorf("list columns of %s on %s: %w", table, h.addr, err))
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("list columns of %s on %s: %w", table, h.addr, err)
		}
		have[n] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("list columns of %s on %s: %w", table, h.addr, err))
	}
	var missing []colDef
	for _, c := range cols {
		if !have[c.name] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	adds := make([]string, len(missing))
	for i, c := range missing {
		adds[i] = "ADD COLUMN " + quoteIdent(c.name) + " " + c.typ
	}
	err = d.exec(ctx, h, "ALTER TABLE "+d.full(table)+" "+strings.Join(adds, ", "))
	if err == nil {
		return nil
	}
	if exceptionCode(err) != codeDuplicateColumn {
		return classify(fmt.Errorf("add columns to %s on %s: %w", table, h.addr, err))
	}
	// Another server added one of them meanwhile: add the rest one by one.
	for _, a := range adds {
		if err := d.exec(ctx, h, "ALTER TABLE "+d.full(table)+" "+a); err != nil && exceptionCode(err) != codeDuplicateColumn {
			return classify(fmt.Errorf("add column to %s on %s: %w", table, h.addr, err))
		}
	}
	return nil
}

// partInfo sums the active parts of one table.
type partInfo struct {
	rows, bytes    int64
	minDay, maxDay int64 // partitions (days since 1970) of group tables
	hasDays        bool
}

// partSizes reads system.parts of sonde's database on every shard, by
// table (shard tables in a cluster).
func (d *DB) partSizes(ctx context.Context) (map[string]partInfo, error) {
	from := "system.parts"
	if d.opts.Cluster != "" {
		from = "cluster(" + quoteString(d.opts.Cluster) + ", system, parts)"
	}
	q := "SELECT table, sum(rows), sum(bytes_on_disk), min(toInt64OrZero(partition_id)), max(toInt64OrZero(partition_id)) FROM " + from +
		" WHERE database = ? AND active GROUP BY table"
	rows, err := d.conn.Query(ctx, q, d.opts.Database)
	if err != nil {
		return nil, classify(fmt.Errorf("read table sizes: %w", err))
	}
	defer rows.Close()
	out := map[string]partInfo{}
	for rows.Next() {
		var table string
		var n, b uint64
		var lo, hi int64
		if err := rows.Scan(&table, &n, &b, &lo, &hi); err != nil {
			return nil, fmt.Errorf("read table sizes: %w", err)
		}
		out[table] = partInfo{rows: int64(n), bytes: int64(b), minDay: lo, maxDay: hi, hasDays: n > 0}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("read table sizes: %w", err))
	}
	return out, nil
}
