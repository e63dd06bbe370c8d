package app

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/ingest/otlp"
	"github.com/sonde-dev/sonde/internal/ingest/xray"
	"github.com/sonde-dev/sonde/internal/ingest/zipkin"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/trace"
)

// setupTraces wires distributed tracing: OTLP /v1/traces on the main port
// (the OTLP port serves it through a.otlp), Zipkin v2 JSON, the X-Ray
// daemon UDP listener, and the trace API (traces, search, groups, service
// map, distributions, Jaeger remote sampling). It must run after a.otlp
// and a.api are built.
func (a *App) setupTraces() error {
	cfg := a.cfg
	a.api.Handle("POST "+otlp.TracesPath, config.ScopeIngest, a.otlp.TracesHandler())
	a.api.Handle("POST "+zipkin.Path, config.ScopeIngest, zipkin.New(zipkin.Options{
		Pipeline: a.pipe, Metrics: a.metrics, Logger: a.log.With("component", "ingest.zipkin"),
		MaxBodyBytes: int64(cfg.Ingest.MaxBodyBytes), MaxFields: cfg.Ingest.MaxFields,
	}))

	dialect, err := query.DialectOf(a.store.Dialect())
	if err != nil {
		return err
	}
	var groups []trace.Group
	for _, g := range cfg.TraceGroups {
		groups = append(groups, trace.Group{Name: g.Name, Filter: g.Filter})
	}
	tg, err := trace.NewGroups(groups, filepath.Join(cfg.DataDir, "trace-groups.json"))
	if err != nil {
		return err
	}
	var rules []trace.SamplingRule
	for _, r := range cfg.TraceSampling.Rules {
		rules = append(rules, trace.SamplingRule{
			Name: r.RuleName, Priority: r.Priority, ReservoirSize: r.ReservoirSize, FixedRate: r.FixedRate,
			ServiceName: r.ServiceName, ServiceType: r.ServiceType, Host: r.Host, HTTPMethod: r.HTTPMethod,
			URLPath: r.URLPath, Attributes: r.Attributes,
		})
	}
	var def *trace.SamplingRule
	if d := cfg.TraceSampling.Default; d != nil {
		def = &trace.SamplingRule{ReservoirSize: d.ReservoirSize, FixedRate: d.FixedRate}
	}
	eng := trace.New(trace.Options{
		Store: a.store, Dialect: dialect, Groups: tg,
		Timeout: time.Duration(cfg.Query.Timeout), Logger: a.log.With("component", "trace"),
	})
	trace.NewHandler(trace.HandlerOptions{
		Engine: eng, Groups: tg, Sampling: trace.NewSampling(rules, def), Logger: a.log.With("component", "trace"),
	}).Mount(a.api.Handle)

	if cfg.Listen.XRay != "" {
		return a.listenXRay(cfg.Listen.XRay)
	}
	return nil
}

// listenXRay binds the X-Ray daemon's UDP address.
func (a *App) listenXRay(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen xray on udp %s: %w", addr, err)
	}
	a.addrs["xray_udp"] = pc.LocalAddr()
	srv := xray.New(xray.Options{
		Pipeline: a.pipe, Metrics: a.metrics, Logger: a.log.With("component", "ingest.xray"), MaxFields: a.cfg.Ingest.MaxFields,
	})
	a.runners = append(a.runners, &runner{
		name:  "xray_udp",
		serve: func() error { return srv.ServeUDP(pc) },
		stop: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			pc.Close()
			return err
		},
	})
	return nil
}
