package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
	"github.com/sonde-dev/sonde/internal/trace"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// searches are the filter expressions timed by "query".
var searches = []string{
	`responsetime > 3`,
	`service("sessions-api") { fault }`,
	`edge("frontend", "payments") { responsetime > 1 }`,
	`annotation.PaymentStatus = "FAILED"`,
	`http.status = 500`,
	`http.url CONTAINS "/checkout"`,
	`service("payments") { fault } AND !annotation.customer_tier = "free"`,
	`fault AND NOT service("DynamoDB") { fault }`,
	`duration > 2`,
	// Rare or no matches: every window of the range is read.
	`annotation.PaymentStatus = "NONE"`,
	`service("payments") { responsetime > 60 }`,
	`edge("frontend", "payments") { responsetime > 600 }`,
	`!service("frontend")`,
	`duration > 600`,
}

func queryCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("query", flag.ExitOnError)
	dir := fs.String("dir", "bench/out/traces/events", "store directory")
	runs := fs.Int("runs", 5, "timed runs per query (median)")
	hours := fs.Int("hours", 24, "search range: the last N hours")
	only := fs.String("filter", "", "time only this filter expression")
	verbose := fs.Bool("v", false, "log the SQL of each search")
	rawSQL := fs.String("sql", "", "time this SQL instead ({t} is the spans table)")
	_ = fs.Parse(args)
	db, err := duckdb.Open(ctx, duckdb.Options{Dir: *dir})
	if err != nil {
		return err
	}
	defer db.Close()
	if *rawSQL != "" {
		sch, err := db.Schema(ctx, span.Group)
		if err != nil {
			return err
		}
		q := strings.ReplaceAll(*rawSQL, "{t}", sch.Table)
		n := 0
		d := median(*runs, func() {
			snap, err := db.Snapshot(ctx)
			if err != nil {
				fail(err)
			}
			defer snap.Close()
			rows, err := snap.Query(ctx, q)
			if err != nil {
				fail(err)
			}
			n = 0
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if n == 0 && *verbose {
					rows.Scan(ptrs...)
					fmt.Println(vals...)
				}
				n++
			}
			rows.Close()
		})
		fmt.Printf("%.1f ms, %d rows\n", ms(d), n)
		return nil
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	eng := trace.New(trace.Options{Store: db, Dialect: insights.DuckDB, Logger: logger})
	sch, err := db.Schema(ctx, span.Group)
	if err != nil {
		return err
	}
	// The search range: the last N hours of the data set.
	end := time.UnixMilli(sch.MaxTime + 1)
	start := end.Add(-time.Duration(*hours) * time.Hour)
	list := searches
	if *only != "" {
		list = []string{*only}
	}
	// A trace id from the middle of the data, found by a search.
	mid, err := eng.Search(ctx, trace.SearchRequest{Start: start, End: start.Add(time.Duration(*hours) * time.Hour / 2), Limit: 1})
	if err != nil {
		return err
	}
	if len(mid.Traces) == 0 {
		return fmt.Errorf("no traces in the store")
	}
	id := mid.Traces[0].TraceID
	var spans int
	d := median(*runs, func() {
		tr, err := eng.Get(ctx, id)
		if err != nil {
			fail(err)
		}
		spans = tr.SpanCount
	})
	st, _ := db.Stats(ctx)
	fmt.Printf("store: %d events, %d bytes on disk (%.1f B/span)\n", st.Events, st.DiskBytes, float64(st.DiskBytes)/float64(st.Events))
	fmt.Printf("%-70s %10s %8s\n", "request", "median ms", "results")
	fmt.Printf("%-70s %10.1f %8d\n", "trace by id "+id+" (spans)", ms(d), spans)
	for _, f := range list {
		var n int
		d := median(*runs, func() {
			res, err := eng.Search(ctx, trace.SearchRequest{Filter: f, Start: start, End: end, Limit: 100})
			if err != nil {
				fail(fmt.Errorf("%s: %w", f, err))
			}
			n = len(res.Traces)
		})
		fmt.Printf("%-70s %10.1f %8d\n", "search "+f, ms(d), n)
	}
	if *only == "" {
		var n int
		d := median(*runs, func() {
			m, err := eng.ServiceMap(ctx, trace.MapRequest{Start: end.Add(-time.Hour), End: end})
			if err != nil {
				fail(err)
			}
			n = len(m.Nodes)
		})
		fmt.Printf("%-70s %10.1f %8d\n", "service map, last hour (nodes)", ms(d), n)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// median runs fn once to warm up, then runs times and returns the median.
func median(runs int, fn func()) time.Duration {
	fn()
	ds := make([]time.Duration, runs)
	for i := range ds {
		t := time.Now()
		fn()
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return ds[runs/2]
}
