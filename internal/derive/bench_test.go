package derive_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/derive"
	"github.com/sonde-dev/sonde/internal/event"
)

// benchLines are genlogs' lines: 100,000 from the generator when the
// shared benchmark tools sit beside the repository (as in CI), else the
// 2,000 of testdata.
func benchLines(b *testing.B) []string {
	out, err := exec.Command("go", "run", "-C", "../../../shared/bench/genlogs", ".", "-n", "100000").Output()
	if err == nil {
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	b.Logf("genlogs unavailable (%v): using testdata", err)
	return genlogs(b)
}

// otherLines are application log lines that are not access logs: the
// events most groups hold.
func otherLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"timestamp":"2026-11-20T00:00:00.000Z","level":"info","logger":"cache","msg":"refreshed %d entries","entries":%d,"elapsed_ms":%d,"region":"eu-west-1","pid":4242,"thread":"worker-%d","trace_id":"41f27cc6f3875d0468255aaf95e9460%d"}`, i, i, i%50, i%8, i%10)
	}
	return lines
}

// touch reads every field of a batch, as the store's Append does just
// before the pipeline hands the batch to its observers, so that the batch
// is in the CPU caches as it is there.
func touch(evs []event.Event) int {
	n := 0
	for i := range evs {
		for _, f := range evs[i].Fields {
			n += len(f.Name) + len(f.Str) + int(f.X)
			if len(f.Str) > 0 {
				n += int(f.Str[0]) + int(f.Str[len(f.Str)-1])
			}
		}
	}
	return n
}

// BenchmarkObserve measures Deriver.Observe per event, on the ingest hot
// path, for batches of 1,000 events as the pipeline commits them. The
// batch is read before each call, as the store reads it just before
// (cold/ variants skip that: every event is then a cache miss, as for the
// first events of a 100,000-event group commit).
//
//	red:       genlogs access logs, RED and EMF on (the defaults)
//	nomatch:   application logs that are no access logs, RED and EMF on
//	filters:   genlogs with one metric filter, RED and EMF on
//	disabled:  genlogs with every derivation off
func BenchmarkObserve(b *testing.B) {
	p := event.NewParser(event.NewShapes(10_000), event.ParserOptions{})
	toEvents := func(lines []string) []event.Event {
		evs := make([]event.Event, len(lines))
		for i, l := range lines {
			_, err := p.Parse(l, time.Now().UnixMilli(), &evs[i])
			require.NoError(b, err)
			evs[i].Group = "api"
		}
		return evs
	}
	access := toEvents(benchLines(b))
	other := toEvents(otherLines(len(access)))
	defaults := derive.Options{EMF: derive.EMFOptions{Enabled: true}, RED: derive.REDOptions{Enabled: true}}
	withFilter := defaults
	withFilter.Filters = []derive.FilterRule{{Metric: "checkout_errors_total", Group: "api", Filter: `status >= 500 and route like "/checkout"`}}
	for _, c := range []struct {
		name   string
		opts   derive.Options
		events []event.Event
		cold   bool
	}{
		{"red", defaults, access, false},
		{"nomatch", defaults, other, false},
		{"filters", withFilter, access, false},
		{"disabled", derive.Options{}, access, false},
		{"cold/red", defaults, access, true},
		{"cold/nomatch", defaults, other, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, c.opts)
			const batch = 1000
			b.ReportAllocs()
			b.ResetTimer()
			n, sink := 0, 0
			for i := 0; i < b.N; i++ {
				start := (i * batch) % (len(c.events) - batch + 1)
				evs := c.events[start : start+batch]
				if !c.cold {
					b.StopTimer()
					sink += touch(evs)
					b.StartTimer()
				}
				e.d.Observe(evs)
				n += batch
			}
			_ = sink
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}
