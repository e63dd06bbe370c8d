package app

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sonde-dev/sonde/internal/derive"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
)

// derivations is the pipeline observer of the derived metrics (EMF,
// metric filters, RED metrics). The pipeline is built before the metric
// store they write to (the API needs the pipeline, the metric store
// mounts its routes on the API), so the observer is handed to the pipeline
// first and the Deriver set once the metric store is open, before any
// listener runs.
type derivations struct {
	d atomic.Pointer[derive.Deriver]
}

var _ pipeline.Observer = (*derivations)(nil)

// Observe implements pipeline.Observer.
func (o *derivations) Observe(events []event.Event) {
	if d := o.d.Load(); d != nil {
		d.Observe(events)
	}
}

// openDerivations builds the derived metrics from the configuration and
// adds their runner, which flushes them every 10 seconds into the metric
// store.
//
// It must run right after openMetrics: runners stop in reverse order, so
// this one stops after every ingest listener and the canaries, and before
// the metric store. Its stop drains the write pipeline (whose observer
// this is), then writes the last aggregates, while the metric store is
// still open.
func (a *App) openDerivations() error {
	cfg := a.cfg
	opts := derive.Options{
		Appendable: a.metricsStore(),
		EMF:        derive.EMFOptions{Enabled: cfg.EMF.Enabled, MaxSeriesPerNamespace: cfg.EMF.MaxSeriesPerNamespace},
		RED:        cfg.REDMetrics.REDOptions(),
		Registerer: a.metrics.Registry,
		Logger:     a.log.With("component", "derive"),
	}
	for _, m := range cfg.MetricFilters {
		opts.Filters = append(opts.Filters, m.FilterRule())
	}
	d, err := derive.New(opts)
	if err != nil {
		return err
	}
	a.derived.d.Store(d)
	a.runners = append(a.runners, &runner{
		name:  "derive",
		serve: d.Run,
		stop: func(context.Context) error {
			a.pipe.Close() // idempotent; the metrics runner and Close call it again
			start := time.Now()
			err := d.Close()
			a.log.Info("Wrote derived metrics", "duration", time.Since(start))
			return err
		},
	})
	a.log.Info("Derived metrics on", "emf", cfg.EMF.Enabled, "red", cfg.REDMetrics.Enabled, "metric_filters", len(opts.Filters))
	return nil
}
