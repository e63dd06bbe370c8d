package app

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/sonde-dev/sonde/internal/ingest/graphite"
	"github.com/sonde-dev/sonde/internal/ingest/statsd"
)

// listenStatsd binds the statsd/DogStatsD UDP listener. Its aggregates go
// to the metric store, so it must stop (and flush) before that store
// closes: it is registered after the metrics runner.
func (a *App) listenStatsd(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen statsd on udp %s: %w", addr, err)
	}
	srv, err := statsd.New(statsd.Options{
		Appendable: a.metricsStore(), Metrics: a.metrics, Logger: a.log.With("component", "ingest.statsd"),
	})
	if err != nil {
		pc.Close()
		return fmt.Errorf("start statsd: %w", err)
	}
	a.addrs["statsd_udp"] = pc.LocalAddr()
	a.runners = append(a.runners, &runner{
		name:  "statsd_udp",
		serve: func() error { return srv.ServeUDP(pc) },
		stop: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			pc.Close()
			return err
		},
	})
	return nil
}

// listenGraphite binds the Graphite plaintext listener on TCP and UDP.
func (a *App) listenGraphite(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen graphite on tcp %s: %w", addr, err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen graphite on udp %s: %w", addr, err)
	}
	srv, err := graphite.New(graphite.Options{
		Appendable: a.metricsStore(), Metrics: a.metrics, Logger: a.log.With("component", "ingest.graphite"),
		OutOfOrderWindow: time.Duration(a.cfg.Metrics.OutOfOrderWindow),
	})
	if err != nil {
		ln.Close()
		pc.Close()
		return fmt.Errorf("start graphite: %w", err)
	}
	a.addrs["graphite_tcp"], a.addrs["graphite_udp"] = ln.Addr(), pc.LocalAddr()
	stop := func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		ln.Close()
		pc.Close()
		return err
	}
	a.runners = append(a.runners,
		&runner{name: "graphite_tcp", serve: func() error { return srv.ServeTCP(ln) }, stop: stop},
		&runner{name: "graphite_udp", serve: func() error { return srv.ServeUDP(pc) }, stop: stop})
	return nil
}
