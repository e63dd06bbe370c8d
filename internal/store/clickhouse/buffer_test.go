package clickhouse_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
)

// count counts a group's events in ClickHouse itself, not through sonde.
func count(t *testing.T, addr string, s store.Store, group string) int {
	t.Helper()
	n, err := strconv.Atoi(clickhouseClient(t, addr, "SELECT count() FROM "+schemaTable(t, s, group)))
	require.NoError(t, err)
	return n
}

// TestBufferInsertsInTheBackground checks that buffered events reach
// ClickHouse by themselves within BufferInterval, and at once when a
// segment reaches BufferRows; and that a second server, which has no
// access to this one's log, then sees them.
func TestBufferInsertsInTheBackground(t *testing.T) {
	name := freshDatabase(t, "background")
	db := open(t, name, func(o *clickhouse.Options) {
		o.BufferDir, o.BufferInterval, o.BufferRows = t.TempDir(), 300*time.Millisecond, 1000
	})
	defer db.Close()
	ctx := context.Background()
	require.NoError(t, db.Append(ctx, &store.Batch{Events: lines(t, "bg", 0, 10, "")}))
	other := open(t, name)
	defer other.Close()
	table := schemaTable(t, other, "bg")
	countNow := func() int {
		n, err := strconv.Atoi(clickhouseClient(t, addr1, "SELECT count() FROM "+table))
		require.NoError(t, err)
		return n
	}
	require.Eventually(t, func() bool { return countNow() == 10 }, 10*time.Second, 20*time.Millisecond,
		"events are inserted after BufferInterval without a query asking")

	// A segment that reaches BufferRows goes at once, long before an
	// interval of an hour.
	slow := open(t, freshDatabase(t, "rows"), func(o *clickhouse.Options) {
		o.BufferDir, o.BufferInterval, o.BufferRows = t.TempDir(), time.Hour, 100
	})
	defer slow.Close()
	require.NoError(t, slow.Append(ctx, &store.Batch{Events: lines(t, "rows", 0, 150, "")}))
	tbl := schemaTable(t, slow, "rows") // (Schema inserts these first, as every reader does)
	require.NoError(t, slow.Append(ctx, &store.Batch{Events: lines(t, "rows", 150, 150, "")}))
	require.Eventually(t, func() bool {
		n, err := strconv.Atoi(clickhouseClient(t, addr1, "SELECT count() FROM "+tbl))
		return err == nil && n == 300
	}, 10*time.Second, 20*time.Millisecond)
}

// TestBufferSchemaChange adds fields to a group while earlier blocks wait
// in the log: each column list is inserted as its own INSERT.
func TestBufferSchemaChange(t *testing.T) {
	db := open(t, freshDatabase(t, "alter"), func(o *clickhouse.Options) {
		o.BufferDir, o.BufferInterval = t.TempDir(), time.Hour
	})
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		require.NoError(t, db.Append(ctx, &store.Batch{Events: lines(t, "alter", i*10, 10, fmt.Sprintf("extra%d", i))}))
	}
	require.Equal(t, 50, count(t, addr1, db, "alter"))
	sch, err := db.Schema(ctx, "alter")
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		require.Contains(t, sch.Fields, fmt.Sprintf("extra%d", i))
	}
}

// crashChildEnv makes the test binary the process that
// TestBufferSurvivesKill kills: it appends batches, printing "acked N"
// after each one Append acknowledged, and then waits to be killed.
const crashChildEnv = "SONDE_TEST_BUFFER_CRASH_CHILD"

func TestBufferCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("run by TestBufferSurvivesKill")
	}
	parts := strings.Split(spec, ",") // addr,database,dir
	// Unsynced: what was written to the log outlives the process in the
	// page cache.
	db, err := clickhouse.Open(context.Background(), clickhouse.Options{
		Addrs: []string{parts[0]}, Database: parts[1], BufferDir: parts[2], BufferInterval: time.Hour, BufferNoFsync: true,
	})
	require.NoError(t, err)
	acked := 0
	for i := 0; i < 20; i++ {
		require.NoError(t, db.Append(context.Background(), &store.Batch{Events: lines(t, "crash", i*100, 100, "")}))
		acked += 100
		fmt.Printf("acked %d\n", acked)
	}
	select {} // until killed
}

// TestBufferSurvivesKill kills (SIGKILL) a process that holds acknowledged
// events only in its log, and opens the store again: every event must
// reach ClickHouse, once.
func TestBufferSurvivesKill(t *testing.T) {
	needServer(t)
	name, dir := freshDatabase(t, "crash"), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBufferCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+strings.Join([]string{addr1, name, dir}, ","))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	acked := 0
	sc := bufio.NewScanner(out)
	for acked < 2000 && sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
		}
	}
	require.Equal(t, 2000, acked, "the child acknowledged every batch")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()

	segs, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	require.NotEmpty(t, segs, "the acknowledged events wait in the log")
	db := open(t, name, func(o *clickhouse.Options) {
		o.BufferDir = dir
		o.InsertThreads, o.InsertChunkRows = 4, 300 // the replay as concurrent INSERTs
	})
	defer db.Close()
	require.Equal(t, 2000, count(t, addr1, db, "crash"), "every acknowledged event, once")
	segs, _ = filepath.Glob(filepath.Join(dir, "*.wal"))
	require.Empty(t, segs, "inserted segments are deleted")
}

// TestBufferedKilledMidIngest kills ClickHouse while batches keep coming
// into a buffered store: once an insert fails, Append refuses batches with
// ErrUnavailable; once ClickHouse is back, every acknowledged event is
// there.
func TestBufferedKilledMidIngest(t *testing.T) {
	srv := startOwnServer(t)
	db, err := clickhouse.Open(context.Background(), clickhouse.Options{
		Addrs: []string{srv.addr()}, Database: "sonde", WriteTimeout: 3 * time.Second, DialTimeout: time.Second,
		BufferDir: t.TempDir(), BufferInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	defer db.Close()
	ingestThroughKill(t, srv, db, func() {
		_, err := db.Snapshot(context.Background())
		require.ErrorIs(t, err, store.ErrUnavailable, "a query fails while buffered events cannot be inserted")
	})
}

// TestBufferDirIsLocked refuses a second store on the same log directory.
func TestBufferDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	db := open(t, freshDatabase(t, "lock"), func(o *clickhouse.Options) { o.BufferDir = dir })
	defer db.Close()
	needServer(t)
	_, err := clickhouse.Open(context.Background(), clickhouse.Options{Addrs: []string{addr1}, Database: freshDatabase(t, "lock2"), BufferDir: dir})
	require.ErrorContains(t, err, "in use by another sonde server")
}
