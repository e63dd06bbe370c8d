package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

// openStore opens the configured event store: the embedded DuckDB store
// under the data directory, or ClickHouse when storage.url says so.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	start := time.Now()
	log = log.With("component", "store")
	if cfg.Storage.URL != "" {
		opts, err := clickhouse.ParseURL(cfg.Storage.URL)
		if err != nil {
			return nil, err
		}
		opts.DefaultRetentionDays = cfg.Retention.Default.Days()
		if !opts.SortByTime {
			// Rows of one endpoint lie together (see clickhouse.Options.SortFields).
			opts.SortFields = cfg.REDMetrics.Fields.Endpoint()
		}
		opts.Logger = log
		if !opts.NoBuffer {
			// Inserts are buffered in a local log, acknowledged once
			// synced there (see clickhouse.Options.BufferDir).
			opts.BufferDir = filepath.Join(cfg.DataDir, "clickhouse-buffer")
		}
		st, err := clickhouse.Open(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("open ClickHouse event store: %w", err)
		}
		log.Info("Event store open", "store", "clickhouse", "database", opts.Database, "cluster", opts.Cluster,
			"buffer", opts.BufferDir, "duration", time.Since(start))
		return st, nil
	}
	dir := filepath.Join(cfg.DataDir, "events")
	st, err := duckdb.Open(ctx, duckdb.Options{
		Dir:                  dir,
		MemoryLimit:          cfg.Storage.MemoryLimit,
		Threads:              cfg.Storage.Threads,
		DefaultRetentionDays: cfg.Retention.Default.Days(),
		Logger:               log,
	})
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	log.Info("Event store open", "store", "duckdb", "dir", dir, "duration", time.Since(start))
	return st, nil
}
