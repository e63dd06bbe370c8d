package duckdb

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

func threads(t *testing.T, d *DB) int {
	t.Helper()
	var n int
	require.NoError(t, d.db.QueryRowContext(context.Background(), "SELECT current_setting('threads')").Scan(&n))
	return n
}

func batch(n int) *store.Batch {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Group: "g", Time: int64(1_795_132_800_000 + i), Message: "line",
			Fields: []event.Field{{Name: "i", Value: event.Int(int64(i))}}}
	}
	return &store.Batch{Events: evs}
}

// The writer runs on one DuckDB thread and gives the workers back once
// ingest pauses; queries that run while it writes see consistent data.
func TestWriterLendsThreadsBack(t *testing.T) {
	d, err := Open(context.Background(), Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer d.Close()
	require.Equal(t, 2, threads(t, d))
	d.solo.idle = time.Hour // the test gives the threads back itself

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int64
			err := d.db.QueryRowContext(context.Background(), "SELECT count(*) FROM duckdb_tables()").Scan(&n)
			require.NoError(t, err)
		}
	}()
	for i := 0; i < 20; i++ {
		require.NoError(t, d.Append(context.Background(), batch(500)))
	}
	require.Equal(t, 1, threads(t, d), "threads right after a commit")
	close(stop)
	wg.Wait()
	d.releaseSolo()
	require.Equal(t, 2, threads(t, d))

	n := 0
	require.NoError(t, d.Scan(context.Background(), store.ScanRequest{Group: "g"}, func(*event.Event) error { n++; return nil }))
	require.Equal(t, 20*500, n)
}

// Without a writer for soloIdle, DuckDB has its threads back.
func TestWriterGivesThreadsBackWhenIdle(t *testing.T) {
	d, err := Open(context.Background(), Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 2})
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Append(context.Background(), batch(10)))
	require.Eventually(t, func() bool { return threads(t, d) == 2 }, 5*time.Second, soloIdle)
}

// A store opened with one thread never changes the setting.
func TestWriterSoloWithOneThread(t *testing.T) {
	d, err := Open(context.Background(), Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Append(context.Background(), batch(10)))
	require.False(t, d.solo.on)
	require.Equal(t, 1, threads(t, d))
}
