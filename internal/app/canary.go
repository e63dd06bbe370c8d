package app

import (
	"context"

	"github.com/sonde-dev/sonde/internal/canary"
)

// openCanaries compiles the configured canaries, mounts the canary API
// (/api/v1/canaries...) and, when there are canaries, adds the runner that
// schedules them. Each run is stored as an event through the write
// pipeline and as canary_* metrics through the metric store.
//
// It must run after openMetrics: runners stop in reverse order, so the
// canaries stop (ending the runs in progress) before the metric store
// drains the pipeline and closes.
func (a *App) openCanaries() error {
	cs := make([]*canary.Canary, 0, len(a.cfg.Canaries))
	for _, cc := range a.cfg.Canaries {
		c, err := canary.Compile(cc)
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	opts := canary.Options{Canaries: cs, Events: a.pipe, Logger: a.log.With("component", "canary")}
	if ms := a.metricsStore(); ms != nil {
		opts.Appendable = ms
	}
	svc, err := canary.NewService(opts)
	if err != nil {
		return err
	}
	for _, r := range svc.Routes() {
		a.api.Handle(r.Pattern, r.Scope, r.Handler)
	}
	if len(cs) == 0 {
		return nil
	}
	a.runners = append(a.runners, &runner{
		name:  "canaries",
		serve: func() error { return svc.Run(context.Background()) },
		stop:  svc.Stop,
	})
	a.log.Info("Canaries scheduled", "canaries", len(cs))
	return nil
}
