package insights

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/sql golden files")

// accessSchema is a group as the store would describe access logs.
func accessSchema() *store.Schema {
	col := func(f string, k event.Kind, n string) store.Column { return store.Column{Field: f, Kind: k, Name: n} }
	return &store.Schema{
		Group: "api", Table: "g1",
		Fields: map[string][]store.Column{
			"timestamp":  {col("timestamp", event.KindTime, "c1")},
			"route":      {col("route", event.KindString, "c2")},
			"status":     {col("status", event.KindInt, "c3"), col("status", event.KindString, "c9")},
			"latency_ms": {col("latency_ms", event.KindFloat, "c4")},
			"client_ip":  {col("client_ip", event.KindIPv4, "c5")},
			"trace_id":   {col("trace_id", event.KindID128, "c6")},
			"message":    {col("message", event.KindString, "c7")},
		},
		Shapes: map[int32]*event.Shape{1: {Pieces: []event.Piece{
			{Lit: `{"timestamp":`}, {Field: "timestamp", Kind: event.KindTime}, {Lit: `,"route":`},
			{Field: "route", Kind: event.KindString}, {Lit: `,"status":`}, {Field: "status", Kind: event.KindInt},
			{Lit: `,"trace_id":`}, {Field: "trace_id", Kind: event.KindID128}, {Lit: `}`},
		}}},
	}
}

// TestCompileSQL pins the SQL of representative queries: review the diff of
// testdata/sql after a change (go test -update).
func TestCompileSQL(t *testing.T) {
	cases := map[string]string{
		"count-by-status":  `stats count(*) by status`,
		"trace-lookup":     `filter trace_id = "41f27cc6f3875d0468255aaf95e94627"`,
		"phrase":           `filter @message like "POST /checkout" | stats count(*)`,
		"ip-equals":        `filter client_ip = "10.0.0.1" and status >= 500 | fields route`,
		"parse-then-stats": `parse message "* * * *ms" as m, r, s, lat | filter lat > 100 | stats avg(lat) by r, bin(5m)`,
		"sort-dedup":       `fields route, status | sort status desc | dedup route | limit 5`,
	}
	target := Target{Groups: []*store.Schema{accessSchema()}, Start: 1000, End: 2000, Now: 1500}
	for name, src := range cases {
		q, err := Parse(src)
		require.NoError(t, err, src)
		c, err := Compile(q, target, DuckDB)
		require.NoError(t, err, src)
		path := filepath.Join("testdata", "sql", name+".sql")
		got := "-- " + src + "\n" + c.SQL + "\n"
		if *update {
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "missing golden file: go test -update")
		require.Equal(t, string(want), got, name)
	}
}

// TestBinBeforeEpoch checks that bins drop the correction for negative
// timestamps only when no group has an event before 1970.
func TestBinBeforeEpoch(t *testing.T) {
	q, err := Parse(`stats count(*) by bin(1h)`)
	require.NoError(t, err)
	for _, tc := range []struct {
		min         int64
		corrected   bool
		description string
	}{
		{min: 1000, corrected: false, description: "events after 1970"},
		{min: -3_600_000, corrected: true, description: "an event in 1969"},
	} {
		sch := accessSchema()
		sch.MinTime, sch.MaxTime = tc.min, 5000
		c, err := Compile(q, Target{Groups: []*store.Schema{sch}, Start: -1 << 40, End: 1 << 40}, DuckDB)
		require.NoError(t, err)
		require.Equal(t, tc.corrected, strings.Contains(c.SQL, "+ 3600000) % 3600000"), "%s: %s", tc.description, c.SQL)
	}
}
