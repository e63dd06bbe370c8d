// Command clickhousebench is the ClickHouse store's benchmark, run by
// bench/clickhouse.sh:
//
//	clickhousebench serve -addr A -store URL -buffer DIR   sonde's HTTP log
//	    ingest (the handler, pipeline and store of `sonde serve`) writing to
//	    ClickHouse through the insert buffer's log in DIR, until SIGTERM;
//	    POST /sync returns once every acknowledged event is in ClickHouse
//	clickhousebench query -store URL -group G  the six queries of the query
//	    benchmark through sonde's engine and as hand-written ClickHouse SQL,
//	    run in turn, hot median of 9 runs each
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sonde-dev/sonde/bench/internal/paired"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest/logs"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: clickhousebench serve|query [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "query":
		err = queries(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func openStore(ctx context.Context, url, bufferDir string) (*clickhouse.DB, error) {
	opts, err := clickhouse.ParseURL(url)
	if err != nil {
		return nil, err
	}
	if !opts.NoBuffer {
		opts.BufferDir = bufferDir
	}
	if !opts.SortByTime {
		opts.SortFields = config.Default().REDMetrics.Fields.Endpoint() // as sonde serve
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return clickhouse.Open(ctx, opts)
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:14390", "HTTP listen address")
	url := fs.String("store", "clickhouse://127.0.0.1:9000/sonde", "store URL")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	memProfile := fs.String("memprofile", "", "write an allocation profile of the run to this file at exit")
	buffer := fs.String("buffer", "", "directory of the insert buffer's log, as sonde serve keeps under data_dir (flush_interval=0 in the URL: none)")
	fs.Parse(args)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	db, err := openStore(ctx, *url, *buffer)
	if err != nil {
		return err
	}
	defer db.Close()
	cfg := config.Default()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pipe := pipeline.New(db, pipeline.Options{MaxQueuedEvents: cfg.Ingest.QueueEvents, Logger: log})
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/logs", logs.New(logs.Options{
		Pipeline: pipe, Shapes: event.NewShapes(100_000), Logger: log,
		MaxBodyBytes: int64(cfg.Ingest.MaxBodyBytes), MaxEventBytes: int(cfg.Ingest.MaxEventBytes), MaxFields: cfg.Ingest.MaxFields,
	}))
	// /sync returns once every acknowledged event is in ClickHouse (what a
	// query waits for), so that the benchmark times ingest end to end.
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		if _, err := db.Stats(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.Ping(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	pipe.Close()
	return nil
}

type benchQuery struct {
	name     string
	insights string
	sql      string // with {route} {status} {lat} {msg} {trace} {table} {id} placeholders
}

func queries(args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	url := fs.String("store", "clickhouse://127.0.0.1:9000/sonde", "store URL")
	group := fs.String("group", "bench", "log group")
	runs := fs.Int("runs", 9, "timed runs per query (median)")
	fs.Parse(args)
	ctx := context.Background()
	db, err := openStore(ctx, *url, "")
	if err != nil {
		return err
	}
	defer db.Close()
	sch, err := db.Schema(ctx, *group)
	if err != nil {
		return err
	}
	col := func(field string) string {
		for _, c := range sch.Fields[field] {
			return c.Name
		}
		fail(fmt.Errorf("no field %q", field))
		return ""
	}
	// A trace id from the middle of the data.
	var trace string
	err = db.Scan(ctx, store.ScanRequest{Group: *group, Limit: 1_000_001}, func(ev *event.Event) error {
		if v, ok := ev.Get("trace_id"); ok {
			trace = v.Text(ev.Time)
		}
		return nil
	})
	if err != nil {
		return err
	}
	repl := strings.NewReplacer("{route}", col("route"), "{status}", col("status"), "{lat}", col("latency_ms"),
		"{msg}", col("message"), "{trace}", col("trace_id"), "{table}", sch.Table, "{id}", trace)
	list := []benchQuery{
		{"count by status", `stats count(*) by status`,
			`SELECT {status}, count() FROM {table} GROUP BY {status}`},
		{"p99 latency by route", `stats pct(latency_ms, 99) by route`,
			`SELECT {route}, quantile(0.99)({lat}) FROM {table} GROUP BY {route}`},
		{"avg latency by route, 1m", `stats avg(latency_ms) by route, bin(1m)`,
			`SELECT {route}, intDiv(ts, 60000) AS m, avg({lat}) FROM {table} GROUP BY {route}, m`},
		{"5xx count by route", `filter status >= 500 | stats count(*) by route`,
			`SELECT {route}, count() FROM {table} WHERE {status} >= 500 GROUP BY {route}`},
		{"phrase \"POST /checkout\" count", `filter message like "POST /checkout" | stats count(*)`,
			`SELECT count() FROM {table} WHERE position({msg}, 'POST /checkout') > 0`},
		{"trace_id lookup", `filter trace_id = "{id}"`,
			`SELECT * FROM {table} WHERE {trace} = toFixedString(unhex('{id}'), 16)`},
	}
	eng, err := query.New(query.Options{Store: db})
	if err != nil {
		return err
	}
	start, end := time.UnixMilli(0), time.Now().Add(365*24*time.Hour)
	fmt.Printf("%-32s %10s %10s %8s\n", "query", "sonde ms", "SQL ms", "ratio")
	for _, q := range list {
		text := repl.Replace(q.insights)
		sql := repl.Replace(q.sql)
		var rowsSonde, rowsSQL int
		sonde, hand := paired.Medians(*runs, func() {
			res, err := eng.Run(ctx, query.Request{Query: text, Start: start, End: end, Groups: []string{*group}})
			if err != nil {
				fail(fmt.Errorf("%s: %w", text, err))
			}
			rowsSonde = len(res.Rows)
		}, func() {
			snap, err := db.Snapshot(ctx)
			if err != nil {
				fail(err)
			}
			defer snap.Close()
			rows, err := snap.Query(ctx, sql)
			if err != nil {
				fail(fmt.Errorf("%s: %w", sql, err))
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rowsSQL = 0
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					fail(err)
				}
				rowsSQL++
			}
			rows.Close()
		})
		fmt.Printf("%-32s %10.1f %10.1f %7.2fx   (rows %d/%d)\n", q.name, ms(sonde), ms(hand), ms(sonde)/ms(hand), rowsSonde, rowsSQL)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clickhousebench:", err)
	os.Exit(1)
}
