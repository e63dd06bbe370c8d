// Package app wires sonde together: it opens the store, builds the write
// pipeline and the API, binds every listener, runs them, and shuts them down
// in reverse order. It is the only package that imports all the others.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/sonde-dev/sonde/internal/api"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest/logs"
	"github.com/sonde-dev/sonde/internal/ingest/otlp"
	"github.com/sonde-dev/sonde/internal/ingest/syslog"
	"github.com/sonde-dev/sonde/internal/metrics"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
)

// App is a running sonde server.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	store    store.Store
	pipe     *pipeline.Pipeline
	metrics  *selfmon.Metrics
	shapes   *event.Shapes
	api      *api.Server
	tokens   map[string]config.Token
	otlp     *otlp.Receiver
	runners  []*runner
	addrs    map[string]net.Addr
	stopping atomic.Bool
	closeMu  sync.Mutex
	closed   bool

	// metricStore is the Prometheus TSDB and PromQL engine (metrics.go).
	metricStore *metrics.Store
	// derived observes the pipeline for the derived metrics (derive.go).
	derived derivations
}

// runner is one listener: serve blocks until stop is called.
type runner struct {
	name  string
	serve func() error
	stop  func(context.Context) error
}

// New opens the store and binds every configured listener, so that a bad
// address or a port in use fails here, before anything runs.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	tokens, err := cfg.Auth.ResolveTokens()
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, tokens: tokens, addrs: map[string]net.Addr{}}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.store = st
	for g, d := range cfg.Retention.Groups {
		if err := st.SetRetention(ctx, g, d.Days()); err != nil {
			return nil, fmt.Errorf("set retention of %q: %w", g, err)
		}
	}

	a.metrics = selfmon.New(func() float64 {
		s, err := a.store.Stats(context.Background())
		if err != nil {
			return 0
		}
		return float64(s.DiskBytes)
	})
	a.pipe = pipeline.New(st, pipeline.Options{
		MaxQueuedEvents: cfg.Ingest.QueueEvents,
		Observers:       []pipeline.Observer{&a.derived},
		Metrics:         a.metrics,
		Logger:          log.With("component", "pipeline"),
	})
	a.shapes = event.NewShapes(100_000)
	engine, err := query.New(query.Options{Store: st, Timeout: time.Duration(cfg.Query.Timeout), Logger: log.With("component", "query")})
	if err != nil {
		return nil, err
	}
	a.api = api.New(api.Options{
		Query: engine,
		Store: st, Pipeline: a.pipe, Metrics: a.metrics, Tokens: tokens,
		Logger: log.With("component", "api"), Ready: a.ready,
	})
	a.api.Handle("POST /api/v1/logs", config.ScopeIngest, logs.New(logs.Options{
		Pipeline: a.pipe, Shapes: a.shapes, Metrics: a.metrics, Logger: log.With("component", "ingest.http"),
		MaxBodyBytes: int64(cfg.Ingest.MaxBodyBytes), MaxEventBytes: int(cfg.Ingest.MaxEventBytes), MaxFields: cfg.Ingest.MaxFields,
		InflightBytes: int64(cfg.Ingest.InflightBytes),
	}))
	if err := a.openMetrics(); err != nil {
		return nil, err
	}
	if err := a.openDerivations(); err != nil {
		return nil, err
	}
	if err := a.openCanaries(); err != nil {
		return nil, err
	}

	a.otlp = otlp.New(otlp.Options{
		Pipeline: a.pipe, Metrics: a.metrics, Logger: log.With("component", "ingest.otlp"),
		MaxBodyBytes: int64(cfg.Ingest.MaxBodyBytes), MaxEventBytes: int(cfg.Ingest.MaxEventBytes), MaxFields: cfg.Ingest.MaxFields,
		MetricStore: a.metricsStore(), LookbackDelta: time.Duration(cfg.Metrics.Query.LookbackDelta),
	})
	a.api.Handle("POST "+otlp.LogsPath, config.ScopeIngest, a.otlp.LogsHandler())
	a.api.Handle("POST "+otlp.MetricsPath, config.ScopeIngest, a.otlp.MetricsHandler())
	if err := a.setupTraces(); err != nil {
		return nil, err
	}

	if cfg.Listen.HTTP != "" {
		if err := a.listenHTTP("http", cfg.Listen.HTTP, a.api); err != nil {
			return nil, err
		}
	}
	if cfg.Listen.OTLPHTTP != "" {
		if err := a.listenHTTP("otlp_http", cfg.Listen.OTLPHTTP, a.api.Authenticate(config.ScopeIngest, a.otlp.Handler())); err != nil {
			return nil, err
		}
	}
	if cfg.Listen.OTLPGRPC != "" {
		if err := a.listenGRPC("otlp_grpc", cfg.Listen.OTLPGRPC); err != nil {
			return nil, err
		}
	}
	if cfg.Listen.Syslog != "" {
		if err := a.listenSyslog(cfg.Listen.Syslog); err != nil {
			return nil, err
		}
	}
	if cfg.Listen.Statsd != "" {
		if err := a.listenStatsd(cfg.Listen.Statsd); err != nil {
			return nil, err
		}
	}
	if cfg.Listen.Graphite != "" {
		if err := a.listenGraphite(cfg.Listen.Graphite); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// listenGRPC binds the OTLP/gRPC server.
func (a *App) listenGRPC(name, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	a.addrs[name] = ln.Addr()
	opts := append(otlp.GRPCServerOptions(int(a.cfg.Ingest.MaxBodyBytes)), a.api.GRPCAuth(config.ScopeIngest)...)
	srv := grpc.NewServer(opts...)
	a.otlp.RegisterGRPC(srv)
	a.runners = append(a.runners, &runner{
		name:  name,
		serve: func() error { return srv.Serve(ln) },
		stop: func(ctx context.Context) error {
			done := make(chan struct{})
			go func() { srv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				srv.Stop()
			}
			ln.Close()
			return nil
		},
	})
	return nil
}

// listenSyslog binds UDP and TCP on the same address.
func (a *App) listenSyslog(addr string) error {
	srv := syslog.New(syslog.Options{
		Pipeline: a.pipe, Metrics: a.metrics, Logger: a.log.With("component", "ingest.syslog"),
		Group: a.cfg.Ingest.SyslogGroup, MaxFields: a.cfg.Ingest.MaxFields,
	})
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen syslog on udp %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("listen syslog on tcp %s: %w", addr, err)
	}
	a.addrs["syslog_udp"], a.addrs["syslog_tcp"] = pc.LocalAddr(), ln.Addr()
	stop := func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		pc.Close()
		ln.Close()
		return err
	}
	a.runners = append(a.runners,
		&runner{name: "syslog_udp", serve: func() error { return srv.ServeUDP(pc) }, stop: stop},
		&runner{name: "syslog_tcp", serve: func() error { return srv.ServeTCP(ln) }, stop: stop})
	return nil
}

// listenHTTP binds addr and registers an HTTP server for h.
func (a *App) listenHTTP(name, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s on %s: %w", name, addr, err)
	}
	a.addrs[name] = ln.Addr()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.runners = append(a.runners, &runner{
		name: name,
		serve: func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		stop: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			ln.Close() // in case Serve never ran
			return err
		},
	})
	return nil
}

// Addr returns the bound address of a listener ("http", "otlp_http",
// "otlp_grpc", "syslog_udp", "syslog_tcp", "xray_udp"), or nil when it is
// off.
func (a *App) Addr(name string) net.Addr { return a.addrs[name] }

func (a *App) ready(ctx context.Context) error {
	if a.stopping.Load() {
		return errors.New("shutting down")
	}
	if err := a.store.Ping(ctx); err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	if a.metricStore != nil {
		if err := a.metricStore.Ping(); err != nil {
			return fmt.Errorf("metric store: %w", err)
		}
	}
	return nil
}

// Run serves until ctx ends or a listener fails, then shuts down.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, len(a.runners))
	for _, r := range a.runners {
		go func() {
			if err := r.serve(); err != nil {
				errc <- fmt.Errorf("%s listener: %w", r.name, err)
			}
		}()
		a.log.Info("Listening", "listener", r.name, "addr", a.addrs[r.name])
	}
	go a.retentionLoop(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		a.log.Error("Listener failed", "err", err)
	}
	return errors.Join(err, a.Close())
}

func (a *App) retentionLoop(ctx context.Context) {
	tick := time.NewTicker(time.Duration(a.cfg.Retention.Interval))
	defer tick.Stop()
	for {
		n, err := a.store.EnforceRetention(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("Retention failed", "err", err)
		case n > 0:
			a.metrics.RetentionDeleted.Add(float64(n))
			a.log.Info("Retention deleted old events", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Close stops the listeners, writes what is queued, and closes the store,
// logging how long each phase took.
func (a *App) Close() error {
	a.closeMu.Lock()
	defer a.closeMu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	a.stopping.Store(true)
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := len(a.runners) - 1; i >= 0; i-- {
		r := a.runners[i]
		start := time.Now()
		if err := r.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", r.name, err))
		}
		a.log.Info("Stopped listener", "listener", r.name, "duration", time.Since(start))
	}
	if a.pipe != nil {
		start := time.Now()
		a.pipe.Close()
		a.log.Info("Drained write queue", "duration", time.Since(start))
	}
	if a.store != nil {
		start := time.Now()
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		a.log.Info("Closed event store", "duration", time.Since(start))
	}
	return errors.Join(errs...)
}
