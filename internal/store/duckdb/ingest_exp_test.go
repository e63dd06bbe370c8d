package duckdb_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestIngestExperiment(t *testing.T) {
	path := os.Getenv("EXP_FILE")
	if path == "" {
		t.Skip()
	}
	bs, _ := strconv.Atoi(os.Getenv("EXP_BATCH"))
	dir := os.Getenv("EXP_DIR")
	os.RemoveAll(dir)
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: dir, MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	p := event.NewParser(event.NewShapes(1000), event.ParserOptions{})
	var all []event.Event
	c0 := cpu()
	for sc.Scan() {
		var ev event.Event
		line := sc.Text()
		if _, err := p.Parse(line, 0, &ev); err != nil {
			t.Fatal(err)
		}
		ev.Group = "bench"
		all = append(all, ev)
	}
	parseCPU := cpu() - c0
	c0 = cpu()
	t0 := time.Now()
	for i := 0; i < len(all); i += bs {
		if err := db.Append(context.Background(), &store.Batch{Events: all[i:min(i+bs, len(all))]}); err != nil {
			t.Fatal(err)
		}
	}
	appendCPU := cpu() - c0
	wall := time.Since(t0)
	c := cpu()
	db.Close()
	closeCPU := cpu() - c
	var size int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if fi != nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	n := len(all)
	t.Logf("batch %d lines %d parse(incl scan) %v append wall %v cpu %v close %v => append+close %.2f us/line; %.2f B/line", bs, n, parseCPU, wall, appendCPU, closeCPU, float64((appendCPU+closeCPU).Microseconds())/float64(n), float64(size)/float64(n))
}

func TestInspectExperiment(t *testing.T) {
	path := os.Getenv("EXP_DB")
	if path == "" {
		t.Skip()
	}
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	snap, _ := db.Snapshot(context.Background())
	defer snap.Close()
	rows, err := snap.Query(context.Background(), "select column_name, compression, count(*), count(distinct block_id) from pragma_storage_info('g1') where segment_type not in ('VALIDITY') group by all order by 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, c string
		var k, b int
		rows.Scan(&n, &c, &k, &b)
		t.Logf("%s %s segs=%d blocks=%d", n, c, k, b)
	}
	rows.Close()
	rows, _ = snap.Query(context.Background(), "select block_size, total_blocks, used_blocks, free_blocks from pragma_database_size()")
	for rows.Next() {
		var a, b, c, d int64
		rows.Scan(&a, &b, &c, &d)
		t.Logf("block %d total %d used %d free %d", a, b, c, d)
	}
	rows.Close()
}
