// Package duckdb is the embedded event store: one DuckDB database file under
// the data directory, one table per log group with one typed column per
// field kind, and metadata tables for groups, columns and shapes.
//
// Writes go through a single connection in explicit transactions, so a batch
// with its new columns, shapes and idempotency key commits as a whole; DuckDB
// syncs its write-ahead log on commit, which is what makes an acknowledged
// batch survive kill -9. Reads use a pool of other connections and see
// committed data only.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/sonde-dev/sonde/internal/store"
)

// Options configure the store.
type Options struct {
	// Dir holds the database file (events.duckdb) and DuckDB's spill files.
	Dir string
	// MemoryLimit caps DuckDB's memory, e.g. "512MB" (default 25% of RAM,
	// at most 2GB). Queries that need more spill to Dir or fail.
	MemoryLimit string
	// Threads is DuckDB's worker count (default: number of CPUs).
	Threads int
	// DefaultRetentionDays applies to groups without their own (default 30).
	DefaultRetentionDays int
	// MaxShapesPerGroup caps the remembered JSON shapes of one group; events
	// of further shapes keep their raw text (default 1000).
	MaxShapesPerGroup int
	// CheckpointBytes is the write-ahead log size at which committed data
	// is compressed into the database file (default 16MB). Until then it is
	// held in memory uncompressed: smaller values use less memory and more
	// CPU.
	CheckpointBytes int64
	Logger          *slog.Logger
}

// DB is the DuckDB event store.
type DB struct {
	opts      Options
	connector *duckdb.Connector
	db        *sql.DB // readers
	path      string

	wmu    sync.Mutex   // serializes writes and guards w
	pubMu  sync.RWMutex // held by commit while it commits and publishes the catalog
	w      *rawConn     // the one writing connection
	closed atomic.Bool
	solo   soloState // DuckDB's workers lent to the writer, under wmu

	cat    atomic.Pointer[catalog] // committed metadata, replaced on change
	events atomic.Int64            // events stored, for Stats
	// counts are the committed events of each group, by group id. They
	// change under pubMu with the commit that changes the data, so that a
	// snapshot reads the counts of exactly the data it sees.
	counts map[int]int64
	log    *slog.Logger
}

var _ store.Store = (*DB)(nil)

// Open opens (or creates) the store in opts.Dir.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.DefaultRetentionDays <= 0 {
		opts.DefaultRetentionDays = 30
	}
	if opts.MaxShapesPerGroup <= 0 {
		opts.MaxShapesPerGroup = 1000
	}
	if opts.CheckpointBytes <= 0 {
		opts.CheckpointBytes = DefaultCheckpointBytes
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.NumCPU()
	}
	limitMallocArenas(opts.Threads)
	if opts.MemoryLimit == "" {
		opts.MemoryLimit = defaultMemoryLimit()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	path := filepath.Join(opts.Dir, "events.duckdb")
	tmp := filepath.Join(opts.Dir, "tmp")
	w, err := openRaw(path)
	if err != nil {
		return nil, err
	}
	connector, err := duckdb.NewConnector(path, func(c driver.ExecerContext) error {
		// Readers run with the profiler on: LastQueryStats reads it.
		for _, s := range profileSettings {
			if _, err := c.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("configure reader (%s): %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		w.close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &DB{opts: opts, connector: connector, path: path, log: opts.Logger, w: w, solo: soloState{idle: soloIdle}}
	d.db = sql.OpenDB(connector)
	settings := []string{
		fmt.Sprintf("SET threads = %d", opts.Threads),
		fmt.Sprintf("SET memory_limit = '%s'", opts.MemoryLimit),
		fmt.Sprintf("SET temp_directory = '%s'", tmp),
		"SET preserve_insertion_order = false",
		// Hand freed memory back to the OS early: DuckDB's allocator keeps up
		// to 128MB by default, which is most of sonde's footprint at rest.
		"SET allocator_flush_threshold = '16MB'",
		// The writer checkpoints itself, outside the commit (see append.go).
		"SET checkpoint_threshold = '1TB'",
	}
	for _, s := range settings {
		if _, err := d.w.exec(s); err != nil {
			d.Close()
			return nil, fmt.Errorf("configure duckdb (%s): %w", s, err)
		}
	}
	if err := registerFunctions(ctx, d.db); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.migrate(); err != nil {
		d.Close()
		return nil, err
	}
	cat, err := d.loadCatalog(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.cat.Store(cat)
	d.counts = map[int]int64{}
	for _, g := range cat.groups {
		var n int64
		if err := d.db.QueryRowContext(ctx, "SELECT count(*) FROM "+g.table).Scan(&n); err != nil {
			d.Close()
			return nil, fmt.Errorf("count events of %q: %w", g.name, err)
		}
		d.events.Add(n)
		d.counts[g.id] = n
	}
	return d, nil
}

func defaultMemoryLimit() string {
	const max = 2 << 30
	limit := int64(max)
	if total := totalMemory(); total > 0 && total/4 < limit {
		limit = total / 4
	}
	return fmt.Sprintf("%dMB", limit>>20)
}

// totalMemory reads MemTotal from /proc/meminfo (0 when unknown).
func totalMemory() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err != nil {
		return 0
	}
	return kb << 10
}

// profileSettings turn on DuckDB's profiler with the operator metrics that
// LastQueryStats uses, without printing anything.
var profileSettings = []string{
	"SET enable_profiling = 'no_output'",
	`SET custom_profiling_settings = '{"OPERATOR_CARDINALITY": "true", "OPERATOR_TYPE": "true"}'`,
}

const schemaSQL = `
CREATE TABLE IF NOT EXISTS _groups (
	id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, created BIGINT NOT NULL, retention_days INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _columns (
	grp INTEGER NOT NULL, pos INTEGER NOT NULL, field VARCHAR NOT NULL, kind UTINYINT NOT NULL);
CREATE TABLE IF NOT EXISTS _shapes (
	grp INTEGER NOT NULL, id INTEGER NOT NULL, template VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS _batches (key VARCHAR PRIMARY KEY, added BIGINT NOT NULL);
`

func (d *DB) migrate() error {
	if _, err := d.w.exec(schemaSQL); err != nil {
		return fmt.Errorf("create metadata tables: %w", err)
	}
	return nil
}

// Dialect implements store.Store.
func (d *DB) Dialect() string { return "duckdb" }

// Ping implements store.Store: the writer connection answers.
func (d *DB) Ping(ctx context.Context) error {
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	return d.db.PingContext(ctx)
}

// Close checkpoints the database so that it reopens without replaying its
// write-ahead log, and closes it.
func (d *DB) Close() error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	d.solo.stop()
	var errs []error
	if _, err := d.w.exec("CHECKPOINT"); err != nil {
		errs = append(errs, fmt.Errorf("checkpoint: %w", err))
	}
	errs = append(errs, d.db.Close(), d.connector.Close())
	d.w.close()
	return errors.Join(errs...)
}

// Checkpoint writes the write-ahead log into the database file, compressed.
func (d *DB) Checkpoint(ctx context.Context) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.closed.Load() {
		return store.ErrUnavailable
	}
	_, err := d.w.exec("CHECKPOINT")
	return err
}
