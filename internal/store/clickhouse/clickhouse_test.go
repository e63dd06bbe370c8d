package clickhouse_test

import (
	"context"
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
