package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
)

// ErrClosed is returned by writes after Close began.
var ErrClosed = errors.New("metrics store is closed")

// Options configure a Store.
type Options struct {
	// Dir is the TSDB directory (<data_dir>/metrics).
	Dir string
	// Retention deletes blocks older than this (0: 15 days).
	Retention time.Duration
	// RetentionSize deletes the oldest blocks beyond this many bytes (0: no cap).
	RetentionSize int64
	// OutOfOrderWindow accepts samples this far behind a series' newest.
	OutOfOrderWindow time.Duration
	// BlockDuration is the span of the TSDB's smallest blocks (0: 2h, as
	// Prometheus). Tests shorten it to exercise compaction and retention.
	BlockDuration time.Duration
	// Query limits PromQL.
	Query QueryOptions
	// Prometheus holds external labels, scrape_configs, remote_write and
	// remote_read in Prometheus' own configuration types (see
	// PrometheusConfig). Nil means none of them.
	Prometheus *config.Config
	// Registerer receives the TSDB, engine, scrape and remote metrics
	// (nil: a private registry).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// QueryOptions limit PromQL queries.
type QueryOptions struct {
	Timeout        time.Duration // default 2m
	MaxSamples     int           // default 50,000,000
	LookbackDelta  time.Duration // default 5m
	MaxConcurrency int           // default 20
}

// Store is the metric store. See the package documentation for the
// write contract. All methods are safe for concurrent use.
type Store struct {
	opts   Options
	log    *slog.Logger
	db     *tsdb.DB
	remote *remote.Storage
	// appendable and queryable are the TSDB alone, or a fanout over the
	// TSDB and the remote storage when remote_write or remote_read are
	// configured (so that the common case pays nothing for them).
	appendable storage.Storage
	queryable  storage.Storage
	engine     *promql.Engine
	meta       *metadataStore
	querySlots chan struct{}
	series     *seriesCache

	scrapeMgr    *scrape.Manager
	discoveryMgr *discovery.Manager
	cancelScrape context.CancelFunc
	scrapeStop   sync.Once

	stopBackground chan struct{}
	background     sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

var (
	_ storage.Appendable   = (*Store)(nil)
	_ storage.AppendableV2 = (*Store)(nil)
	_ storage.Queryable    = (*Store)(nil)
)

// Open opens (or creates) the TSDB in opts.Dir, replaying its write-ahead
// log, and prepares the engine, remote storage and scrape manager. Scraping
// starts with RunScrape.
func Open(opts Options) (_ *Store, err error) {
	if opts.Dir == "" {
		return nil, errors.New("metrics: Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Retention <= 0 {
		opts.Retention = 15 * 24 * time.Hour
	}
	q := &opts.Query
	if q.Timeout <= 0 {
		q.Timeout = 2 * time.Minute
	}
	if q.MaxSamples <= 0 {
		q.MaxSamples = 50_000_000
	}
	if q.LookbackDelta <= 0 {
		q.LookbackDelta = 5 * time.Minute
	}
	if q.MaxConcurrency <= 0 {
		q.MaxConcurrency = 20
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create metrics dir: %w", err)
	}

	s := &Store{
		opts:           opts,
		log:            opts.Logger,
		querySlots:     make(chan struct{}, q.MaxConcurrency),
		series:         newSeriesCache(),
		stopBackground: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.meta, err = newMetadataStore(filepath.Join(opts.Dir, "metadata.json"))
	if err != nil {
		return nil, err
	}

	topts := tsdb.DefaultOptions()
	topts.RetentionDuration = opts.Retention.Milliseconds()
	topts.MaxBytes = opts.RetentionSize
	topts.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	// zstd makes the write-ahead log about a third smaller than snappy
	// (Prometheus' default) for a little more CPU at write time.
	topts.WALCompression = compression.Zstd
	if opts.BlockDuration > 0 {
		topts.MinBlockDuration = opts.BlockDuration.Milliseconds()
		topts.MaxBlockDuration = opts.BlockDuration.Milliseconds()
	}
	s.db, err = tsdb.Open(opts.Dir, opts.Logger.With("component", "tsdb"), opts.Registerer, topts, nil)
	if err != nil {
		return nil, fmt.Errorf("open TSDB in %s: %w", opts.Dir, err)
	}

	pcfg := opts.Prometheus
	if pcfg == nil {
		pcfg = emptyPrometheusConfig()
	}
	s.remote = remote.NewStorage(opts.Logger.With("component", "remote"), opts.Registerer, s.startTime, opts.Dir,
		time.Minute, readyScrapeManager{s}, false)
	if err := s.remote.ApplyConfig(pcfg); err != nil {
		return nil, fmt.Errorf("configure remote storage: %w", err)
	}
	s.appendable, s.queryable = s.db, s.db
	if len(pcfg.RemoteWriteConfigs) > 0 {
		s.appendable = storage.NewFanout(opts.Logger, s.db, s.remote)
		s.db.SetWriteNotified(s.remote)
	}
	if len(pcfg.RemoteReadConfigs) > 0 {
		s.queryable = storage.NewFanout(opts.Logger, s.db, s.remote)
	}

	s.engine = promql.NewEngine(promql.EngineOpts{
		Logger:        opts.Logger.With("component", "promql"),
		Reg:           opts.Registerer,
		MaxSamples:    q.MaxSamples,
		Timeout:       q.Timeout,
		LookbackDelta: q.LookbackDelta,
		// Prometheus' default evaluation_interval, used for subqueries
		// without a step.
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
	})

	if err := s.setupScrape(pcfg); err != nil {
		return nil, err
	}

	s.background.Add(1)
	go s.maintain()
	return s, nil
}

// startTime is the oldest time the local TSDB is sure to hold, for
// remote_read without read_recent (as Prometheus computes it, with a margin
// of two blocks for a TSDB that has just started).
func (s *Store) startTime() (int64, error) {
	margin := 2 * tsdb.DefaultBlockDuration
	if s.opts.BlockDuration > 0 {
		margin = 2 * s.opts.BlockDuration.Milliseconds()
	}
	if blocks := s.db.Blocks(); len(blocks) > 0 {
		return blocks[0].Meta().MinTime + margin, nil
	}
	return time.Now().UnixMilli() + margin, nil
}

// readyScrapeManager hands the scrape manager to remote storage, which
// reads target metadata from it to send with remote_write.
type readyScrapeManager struct{ s *Store }

// Get implements remote.ReadyScrapeManager.
func (r readyScrapeManager) Get() (*scrape.Manager, error) {
	if r.s.scrapeMgr == nil {
		return nil, errors.New("scrape manager not ready")
	}
	return r.s.scrapeMgr, nil
}

// maintain saves metadata and expires it with retention, once a minute.
func (s *Store) maintain() {
	defer s.background.Done()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-s.stopBackground:
			return
		case <-tick.C:
			s.meta.expire(time.Now().Add(-s.opts.Retention))
			if err := s.meta.save(); err != nil {
				s.log.Warn("Saving metric metadata failed", "err", err)
			}
		}
	}
}

// Appender returns an appender that writes into the TSDB (and so into the
// remote_write queues). See the package documentation for its contract.
func (s *Store) Appender(ctx context.Context) storage.Appender {
	return &metaAppender{Appender: s.appendable.Appender(ctx), meta: s.meta}
}

// AppenderV2 is Appender with Prometheus' newer interface, which carries
// metadata with each sample (recorded for /api/v1/metadata).
func (s *Store) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &metaAppenderV2{AppenderV2: s.appendable.AppenderV2(ctx), meta: s.meta}
}

// Querier returns a querier over the local TSDB, merged with remote_read
// stores when configured. It implements storage.Queryable for packages that
// read samples without PromQL.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return s.queryable.Querier(mint, maxt)
}

// Engine returns the PromQL engine. Queries must run against the Store
// (it is a storage.Queryable) and should hold a slot from AcquireQuery.
func (s *Store) Engine() *promql.Engine { return s.engine }

// AcquireQuery waits for one of the metrics.query.max_concurrency query
// slots; call the returned release when the query is done.
func (s *Store) AcquireQuery(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case s.querySlots <- struct{}{}:
		return func() { <-s.querySlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetMetadata records the type, help and unit of a metric family for
// /api/v1/metadata. family is the name in exposition formats (a histogram's
// name without _bucket). It is cheap to call for every batch.
func (s *Store) SetMetadata(family string, md metadata.Metadata) { s.meta.set(family, md) }

// Ping reports whether the TSDB is open and accepting writes.
func (s *Store) Ping() error {
	select {
	case <-s.stopBackground:
		return ErrClosed
	default:
		return nil
	}
}

// DB returns the underlying TSDB, for statistics and tests.
func (s *Store) DB() *tsdb.DB { return s.db }

// Close stops scraping, flushes remote_write queues (for at most a minute),
// saves metadata and closes the TSDB, which persists the head's state in
// the write-ahead log. Writers must have stopped: appends after Close
// fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		s.StopScrape()
		close(s.stopBackground)
		s.background.Wait()
		if s.remote != nil {
			if err := s.remote.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close remote storage: %w", err))
			}
		}
		if s.meta != nil {
			if err := s.meta.save(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.db != nil {
			if err := s.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close TSDB: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
