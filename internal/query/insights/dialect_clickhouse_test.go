package insights

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/store"
)

func TestClickHouseStrRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `it's`, `back\slash`, "nul\x00byte", `\'`, "new\nline"} {
		q := ClickHouse.Str(s)
		got, ok := unquoteStr(q)
		require.True(t, ok, q)
		require.Equal(t, s, got)
	}
	for _, notLiteral := range []string{"x", "'a' || 'b'", "'a', 'b'", "concat('a', 'b')"} {
		_, ok := unquoteStr(notLiteral)
		require.False(t, ok, notLiteral)
	}
}

func TestOnlyGroup(t *testing.T) {
	tests := []struct {
		re   string
		n    int
		want string
	}{
		{`(a)(b)`, 1, `(a)(?:b)`},
		{`(a)(b)`, 2, `(?:a)(b)`},
		{`(?P<verb>GET|POST) (?P<path>\S+)`, 2, `(?:GET|POST) (\S+)`},
		{`(?<x>a)(?:b)(c)`, 2, `(?:a)(?:b)(c)`},
		{`\((a)\)[(](b)`, 2, `\((?:a)\)[(](b)`},
		{`[]()](x)`, 1, `[]()](x)`},
		{`(?i)(err)`, 1, `(?i)(err)`},
	}
	for _, tc := range tests {
		got := onlyGroup(tc.re, tc.n)
		require.Equal(t, tc.want, got, "%s group %d", tc.re, tc.n)
		re := regexp.MustCompile(got)
		require.Equal(t, 1, re.NumSubexp(), got)
	}
}

func TestClickHouseMarkMatched(t *testing.T) {
	rel := "(SELECT 1 AS v1 WHERE x = '*/')"
	got := clickhouseDialect{}.MarkMatched(rel, true, "")
	require.True(t, strings.HasPrefix(got, MatchedMarker))
	require.True(t, strings.HasSuffix(got, rel))
	require.Equal(t, MatchedMarker+"31:1:*/"+rel, got)
	got = clickhouseDialect{}.MarkMatched(rel, false, "SELECT 1*/")
	require.Equal(t, MatchedMarker+"31:0:U0VMRUNUIDEqLw*/"+rel, got)
}

// TestClickHouseCompiles compiles every command and function of the
// language for ClickHouse; the query golden tests of the ClickHouse store
// check what the SQL answers.
func TestClickHouseCompiles(t *testing.T) {
	target := Target{Groups: []*store.Schema{accessSchema()}, Start: 1000, End: 2000, Now: 1500}
	for _, src := range []string{
		`fields @timestamp, @message | sort @timestamp desc | limit 20`,
		`filter @message like /(?i)error/ and client_ip = "10.0.0.1" | stats count(*) by bin(1mo)`,
		`parse message /(?<verb>\w+) (?<path>\S+)/ | stats pct(latency_ms, 99), count_distinct(route), earliest(route), latest(status) by verb`,
		`fields jsonParse(message) as j | fields j.k, jsonStringify(j) | unnest j into e | dedup route`,
		`fields isIpv6InSubnet(client_ip, "2001:db8::/32"), substr(route, 1, 2), ltrim(route, "/"), greatest(1, status, 2.5), 7 % 2`,
	} {
		q, err := Parse(src)
		require.NoError(t, err, src)
		c, err := Compile(q, target, ClickHouse)
		require.NoError(t, err, src)
		require.NotContains(t, c.SQL, "TRUE", src)
		require.NotContains(t, c.SQL, "FALSE", src)
		require.NotContains(t, c.SQL, "CASE shape WHEN", src)
	}
}

// TestClickHouseCountsMatched checks that the first aggregation counts the
// rows it takes in when all its groups reach the result, that those rows
// stand for the rows scanned when nothing filtered them, and that the rows
// scanned are otherwise counted within the statement.
func TestClickHouseCountsMatched(t *testing.T) {
	type want struct{ counted, areScanned, scannedColumn bool }
	for src, w := range map[string]want{
		`filter status >= 500 | stats count(*) by route`:               {true, false, true},
		`stats avg(latency_ms) by route, bin(1m) | sort route`:         {true, true, false},
		`stats count(*) as n by route | filter n > 1`:                  {false, false, true},
		`stats count(*) by route | stats count(*)`:                     {false, false, true},
		`filter status >= 500 | fields route`:                          {false, false, true},
		`filter status >= 500 | stats count(*) by route | limit 5`:     {true, false, true}, // the engine checks the limit
		`filter status >= 500 | limit 50 | stats count(*) by route`:    {false, false, true},
		`fields route | filter status = 200 | stats count(*) by route`: {true, false, true},
		`fields route | stats count(*) by route`:                       {true, true, false},
	} {
		q, err := Parse(src)
		require.NoError(t, err, src)
		c, err := Compile(q, Target{Groups: []*store.Schema{accessSchema()}, Start: 1000, End: 2000}, ClickHouse)
		require.NoError(t, err, src)
		require.Equal(t, w.counted, c.MatchedColumn >= 0, src)
		require.Equal(t, w.areScanned, c.MatchedAreScanned, src)
		require.Equal(t, w.scannedColumn, c.ScannedColumn >= 0, src)
		require.NotEmpty(t, c.CountSQL, src)
		if c.ScannedColumn >= 0 {
			require.Contains(t, c.SQL, strings.TrimPrefix(c.CountSQL, "SELECT ")+" AS hs", src)
		}
	}
}

// TestClickHouseConstantBranches checks the SQL of a union whose branches
// would all select the same constant column: Distributed tables in
// ClickHouse refuse it.
func TestClickHouseConstantBranches(t *testing.T) {
	a, b := accessSchema(), accessSchema()
	b.Group, b.Table = "other", "g2"
	target := Target{Groups: []*store.Schema{a, b}, Start: 1000, End: 2000}
	for src, want := range map[string]string{
		`stats count(*) by @log`: `materialize('other') AS`,
		`stats count(*)`:         `materialize(1) AS v0`,
		`fields nosuch`:          `(SELECT *, NULL AS`,
	} {
		q, err := Parse(src)
		require.NoError(t, err, src)
		c, err := Compile(q, target, ClickHouse)
		require.NoError(t, err, src)
		require.Contains(t, c.SQL, want, src)
	}
}
