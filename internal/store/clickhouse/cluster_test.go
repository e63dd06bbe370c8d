package clickhouse_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/query/querytest"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
	"github.com/sonde-dev/sonde/internal/store/storetest"
)

// lines makes n JSON lines of group g: field "n" numbers them from first;
// extra names one more field every line has.
func lines(t testing.TB, g string, first, n int, extra string) []event.Event {
	var ls []string
	for i := first; i < first+n; i++ {
		l := fmt.Sprintf(`{"n":%d,"route":"/r%d","status":%d`, i, i%3, 200+i%2*300)
		if extra != "" {
			l += fmt.Sprintf(`,%q:%d`, extra, i)
		}
		ls = append(ls, l+"}")
	}
	return storetest.Parse(t, g, ls...)
}

// countQuery runs "stats count(*)" through the query engine over a day.
func countQuery(t *testing.T, s store.Store, q string) int64 {
	t.Helper()
	eng, err := query.New(query.Options{Store: s})
	require.NoError(t, err)
	res, err := eng.Run(context.Background(), query.Request{Query: q, Start: time.UnixMilli(1_795_132_800_000), End: time.UnixMilli(1_795_132_800_000 + 86_400_000)})
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	return res.Rows[0][0].(int64)
}

// appendAtOnce appends one batch to each store at the same moment.
func appendAtOnce(t *testing.T, stores []store.Store, batches [][]event.Event) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	start := make(chan struct{})
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = stores[i].Append(context.Background(), &store.Batch{Events: batches[i]})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "store %d", i)
	}
}

// testSharedDatabase checks that two stores on one database (two sonde
// servers) see each other's groups, fields and shapes, and that both can
// discover the same new fields at the same moment.
func testSharedDatabase(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	require.NoError(t, a.Append(ctx, &store.Batch{Events: lines(t, "web", 0, 100, "")}))
	require.NoError(t, b.Append(ctx, &store.Batch{Events: lines(t, "web", 100, 100, "fromB")}))
	for round := 0; round < 5; round++ {
		f := "both" + strconv.Itoa(round)
		appendAtOnce(t, []store.Store{a, b}, [][]event.Event{
			lines(t, "web", 1000+round*20, 10, f), lines(t, "web", 1010+round*20, 10, f),
		})
	}
	time.Sleep(100 * time.Millisecond) // the stores' Refresh is 50ms
	for name, s := range map[string]store.Store{"a": a, "b": b} {
		sch, err := s.Schema(ctx, "web")
		require.NoError(t, err, name)
		require.Contains(t, sch.Fields, "fromB", name)
		for round := 0; round < 5; round++ {
			require.Len(t, sch.Fields["both"+strconv.Itoa(round)], 1, "%s: one column for a field both found at once", name)
		}
		var n int
		err = s.Scan(ctx, store.ScanRequest{Group: "web"}, func(ev *event.Event) error {
			n++
			if _, ok := ev.Get("fromB"); ok && ev.Shape == nil {
				return fmt.Errorf("event %d lost its shape", ev.Time)
			}
			return nil
		})
		require.NoError(t, err, name)
		require.Equal(t, 300, n, name)
		require.EqualValues(t, 300, countQuery(t, s, "stats count(*)"), name)
		require.EqualValues(t, 100, countQuery(t, s, "filter ispresent(fromB) | stats count(*)"), name)
		require.EqualValues(t, 20, countQuery(t, s, "filter both3 > 0 | stats count(*)"), name)
	}
}

func TestTwoStoresOneServer(t *testing.T) {
	db := freshDatabase(t, "shared")
	a, b := open(t, db), open(t, db)
	defer a.Close()
	defer b.Close()
	testSharedDatabase(t, a, b)
}

// TestCluster runs two stores on the two-shard cluster, each talking to a
// different shard's server.
func TestCluster(t *testing.T) {
	db := freshDatabase(t, "cluster")
	a, b := open(t, db, inCluster(t, addr1)), open(t, db, inCluster(t, addr2))
	defer a.Close()
	defer b.Close()
	testSharedDatabase(t, a, b)

	// Batches spread over both shards.
	for i := 0; i < 8; i++ {
		evs := lines(t, "web", 2000+i*5, 5, "")
		require.NoError(t, a.Append(context.Background(), &store.Batch{Events: evs, IngestTime: 1_795_132_800_000 + int64(i)}))
	}
	sch, err := a.Schema(context.Background(), "web")
	require.NoError(t, err)
	for _, addr := range []string{addr1, addr2} {
		n, err := strconv.Atoi(clickhouseClient(t, addr, "SELECT count() FROM "+sch.Table+"_l"))
		require.NoError(t, err)
		require.Greater(t, n, 0, "rows on shard %s", addr)
	}
	// Retention drops the partitions on every shard.
	old := lines(t, "web", 5000, 50, "")
	for i := range old {
		old[i].Time -= 40 * 86_400_000
	}
	require.NoError(t, b.Append(context.Background(), &store.Batch{Events: old}))
	n, err := a.EnforceRetention(context.Background(), time.UnixMilli(1_795_132_800_000))
	require.NoError(t, err)
	require.EqualValues(t, 50, n)
	require.EqualValues(t, 340, countQuery(t, b, "stats count(*)"))
}

// inCluster opens stores on the two-shard cluster through the given server.
func inCluster(t *testing.T, addr string) func(*clickhouse.Options) {
	t.Helper()
	needServer(t)
	if cluster == "" || addr2 == "" {
		t.Skip("no two-shard cluster (SONDE_CLICKHOUSE_CLUSTER, SONDE_CLICKHOUSE_ADDR2)")
	}
	return func(o *clickhouse.Options) { o.Addrs, o.Cluster = []string{addr}, cluster }
}

func TestConformanceCluster(t *testing.T) {
	edit := inCluster(t, addr1)
	dbs := map[string]string{}
	storetest.Run(t, func(t *testing.T, key string) store.Store {
		if dbs[key] == "" {
			dbs[key] = freshDatabase(t, "c"+key)
		}
		return open(t, dbs[key], edit)
	})
}

func TestGoldenCluster(t *testing.T) {
	db := open(t, freshDatabase(t, "cgolden"), inCluster(t, addr2))
	defer db.Close()
	querytest.Run(t, db)
}

// TestClusterBuffered is TestCluster with inserts buffered in each store's
// own log: once a store's flush interval passed, the other sees its events.
func TestClusterBuffered(t *testing.T) {
	db := freshDatabase(t, "clusterbuf")
	buffered := func(o *clickhouse.Options) { o.BufferDir, o.BufferInterval = t.TempDir(), 20*time.Millisecond }
	a, b := open(t, db, inCluster(t, addr1), buffered), open(t, db, inCluster(t, addr2), buffered)
	defer a.Close()
	defer b.Close()
	testSharedDatabase(t, a, b)
}
