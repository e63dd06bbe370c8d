package clickhouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/query/querytest"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
	"github.com/sonde-dev/sonde/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	needServer(t)
	dbs := map[string]string{}
	storetest.Run(t, func(t *testing.T, key string) store.Store {
		if dbs[key] == "" {
			dbs[key] = freshDatabase(t, key)
		}
		return open(t, dbs[key])
	})
}

// TestConformanceBuffered runs the suite with inserts buffered in a local
// log: whatever Append acknowledged, queries see.
func TestConformanceBuffered(t *testing.T) {
	needServer(t)
	dbs, dirs := map[string]string{}, map[string]string{}
	storetest.Run(t, func(t *testing.T, key string) store.Store {
		if dbs[key] == "" {
			dbs[key] = freshDatabase(t, key)
			dirs[key] = t.TempDir()
		}
		return open(t, dbs[key], func(o *clickhouse.Options) {
			o.BufferDir, o.BufferInterval = dirs[key], time.Hour
			// Every segment of more than one block goes as concurrent INSERTs.
			o.InsertThreads, o.InsertChunkRows = 3, 1
		})
	})
}

func TestGolden(t *testing.T) {
	db := open(t, freshDatabase(t, "golden"))
	defer db.Close()
	querytest.Run(t, db)
}

func TestMessages(t *testing.T) {
	db := open(t, freshDatabase(t, "messages"))
	defer db.Close()
	querytest.RunMessages(t, db)
}

func TestBadQueryCarriesClickHouseError(t *testing.T) {
	db := open(t, freshDatabase(t, "badquery"))
	defer db.Close()
	snap, err := db.Snapshot(context.Background())
	require.NoError(t, err)
	defer snap.Close()
	_, err = snap.Query(context.Background(), "SELECT no_such_function(1)")
	require.ErrorContains(t, err, "no_such_function")
	require.NotErrorIs(t, err, store.ErrUnavailable)
}

// TestSortKey checks the sort key of new group tables: hour, then the
// endpoint fields that the first batch has, then time; time alone for a
// group without them. Two servers that create one group at once, from
// batches with different fields, both succeed.
func TestSortKey(t *testing.T) {
	name := freshDatabase(t, "sortkey")
	db := open(t, name)
	defer db.Close()
	ctx := context.Background()
	engine := func(group string) string {
		return clickhouseClient(t, addr1, "SELECT engine_full FROM system.tables WHERE database = '"+name+"' AND name = '"+
			strings.Trim(strings.TrimPrefix(schemaTable(t, db, group), "`"+name+"`."), "`")+"'")
	}
	require.NoError(t, db.Append(ctx, &store.Batch{Events: storetest.Parse(t, "access",
		`{"service":"api","method":"GET","route":"/a","latency_ms":1.5}`,
		`{"method":"POST","route":"/b","latency_ms":2}`)}))
	require.Contains(t, engine("access"), "ORDER BY (intDiv(ts, 3600000), assumeNotNull(s_service), assumeNotNull(s_route), assumeNotNull(s_method), ts)")
	require.NoError(t, db.Append(ctx, &store.Batch{Events: storetest.Parse(t, "plain", `{"n":1}`, "text")}))
	require.Contains(t, engine("plain"), "ORDER BY ts")
	// A route that is a number is no string field to sort by.
	require.NoError(t, db.Append(ctx, &store.Batch{Events: storetest.Parse(t, "odd", `{"route":7,"endpoint":"/e"}`)}))
	require.Contains(t, engine("odd"), "ORDER BY (intDiv(ts, 3600000), assumeNotNull(s_endpoint), ts)")

	other := open(t, name)
	defer other.Close()
	errs := make(chan error, 2)
	go func() {
		errs <- db.Append(ctx, &store.Batch{Events: storetest.Parse(t, "race", `{"service":"s","route":"/r","a":1}`)})
	}()
	go func() {
		errs <- other.Append(ctx, &store.Batch{Events: storetest.Parse(t, "race", `{"method":"GET","b":2}`)})
	}()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	require.Equal(t, 2, count(t, addr1, db, "race"))
	sch, err := db.Schema(ctx, "race")
	require.NoError(t, err)
	for _, f := range []string{"service", "route", "method", "a", "b"} {
		require.Contains(t, sch.Fields, f)
	}
}
