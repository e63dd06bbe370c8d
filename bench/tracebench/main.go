// Command tracebench builds and times the tracing benchmark's data set:
// "gen" appends N generated spans straight to a store (bench/traces.sh
// uses it for the 10,000,000-span set), "query" times trace by id and
// filter-expression searches on it (hot median of several runs), and
// "shop" runs two services instrumented with the OpenTelemetry SDK that
// export to the OTLP endpoint of the environment (a demo with a slow
// database query to find).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: tracebench gen|query|shop [flags]"))
	}
	ctx := context.Background()
	switch os.Args[1] {
	case "gen":
		fs := flag.NewFlagSet("gen", flag.ExitOnError)
		dir := fs.String("dir", "bench/out/traces/events", "store directory")
		n := fs.Int("spans", 10_000_000, "spans to generate")
		hours := fs.Int("hours", 24, "hours the spans cover, ending now")
		seed := fs.Uint64("seed", 1, "random seed")
		_ = fs.Parse(os.Args[2:])
		db, err := duckdb.Open(ctx, duckdb.Options{Dir: *dir})
		if err != nil {
			fail(err)
		}
		over := time.Duration(*hours) * time.Hour
		if err := generate(ctx, db, *n, time.Now().Add(-over), over, *seed); err != nil {
			fail(err)
		}
		if err := db.Close(); err != nil {
			fail(err)
		}
	case "query":
		if err := queryCmd(ctx, os.Args[2:]); err != nil {
			fail(err)
		}
	case "shop":
		if err := shopCmd(ctx, os.Args[2:]); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tracebench:", err)
	os.Exit(1)
}
