package clickhouse

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
)

func TestColumnNames(t *testing.T) {
	require.Equal(t, "i_status", columnName("status", event.KindInt))
	require.Equal(t, "s_status", columnName("status", event.KindString))
	seen := map[string]string{}
	for _, f := range []string{"user.id", "user_id", "user-id", "user__id", "a__hb", strings.Repeat("x", 61), strings.Repeat("x", 60), "", "ü", "`", "@message"} {
		for k := event.KindString; k <= event.KindTime; k++ {
			name := columnName(f, k)
			key := f + "/" + k.String()
			require.Empty(t, seen[name], "%q and %q share column %q", seen[name], key, name)
			seen[name] = key
			require.Equal(t, name, columnName(f, k), "names are deterministic")
			require.LessOrEqual(t, len(name), 80)
			for _, sys := range []string{store.ColTime, store.ColIngest, store.ColStream, store.ColMessage, store.ColShape} {
				require.NotEqual(t, sys, name)
			}
		}
	}
	require.NotEqual(t, tableName("a/b"), tableName("a_b"))
	require.True(t, strings.HasPrefix(tableName("/aws/lambda/x"), "g__aws_lambda_x_"))
}

func TestParseURL(t *testing.T) {
	opts, err := ParseURL("clickhouse://u:p@ch1:9000,ch2/logs?cluster=main&compress=zstd&fsync=false&flush_rows=5000&flush_interval=1s&insert_threads=3&sort=time")
	require.NoError(t, err)
	require.Equal(t, []string{"ch1:9000", "ch2:9000"}, opts.Addrs)
	require.Equal(t, "logs", opts.Database)
	require.Equal(t, "main", opts.Cluster)
	require.Equal(t, "zstd", opts.Compression)
	require.Equal(t, "u", opts.Username)
	require.Equal(t, "p", opts.Password)
	require.True(t, opts.BufferNoFsync)
	require.Equal(t, 5000, opts.BufferRows)
	require.Equal(t, time.Second, opts.BufferInterval)
	require.Equal(t, 3, opts.InsertThreads)
	require.True(t, opts.SortByTime)
	opts, err = ParseURL("clickhouse://h/db?flush_interval=0")
	require.NoError(t, err)
	require.True(t, opts.NoBuffer)
	require.False(t, opts.BufferNoFsync, "the log is synced unless fsync=false")
	for _, bad := range []string{"duckdb:///x", "clickhouse:///db", "clickhouse://h/db?shards=2", "clickhouse://h/a`b",
		"clickhouse://h/db?fsync=sometimes", "clickhouse://h/db?insert_threads=0", "clickhouse://h/db?flush_rows=-1", "clickhouse://h/db?sort=route"} {
		_, err := ParseURL(bad)
		require.Error(t, err, bad)
	}
	require.True(t, loopback([]string{"127.0.0.1:9000", "localhost:9001", "[::1]:9000"}))
	require.False(t, loopback([]string{"127.0.0.1:9000", "ch1:9000"}))
}

// TestMatchedMarker checks that the store reads the marker the query
// dialect writes.
func TestMatchedMarker(t *testing.T) {
	require.Equal(t, insights.MatchedMarker, matchedMarker)
	sch := &store.Schema{Group: "g", Table: "`db`.`g`", Fields: map[string][]store.Column{
		"status": {{Field: "status", Kind: event.KindInt, Name: "i_status"}},
	}}
	for src, final := range map[string]bool{
		`filter status = 500 | stats count(*) by status`: false,
		`filter status = 500 | fields status`:            true,
		`filter status = 500 | limit any 3`:              false,
	} {
		q, err := insights.Parse(src)
		require.NoError(t, err)
		c, err := insights.Compile(q, insights.Target{Groups: []*store.Schema{sch}, Start: 0, End: 10}, insights.ClickHouse)
		require.NoError(t, err)
		m := parseMatched(c.SQL)
		require.Equal(t, final, m.final, src)
		require.True(t, strings.HasPrefix(m.rel, "(SELECT ") && strings.HasSuffix(m.rel, ")"), "%s: %s", src, m.rel)
		require.Contains(t, m.rel, "(i_status = 500)", src)
		require.Empty(t, m.scanned, "%s: a filter drops rows", src)
	}
	q, err := insights.Parse(`fields status | stats count(*) by status`)
	require.NoError(t, err)
	c, err := insights.Compile(q, insights.Target{Groups: []*store.Schema{sch}, Start: 0, End: 10}, insights.ClickHouse)
	require.NoError(t, err)
	require.Equal(t, c.CountSQL, parseMatched(c.SQL).scanned, "without filters the matched rows are the rows scanned")
	require.Empty(t, parseMatched("SELECT 1").rel)
	require.Empty(t, parseMatched(matchedMarker+"999:0:*/(SELECT 1)").rel, "a length past the end is no marker")
}
