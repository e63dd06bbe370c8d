package insights_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/query/dataset"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

// evalFilters are filter expressions whose answers the evaluator must give
// exactly as the SQL engine does, on every event of the golden dataset
// (and of the "numbers" group below, which probes number text).
var evalFilters = []string{
	// Numbers, strings and their mixes.
	`status >= 500`,
	`status >= 500 and route like "/checkout"`,
	`status != 200`,
	`not (status = 200)`,
	`status = "404"`,
	`status = "abc"`,
	`status > "300"`,
	`500 <= status`,
	`"GET" = method`,
	`latency_ms > 100.5`,
	`latency_ms like "10.0"`,
	`latency_ms like /^2500/`,
	`latency_ms * 2 > 5000`,
	`bytes / 10 = 10`,
	`bytes % 100 = 0`,
	`-latency_ms < -2000`,
	`latency_ms + bytes > 2700`,
	`status >= 500 or latency_ms > 2000`,
	`route < "/s"`,
	`service = 'billing-api'`,
	`status`,
	`note`,
	// Matching.
	`route =~ /id/`,
	`route like "/Sessions"`,
	`not (route like "/s")`,
	`route not like "/s"`,
	`route in ["/health", "/checkout"]`,
	`route not in ["/health", "/checkout"]`,
	`method in ["get", "GET"] and status in [200, 201]`,
	`message like "ms"`,
	`@message like "Hello"`,
	`@message like /GET \/sessions/`,
	`@message like "Duration:"`,
	`@message like "\"v\":1,"`,
	`@logStream = "stream-misc"`,
	`@log = "api" and status = 404`,
	// Ids, addresses and times.
	`client_ip = "10.0.0.0"`,
	`client_ip != "10.0.0.0"`,
	`client_ip like "10.1."`,
	`client_ip > "10.1"`,
	`trace_id = "41f27cc6f3875d0468255aaf95e94600"`,
	`trace_id != "nothex"`,
	`trace_id like "9460a"`,
	`trace_id = 5`,
	`ip = "10.0.0.7"`,
	`ip like ":"`,
	`@timestamp > "2026-11-20T00:05:00Z"`,
	`@timestamp >= 1795133100000`,
	`@timestamp like "00:01"`,
	`timestamp like "00:01"`,
	`timestamp = "2026-11-20T00:00:15.037Z"`,
	`ts > 1795132800150`,
	// Fields of several kinds, negated too: the column that holds an
	// event's value decides, the others' NULLs do not.
	`v = 1`,
	`not (v = 1)`,
	`not (v > 2)`,
	`not (v like "1")`,
	`v not in [1, "one"]`,
	`not (v = "one" or v = 2.5)`,
	`v = "one"`,
	`v != "one"`,
	`v > 2`,
	`v like "1"`,
	`v = "true"`,
	`v`,
	// Nested and odd names, absent fields.
	"`foo-bar` > 3",
	`user.id >= 18`,
	`user.roles.1 = "admin"`,
	`user.roles.0 != "admin"`,
	`items.0.name in ["a", "c"]`,
	`error.stack.1 = "b.go:2"`,
	`functionName = "notify" or level = "debug"`,
	`@duration > 150`,
	`@type = "REPORT" and @maxMemoryUsed >= 62000000`,
	`nosuchfield != 1`,
	`not (nosuchfield = 1)`,
	`nosuchfield not in [1, 2]`,
	// Functions.
	`ispresent(host.name)`,
	`not ispresent(error.type)`,
	`isblank(note)`,
	`isempty(note)`,
	`strlen(note) > 3`,
	`tolower(method) = "get"`,
	`toupper(service) like "BILLING"`,
	`strcontains(route, "sess") = 1`,
	`concat(method, " ", route) = "GET /sessions"`,
	`abs(-bytes) > 400`,
	`greatest(status, 300) = 300`,
	`least(status, nosuchfield) = 200`,
	`floor(latency_ms) = 10`,
	`ceil(latency_ms) = 2501`,
	// The numbers group: DuckDB's number text and TRY_CAST.
	`f like "e-05"`,
	`f like "e+16"`,
	`f like ".0"`,
	`f like "-0.0"`,
	`f = "0.0001"`,
	`f = "abc"`,
	`f > "1e+15"`,
	`s > 11`,
	`s = 1000`,
	`s < 100`,
	`s + 0 > 0`,
	`s = "inf"`,
}

// numbersLines are the extra group "numbers".
var numbersLines = []string{
	`{"f":1e-05,"s":" 12 "}`,
	`{"f":1e16,"s":"1_000"}`,
	`{"f":1e15,"s":"0x10"}`,
	`{"f":-0.0,"s":"inf"}`,
	`{"f":0.0001,"s":"1e3"}`,
	`{"f":123456789.5,"s":"5."}`,
	`{"f":2.5e-7,"s":"_1"}`,
	`{"f":1.5e300,"s":"+7"}`,
}

// base is the golden dataset's day, the @timestamp of lines without one.
const base = dataset.Base

func TestEvalAgreesWithSQL(t *testing.T) {
	ctx := context.Background()
	db, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer db.Close()

	events := dataset.Load(t)
	require.Greater(t, len(events), 50)
	p := event.NewParser(event.NewShapes(100), event.ParserOptions{})
	for i, line := range numbersLines {
		var ev event.Event
		_, err := p.Parse(line, base+int64(i), &ev)
		require.NoError(t, err)
		ev.Group, ev.Stream = "numbers", "stream-numbers"
		events = append(events, ev)
	}
	require.NoError(t, db.Append(ctx, &store.Batch{Events: events, IngestTime: base}))
	eng, err := query.New(query.Options{Store: db})
	require.NoError(t, err)

	key := func(group, ts, msg string) string { return group + "|" + ts + "|" + msg }
	for _, src := range evalFilters {
		t.Run(src, func(t *testing.T) {
			expr, err := insights.ParseFilter(src)
			require.NoError(t, err)
			pred, err := insights.CompilePredicate(expr)
			require.NoError(t, err)
			var got []string
			for i := range events {
				ev := &events[i]
				if pred.Match(ev) {
					got = append(got, key(ev.Group, time.UnixMilli(ev.Time).UTC().Format(query.TimeLayout), ev.Rebuild()))
				}
			}
			res, err := eng.Run(ctx, query.Request{
				Query: "filter " + src + " | fields @log, @timestamp, @message",
				Start: time.UnixMilli(base - 86_400_000), End: time.UnixMilli(base + 86_400_000),
			})
			require.NoError(t, err)
			var want []string
			for _, row := range res.Rows {
				want = append(want, key(row[0].(string), row[1].(string), row[2].(string)))
			}
			sort.Strings(got)
			sort.Strings(want)
			require.Equal(t, want, got, "events the SQL engine and the evaluator keep for %s", src)
		})
	}
}

// TestEvalFilterMatches pins a few answers, so that a change that breaks
// both the SQL and the evaluator in the same way is noticed.
func TestEvalFilterMatches(t *testing.T) {
	ev := &event.Event{Group: "api", Time: base, Fields: []event.Field{
		{Name: "status", Value: event.Int(503)},
		{Name: "route", Value: event.String("/checkout/pay")},
		{Name: "latency_ms", Value: event.Float(12.5)},
		{Name: "ok", Value: event.Bool(false)},
	}}
	for src, want := range map[string]bool{
		`status >= 500 and route like "/checkout"`: true,
		`status >= 500 and route like "/Checkout"`: false,
		`route like /^\/checkout\/\w+$/`:           true,
		`missing != 1`:                             false,
		`not (missing = 1)`:                        false,
		`missing = 1 or status = 503`:              true,
		`latency_ms like "12.5"`:                   true,
		`latency_ms = "12.5"`:                      true,
		`status in [500, 503]`:                     true,
		`status not in [500, 503]`:                 false,
		`ok = "false"`:                             true,
		`ok`:                                       false,
		`not ok`:                                   true,
		`status =~ /^5/`:                           true,
	} {
		expr, err := insights.ParseFilter(src)
		require.NoError(t, err, src)
		pred, err := insights.CompilePredicate(expr)
		require.NoError(t, err, src)
		require.Equal(t, want, pred.Match(ev), src)
	}
}

func TestParseFilterErrors(t *testing.T) {
	for src, want := range map[string]string{
		`status >= `:                    "1:11: expected an expression, found end of query",
		`status >= 500 | stats count()`: "1:15: unexpected '|' after the filter expression",
		`count(*) > 1`:                  "1:1: aggregate function count is only allowed in stats, not in filter",
		`route like 5`:                  "1:12: expected a quoted string or a /regex/",
		``:                              "1:1: expected a filter expression",
		`x in [y]`:                      "1:7: in [...] takes quoted strings and numbers",
	} {
		_, err := insights.ParseFilter(src)
		require.Error(t, err, src)
		require.Contains(t, err.Error(), want, src)
	}
	for src, want := range map[string]string{
		`@ingestionTime > 0`:            "1:1: @ingestionTime is set by the store",
		`isValidIp(client_ip)`:          "1:1: isValidIp cannot be evaluated outside the store",
		`status > 1 and bin(5m) > 0`:    "1:16: bin cannot be evaluated outside the store",
		`datefloor(@timestamp, 1h) > 0`: "1:1: datefloor cannot be evaluated",
	} {
		expr, err := insights.ParseFilter(src)
		require.NoError(t, err, src)
		_, err = insights.CompilePredicate(expr)
		require.Error(t, err, src)
		require.True(t, strings.Contains(err.Error(), want), "%s: %v", src, err)
	}
}

func BenchmarkPredicateMatch(b *testing.B) {
	expr, err := insights.ParseFilter(`status >= 500 and route like "/checkout"`)
	require.NoError(b, err)
	pred, err := insights.CompilePredicate(expr)
	require.NoError(b, err)
	ev := &event.Event{Group: "api", Time: base, Fields: []event.Field{
		{Name: "timestamp", Value: event.String("2026-11-20T00:00:00.000Z")},
		{Name: "service", Value: event.String("billing-api")},
		{Name: "method", Value: event.String("GET")},
		{Name: "route", Value: event.String("/checkout")},
		{Name: "status", Value: event.Int(503)},
		{Name: "latency_ms", Value: event.Float(12.5)},
	}}
	b.ReportAllocs()
	for b.Loop() {
		if !pred.Match(ev) {
			b.Fatal("no match")
		}
	}
}
