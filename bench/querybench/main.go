// Command querybench times the query-language benchmark: the six queries of
// the query issue through sonde's query engine, and the same questions as
// hand-written SQL on sonde's own tables, on a store built by
// bench/ingest.sh. It prints the hot median of 5 runs of each (-runs),
// sonde and SQL alternating, and the ratios to hand-written SQL and to
// VictoriaLogs' published times.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/bench/internal/paired"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

type benchQuery struct {
	name     string
	insights string
	sql      string // with {route} {status} {lat} {msg} {trace} {table} placeholders
	vlMs     float64
}

func main() {
	dir := flag.String("dir", "bench/out/data/events", "store directory")
	group := flag.String("group", "bench", "log group")
	runs := flag.Int("runs", 5, "timed runs per query (median)")
	flag.Parse()
	ctx := context.Background()
	db, err := duckdb.Open(ctx, duckdb.Options{Dir: *dir})
	if err != nil {
		fail(err)
	}
	defer db.Close()
	sch, err := db.Schema(ctx, *group)
	if err != nil {
		fail(err)
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
	_ = db.Scan(ctx, store.ScanRequest{Group: *group, Limit: 1_000_001}, func(ev *event.Event) error {
		if v, ok := ev.Get("trace_id"); ok {
			trace = v.Text(ev.Time)
		}
		return nil
	})
	// The scan above leaves a million events of garbage: collect it now, not
	// while the first query is timed.
	runtime.GC()
	repl := strings.NewReplacer("{route}", col("route"), "{status}", col("status"), "{lat}", col("latency_ms"),
		"{msg}", col("message"), "{trace}", col("trace_id"), "{table}", sch.Table, "{id}", trace)
	queries := []benchQuery{
		{"count by status", `stats count(*) by status`,
			`SELECT {status}, count(*) FROM {table} GROUP BY 1`, 47},
		{"p99 latency by route", `stats pct(latency_ms, 99) by route`,
			`SELECT {route}, quantile_cont({lat}, 0.99) FROM {table} GROUP BY 1`, 533},
		{"avg latency by route, 1m", `stats avg(latency_ms) by route, bin(1m)`,
			`SELECT {route}, ts - ts % 60000, avg({lat}) FROM {table} GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 10000`, 240},
		{"5xx count by route", `filter status >= 500 | stats count(*) by route`,
			`SELECT {route}, count(*) FROM {table} WHERE {status} >= 500 GROUP BY 1`, 45},
		{"phrase \"POST /checkout\" count", `filter message like "POST /checkout" | stats count(*)`,
			`SELECT count(*) FROM {table} WHERE contains({msg}, 'POST /checkout')`, 89},
		{"trace_id lookup", `filter trace_id = "{id}"`,
			`SELECT * FROM {table} WHERE {trace} = '{id}'::UUID`, 17},
		{"(extra) phrase in @message", `filter @message like "POST /checkout" | stats count(*)`,
			`SELECT count(*) FROM {table} WHERE contains({msg}, 'POST /checkout')`, 89},
	}
	eng, err := query.New(query.Options{Store: db})
	if err != nil {
		fail(err)
	}
	start, end := time.UnixMilli(0), time.Now().Add(365*24*time.Hour)
	fmt.Printf("%-32s %10s %10s %8s %8s %8s\n", "query", "sonde ms", "SQL ms", "ratio", "VL ms", "vs VL")
	for _, q := range queries {
		q.insights = repl.Replace(q.insights)
		sql := repl.Replace(q.sql)
		var rowsSonde, rowsSQL int
		sonde, hand := paired.Medians(*runs, func() {
			res, err := eng.Run(ctx, query.Request{Query: q.insights, Start: start, End: end, Groups: []string{*group}})
			if err != nil {
				fail(fmt.Errorf("%s: %w", q.insights, err))
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
				rows.Scan(ptrs...)
				rowsSQL++
			}
			rows.Close()
		})
		fmt.Printf("%-32s %10.1f %10.1f %7.2fx %8.0f %7.2fx   (rows %d/%d)\n", q.name, ms(sonde), ms(hand), ms(sonde)/ms(hand), q.vlMs, ms(sonde)/q.vlMs, rowsSonde, rowsSQL)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "querybench:", err)
	os.Exit(1)
}
