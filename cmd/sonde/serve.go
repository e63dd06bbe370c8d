package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"

	"github.com/sonde-dev/sonde/internal/app"
	"github.com/sonde-dev/sonde/internal/config"
)

// errUsage means a flag error that the flag package already printed.
var errUsage = errors.New("usage")

func serveCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (default: built-in defaults)")
	dataDir := fs.String("data-dir", "", "directory for all data (default ./sonde-data)")
	httpAddr := fs.String("http-addr", "", "main HTTP listener: API, UI, HTTP ingest (default 127.0.0.1:4380; empty disables)")
	otlpHTTP := fs.String("otlp-http-addr", "", "OTLP/HTTP listener (default 127.0.0.1:4318; empty disables)")
	otlpGRPC := fs.String("otlp-grpc-addr", "", "OTLP/gRPC listener (default 127.0.0.1:4317; empty disables)")
	syslogAddr := fs.String("syslog-addr", "", "syslog UDP and TCP listener (default 127.0.0.1:5514; empty disables)")
	statsdAddr := fs.String("statsd-addr", "", "statsd/DogStatsD UDP listener (default 127.0.0.1:8125; empty disables)")
	graphiteAddr := fs.String("graphite-addr", "", "Graphite plaintext TCP and UDP listener (default 127.0.0.1:2003; empty disables)")
	xrayAddr := fs.String("xray-addr", "", "X-Ray daemon UDP listener for segments (default 127.0.0.1:2000; empty disables)")
	storeURL := fs.String("store", "", "event store: empty for the embedded store, or clickhouse://HOST:9000/DB[?cluster=NAME]")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := config.Default()
	if *configPath != "" {
		var err error
		if cfg, err = config.LoadFile(*configPath); err != nil {
			return err
		}
	}
	// A flag that is given wins over the file, even when it is empty.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data-dir":
			cfg.DataDir = *dataDir
		case "http-addr":
			cfg.Listen.HTTP = *httpAddr
		case "otlp-http-addr":
			cfg.Listen.OTLPHTTP = *otlpHTTP
		case "otlp-grpc-addr":
			cfg.Listen.OTLPGRPC = *otlpGRPC
		case "syslog-addr":
			cfg.Listen.Syslog = *syslogAddr
		case "statsd-addr":
			cfg.Listen.Statsd = *statsdAddr
		case "graphite-addr":
			cfg.Listen.Graphite = *graphiteAddr
		case "xray-addr":
			cfg.Listen.XRay = *xrayAddr
		case "store":
			cfg.Storage.URL = *storeURL
		}
	})
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.Info("sonde is running", "version", version, "data_dir", cfg.DataDir,
		"http", strings.TrimSpace(cfg.Listen.HTTP))
	return a.Run(ctx)
}
