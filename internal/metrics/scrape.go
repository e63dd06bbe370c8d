package metrics

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/scrape"
)

// setupScrape builds the discovery and scrape managers for cfg's
// scrape_configs. They run in RunScrape.
func (s *Store) setupScrape(cfg *config.Config) error {
	sdMetrics, err := discovery.CreateAndRegisterSDMetrics(s.opts.Registerer)
	if err != nil {
		return fmt.Errorf("register discovery metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelScrape = cancel
	s.discoveryMgr = discovery.NewManager(ctx, s.log.With("component", "discovery"), s.opts.Registerer, sdMetrics, discovery.Name("scrape"))
	if s.discoveryMgr == nil {
		return fmt.Errorf("create discovery manager")
	}
	s.scrapeMgr, err = scrape.NewManager(&scrape.Options{
		// Prometheus waits 5s between target updates; static targets do
		// not change, so start scraping sooner.
		DiscoveryReloadInterval: model.Duration(1e9),
	}, s.log.With("component", "scrape"), nil, nil, s.appendable, s.opts.Registerer)
	if err != nil {
		return fmt.Errorf("create scrape manager: %w", err)
	}
	if err := s.scrapeMgr.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("configure scraping: %w", err)
	}
	sd := map[string]discovery.Configs{}
	scfgs, err := cfg.GetScrapeConfigs()
	if err != nil {
		return fmt.Errorf("configure scraping: %w", err)
	}
	for _, sc := range scfgs {
		sd[sc.JobName] = sc.ServiceDiscoveryConfigs
	}
	if err := s.discoveryMgr.ApplyConfig(sd); err != nil {
		return fmt.Errorf("configure target discovery: %w", err)
	}
	return nil
}

// RunScrape scrapes the configured targets until StopScrape or Close. It
// returns nil after a stop.
func (s *Store) RunScrape() error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.discoveryMgr.Run() // returns when the context is cancelled
	}()
	err := s.scrapeMgr.Run(s.discoveryMgr.SyncCh())
	wg.Wait()
	return err
}

// StopScrape stops scraping and waits for scrapes in flight; it is
// idempotent. Staleness markers are written for the targets' series, as
// Prometheus does on shutdown.
func (s *Store) StopScrape() {
	s.scrapeStop.Do(func() {
		if s.cancelScrape != nil {
			s.cancelScrape()
		}
		if s.scrapeMgr != nil {
			s.scrapeMgr.Stop()
		}
	})
}

// targetMetadata calls fn for the metadata of every active scrape target's
// metric families (what Prometheus' /api/v1/metadata lists).
func (s *Store) targetMetadata(metric string, fn func(family string, md metadata.Metadata)) {
	if s.scrapeMgr == nil {
		return
	}
	for _, targets := range s.scrapeMgr.TargetsActive() {
		for _, t := range targets {
			if metric != "" {
				if md, ok := t.GetMetadata(metric); ok {
					fn(md.MetricFamily, metadata.Metadata{Type: md.Type, Help: md.Help, Unit: md.Unit})
				}
				continue
			}
			for _, md := range t.ListMetadata() {
				fn(md.MetricFamily, metadata.Metadata{Type: md.Type, Help: md.Help, Unit: md.Unit})
			}
		}
	}
}
