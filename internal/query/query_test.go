package query_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/query/querytest"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func TestGoldenDuckDB(t *testing.T) {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer db.Close()
	querytest.Run(t, db)
}

func TestMessagesDuckDB(t *testing.T) {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer db.Close()
	querytest.RunMessages(t, db)
}

func TestQueriesTimeOut(t *testing.T) {
	ctx := context.Background()
	db, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer db.Close()
	evs := make([]event.Event, 200_000)
	for i := range evs {
		evs[i] = event.Event{Group: "big", Time: querytest.Base + int64(i), Message: fmt.Sprintf("line %d with some words to parse %d", i, i*7)}
	}
	require.NoError(t, db.Append(ctx, &store.Batch{Events: evs}))
	eng, err := query.New(query.Options{Store: db, Timeout: 20 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	_, err = eng.Run(ctx, query.Request{
		Query: `parse @message /(?<a>\w+) (?<b>\d+) with (?<c>.*) (?<d>\d+)$/ | stats count_distinct(c), pct(d, 99) by a, b`,
		Start: time.UnixMilli(querytest.Base), End: time.UnixMilli(querytest.Base + 1e9),
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "query ran longer than 20ms")
	require.Less(t, time.Since(start), 5*time.Second, "the store stops working on it")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = eng.Run(cctx, query.Request{Query: "stats count(*)", Start: time.UnixMilli(0), End: time.UnixMilli(querytest.Base * 2)})
	require.ErrorIs(t, err, context.Canceled)
}

// TestTimeLayout checks that results write timestamps in TimeLayout: the
// engine writes them through event.LayoutSpaceMilli.
func TestTimeLayout(t *testing.T) {
	require.Equal(t, query.TimeLayout, event.LayoutSpaceMilli.GoLayout())
	ms := int64(1795132800043)
	require.Equal(t, time.UnixMilli(ms).UTC().Format(query.TimeLayout), query.FormatValue(ms, insights.TTime))
	require.Equal(t, time.UnixMilli(ms).UTC().Format(query.TimeLayout), query.FormatValue(float64(ms), insights.TTime))
}
