package duckdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sonde-dev/sonde/internal/store"
)

// batchKeyDays is how long batch keys are remembered for duplicate checks.
const batchKeyDays = 7

// SetRetention implements store.Store.
func (d *DB) SetRetention(ctx context.Context, name string, days int) error {
	if days < 0 {
		return fmt.Errorf("retention of %d days: must not be negative", days)
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	if _, err := d.w.exec("BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	next := d.cat.Load().edit()
	err := func() error {
		w := &groupWriter{d: d, cat: next}
		g := next.groups[name]
		if g == nil {
			if err := w.createGroup(cleanName(name)); err != nil {
				return err
			}
			g = w.g
		}
		g = next.mutable(g)
		g.retention = days
		_, err := d.w.exec(fmt.Sprintf(`UPDATE _groups SET retention_days = %d WHERE id = %d`, days, g.id))
		return err
	}()
	if err == nil {
		err = d.commit(next, nil)
	}
	if err != nil {
		d.w.exec("ROLLBACK")
		return fmt.Errorf("set retention of %q: %w", name, err)
	}
	return nil
}

// EnforceRetention implements store.Store.
func (d *DB) EnforceRetention(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, g := range d.cat.Load().groups {
		days := g.retention
		if days == 0 {
			days = d.opts.DefaultRetentionDays
		}
		cutoff := now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
		n, err := d.deleteBefore(ctx, g.table, g.id, cutoff)
		if err != nil {
			return total, fmt.Errorf("retention of %q: %w", g.name, err)
		}
		d.events.Add(-n)
		total += n
	}
	_, err := d.deleteBefore(ctx, "_batches", 0, now.Add(-batchKeyDays*24*time.Hour).UnixMilli())
	return total, err
}

// deleteBefore deletes the rows of a table older than cutoff. For a group's
// table the delete commits under pubMu together with the group's new
// count, as an append does; the delete itself runs before, so that
// snapshots do not wait for it.
func (d *DB) deleteBefore(ctx context.Context, table string, id int, cutoff int64) (int64, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return 0, store.ErrUnavailable
	}
	if table == "_batches" {
		return d.w.exec(fmt.Sprintf(`DELETE FROM _batches WHERE added < %d`, cutoff))
	}
	if _, err := d.w.exec("BEGIN TRANSACTION"); err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	n, err := d.w.exec(fmt.Sprintf(`DELETE FROM %s WHERE %s < %d`, table, store.ColTime, cutoff))
	if err == nil {
		d.pubMu.Lock()
		if _, err = d.w.exec("COMMIT"); err == nil {
			d.counts[id] -= n
		}
		d.pubMu.Unlock()
	}
	if err != nil {
		if _, rbErr := d.w.exec("ROLLBACK"); rbErr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return 0, err
	}
	return n, nil
}

// Groups implements store.Store.
func (d *DB) Groups(ctx context.Context) ([]store.Group, error) {
	snap, err := d.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	cat := snap.(*snapshot).cat
	sizes := map[string][2]int64{}
	rows, err := snap.Query(ctx, `SELECT table_name, estimated_size, 0 FROM duckdb_tables() WHERE schema_name = 'main'`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	for rows.Next() {
		var name string
		var n, b int64
		if err := rows.Scan(&name, &n, &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list groups: %w", err)
		}
		sizes[name] = [2]int64{n, b}
	}
	rows.Close()
	bytesPerBlock := map[string]int64{}
	rows, err = snap.Query(ctx, `SELECT table_name, count(DISTINCT block_id) * 262144 FROM (
		SELECT t.table_name, s.block_id FROM duckdb_tables() t, pragma_storage_info(t.table_name) s
		WHERE t.schema_name = 'main' AND t.table_name LIKE 'g%' AND s.block_id >= 0) GROUP BY ALL`)
	if err == nil {
		for rows.Next() {
			var name string
			var b int64
			if rows.Scan(&name, &b) == nil {
				bytesPerBlock[name] = b
			}
		}
		rows.Close()
	}
	out := make([]store.Group, 0, len(cat.groups))
	for _, name := range snap.Groups() {
		g := cat.groups[name]
		days := g.retention
		if days == 0 {
			days = d.opts.DefaultRetentionDays
		}
		out = append(out, store.Group{Name: name, Created: g.created, RetentionDays: days,
			Events: sizes[g.table][0], Bytes: bytesPerBlock[g.table]})
	}
	return out, nil
}

// Stats implements store.Store. It is cheap: the event count is kept up to
// date by Append and EnforceRetention, and the disk size is the files'.
func (d *DB) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{Events: d.events.Load(), Groups: len(d.cat.Load().groups)}
	for _, p := range []string{d.path, d.path + ".wal"} {
		if fi, err := os.Stat(p); err == nil {
			st.DiskBytes += fi.Size()
		}
	}
	return st, nil
}
