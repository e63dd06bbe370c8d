package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/sonde-dev/sonde/internal/store"
)

// SetRetention implements store.Store. The setting is a row of _groups;
// the latest row of a group wins, on every server.
func (d *DB) SetRetention(ctx context.Context, name string, days int) error {
	if days < 0 {
		return fmt.Errorf("retention of %d days: must not be negative", days)
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	if g := d.cat.Load().groups[name]; g != nil && g.retention == days {
		return nil // sonde sets the configured retentions at every start
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.WriteTimeout)
	defer cancel()
	next := d.cat.Load().edit()
	cloned := map[*group]bool{}
	w := &groupWriter{d: d, cat: next, cloned: cloned}
	// A group created here, before any event, is sorted by time.
	if err := w.ensureGroup(ctx, name, nil); err != nil {
		return fmt.Errorf("set retention of %q: %w", name, err)
	}
	g := next.mutable(w.g, cloned)
	q := "INSERT INTO " + d.full("_groups") + " (name, tbl, created, retention_days, updated)"
	if err := d.insertRows(ctx, q, []any{name, g.table, g.created, int32(days), time.Now().UnixNano()}); err != nil {
		d.cat.Store(next) // the group exists
		return fmt.Errorf("set retention of %q: %w", name, err)
	}
	g.retention = days
	next.counts[0]++
	d.cat.Store(next)
	return nil
}

// EnforceRetention implements store.Store. It drops whole partitions: a
// day of events goes once its last millisecond is older than the group's
// retention, so events live up to one day longer than their retention,
// and deleting them costs no rewrite of data.
func (d *DB) EnforceRetention(ctx context.Context, now time.Time) (int64, error) {
	if d.closed.Load() {
		return 0, store.ErrUnavailable
	}
	// Buffered events of old days go in first, so that they go out now.
	if err := d.syncBuffer(ctx); err != nil {
		return 0, err
	}
	if err := d.refresh(ctx); err != nil {
		return 0, err
	}
	var total int64
	for _, g := range d.cat.Load().groups {
		days := g.retention
		if days == 0 {
			days = d.opts.DefaultRetentionDays
		}
		cutoff := now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
		n, err := d.dropBefore(ctx, g.local, floorDiv(cutoff, dayMillis))
		total += n
		if err != nil {
			return total, fmt.Errorf("retention of %q: %w", g.name, err)
		}
	}
	cutoff := now.Add(-batchKeyDays * 24 * time.Hour).UnixMilli()
	if _, err := d.dropBefore(ctx, d.local("_batches"), floorDiv(cutoff, dayMillis)); err != nil {
		return total, fmt.Errorf("forget old batch keys: %w", err)
	}
	return total, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// dropBefore drops, on every host, the partitions of a table before a day
// and returns how many rows they held.
func (d *DB) dropBefore(ctx context.Context, table string, day int64) (int64, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return 0, store.ErrUnavailable
	}
	var total int64
	for _, h := range d.hosts {
		rows, err := h.conn.Query(ctx, "SELECT partition_id, sum(rows) FROM system.parts WHERE database = ? AND table = ? AND active GROUP BY partition_id",
			d.opts.Database, table)
		if err != nil {
			return total, classify(fmt.Errorf("list partitions on %s: %w", h.addr, err))
		}
		type part struct {
			id   string
			rows uint64
		}
		var old []part
		for rows.Next() {
			var p part
			if err := rows.Scan(&p.id, &p.rows); err != nil {
				rows.Close()
				return total, err
			}
			if n, err := strconv.ParseInt(p.id, 10, 64); err == nil && n < day {
				old = append(old, p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, classify(fmt.Errorf("list partitions on %s: %w", h.addr, err))
		}
		for _, p := range old {
			// Dropping a partition that another server dropped first does
			// nothing.
			err := d.exec(ctx, h, "ALTER TABLE "+d.full(table)+" DROP PARTITION "+p.id)
			if err != nil {
				return total, classify(fmt.Errorf("drop partition %s on %s: %w", p.id, h.addr, err))
			}
			total += int64(p.rows)
		}
	}
	return total, nil
}

// Groups implements store.Store, with sizes from system.parts.
func (d *DB) Groups(ctx context.Context) ([]store.Group, error) {
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
	sizes, err := d.partSizes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]store.Group, 0, len(cat.groups))
	for _, g := range cat.groups {
		days := g.retention
		if days == 0 {
			days = d.opts.DefaultRetentionDays
		}
		s := sizes[g.local]
		out = append(out, store.Group{Name: g.name, Created: g.created, RetentionDays: days, Events: s.rows, Bytes: s.bytes})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
