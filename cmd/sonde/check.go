package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/metrics"
)

func checkCmd(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "config" {
		return errors.New("usage: sonde check config FILE")
	}
	cfg, err := config.LoadFile(args[1])
	if err != nil {
		return err
	}
	// The scrape and remote storage settings go through Prometheus' own
	// loader too, which finds what sonde's schema cannot.
	if _, err := metrics.PrometheusConfig(cfg); err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	fmt.Fprintf(stdout, "%s: valid\n", args[1])
	return nil
}
