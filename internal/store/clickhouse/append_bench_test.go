package clickhouse_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// BenchmarkAppend appends batches of 10,000 access-log events (the event
// package's sample lines, repeated) and reports the store's cost per event.
func BenchmarkAppend(b *testing.B) {
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "..", "event", "testdata", "access.ndjson"))
	require.NoError(b, err)
	defer f.Close()
	var sample []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sample = append(sample, sc.Text())
	}
	p := event.NewParser(event.NewShapes(1000), event.ParserOptions{})
	n := 10_000
	if s := os.Getenv("BENCH_BATCH"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	evs := make([]event.Event, n)
	for i := range evs {
		_, err := p.Parse(sample[i%len(sample)], 1_795_132_800_000+int64(i), &evs[i])
		require.NoError(b, err)
		evs[i].Group = "bench"
	}
	db := open(b, freshDatabase(b, "appendbench"))
	defer db.Close()
	ctx := context.Background()
	require.NoError(b, db.Append(ctx, &store.Batch{Events: evs}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		require.NoError(b, db.Append(ctx, &store.Batch{Events: evs}))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
