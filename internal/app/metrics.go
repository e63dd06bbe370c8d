package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sonde-dev/sonde/internal/metrics"
)

// openMetrics opens the metric store (<data_dir>/metrics: Prometheus TSDB,
// PromQL engine, scrape manager, remote write/read), mounts the Prometheus
// API on the main port and adds a runner that scrapes the configured
// targets.
//
// The runner's stop is the metric store's shutdown, in this order: stop
// scraping; drain the write pipeline, whose derivations (EMF, metric
// filters, RED metrics) may still append samples; flush the remote_write
// queues; close the TSDB. Runners stop in reverse order, so the listeners
// added after this one (every ingest listener) have stopped by then, and
// the event store closes after it.
func (a *App) openMetrics() error {
	start := time.Now()
	pcfg, err := metrics.PrometheusConfig(a.cfg)
	if err != nil {
		return err
	}
	m := a.cfg.Metrics
	dir := filepath.Join(a.cfg.DataDir, "metrics")
	st, err := metrics.Open(metrics.Options{
		Dir:              dir,
		Retention:        time.Duration(m.Retention),
		RetentionSize:    int64(m.RetentionSize),
		OutOfOrderWindow: time.Duration(m.OutOfOrderWindow),
		Query: metrics.QueryOptions{
			Timeout:        time.Duration(m.Query.Timeout),
			MaxSamples:     m.Query.MaxSamples,
			LookbackDelta:  time.Duration(m.Query.LookbackDelta),
			MaxConcurrency: m.Query.MaxConcurrency,
		},
		Prometheus: pcfg,
		Registerer: a.metrics.Registry,
		Logger:     a.log.With("component", "metrics"),
	})
	if err != nil {
		return fmt.Errorf("open metric store: %w", err)
	}
	a.metricStore = st
	a.log.Info("Metric store open", "dir", dir, "scrape_jobs", len(pcfg.ScrapeConfigs),
		"remote_write", len(pcfg.RemoteWriteConfigs), "remote_read", len(pcfg.RemoteReadConfigs), "duration", time.Since(start))

	for _, r := range st.NewAPI().Routes() {
		a.api.Handle(r.Pattern, r.Scope, r.Handler)
	}
	a.runners = append(a.runners, &runner{
		name:  "metrics",
		serve: st.RunScrape,
		stop: func(context.Context) error {
			st.StopScrape()
			if a.pipe != nil {
				a.pipe.Close() // idempotent; Close calls it again
			}
			start := time.Now()
			err := st.Close()
			a.log.Info("Closed metric store", "duration", time.Since(start))
			return err
		},
	})
	return nil
}

// metricsStore is the metric store for the other metric sources (statsd,
// Graphite, OTLP metrics, EMF, metric filters): a storage.Appendable and
// storage.AppendableV2 writing into the TSDB and the remote_write queues,
// with SetMetadata for /api/v1/metadata. See package metrics for the
// contract. It is nil before openMetrics.
func (a *App) metricsStore() *metrics.Store { return a.metricStore }
