package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

// samples returns every sample of the series matching the selector, by
// series (labels.String()).
func samples(t *testing.T, db storage.Queryable, ms ...*labels.Matcher) map[string][]float64 {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, ms...)
	out := map[string][]float64{}
	var it chunkenc.Iterator
	for ss.Next() {
		s := ss.At()
		it = s.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			_, v := it.At()
			out[s.Labels().String()] = append(out[s.Labels().String()], v)
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, ss.Err())
	return out
}

func TestRunsAreStoredAsEventsAndMetrics(t *testing.T) {
	ctx := context.Background()
	db, err := duckdb.Open(ctx, duckdb.Options{Dir: t.TempDir(), MemoryLimit: "128MB", Threads: 1})
	require.NoError(t, err)
	defer db.Close()
	pipe := pipeline.New(db, pipeline.Options{})
	defer pipe.Close()
	tsdbDB, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	require.NoError(t, err)
	defer tsdbDB.Close()

	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		case healthy.Load():
			fmt.Fprint(w, `{"status":"UP"}`)
		default:
			http.Error(w, `{"status":"DOWN"}`, http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	cs := load(t, `
canaries:
  - name: hb
    kind: heartbeat
    url: `+srv.URL+`/health
  - name: api
    kind: api
    continue_on_step_failure: true
    steps:
      - name: health
        url: `+srv.URL+`/health
        conditions: ["[BODY].status == UP"]
      - name: missing
        url: `+srv.URL+`/missing
`)
	svc, err := NewService(Options{Canaries: cs, Events: pipe, Appendable: tsdbDB})
	require.NoError(t, err)
	defer svc.Stop(ctx)

	for _, name := range []string{"hb", "api", "hb"} {
		_, err := svc.RunNow(ctx, name)
		require.NoError(t, err)
	}
	healthy.Store(false)
	run, err := svc.RunNow(ctx, "hb")
	require.NoError(t, err)
	require.False(t, run.Success)

	// Events: one per run, in sonde/canaries, stream = canary name.
	var evs []map[string]string
	var streams []string
	err = db.Scan(ctx, store.ScanRequest{Group: EventGroup}, func(ev *event.Event) error {
		fields := map[string]string{}
		for _, f := range ev.Fields {
			fields[f.Name] = f.Text(ev.Time)
		}
		evs = append(evs, fields)
		streams = append(streams, ev.Stream)
		require.True(t, json.Valid([]byte(ev.Rebuild())), "the message is the run's JSON")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"hb", "api", "hb", "hb"}, streams)
	hb := evs[0]
	require.Equal(t, "hb", hb["name"])
	require.Equal(t, "heartbeat", hb["kind"])
	require.Equal(t, "true", hb["success"])
	require.Equal(t, "api", hb["trigger"])
	require.Equal(t, "1", hb["requests"])
	require.NotEmpty(t, hb["durationMs"])
	require.NotEmpty(t, hb["runId"])
	require.Equal(t, "200", hb["steps.0.status"])
	require.Equal(t, srv.URL+"/health", hb["steps.0.url"])
	for _, k := range []string{"blockedMs", "connectMs", "sendMs", "waitMs", "receiveMs"} {
		require.Contains(t, hb, "steps.0.timings."+k)
	}
	require.NotContains(t, hb, "steps.0.timings.tlsMs", "phases that did not happen are left out")
	require.NotContains(t, hb, "steps.0.timings.dnsMs")

	api := evs[1]
	require.Equal(t, "false", api["success"])
	require.Equal(t, "health", api["steps.0.name"])
	require.Equal(t, "true", api["steps.0.success"])
	require.Equal(t, "missing", api["steps.1.name"])
	require.Equal(t, "404", api["steps.1.status"])
	require.Equal(t, "status 404, want 2xx", api["steps.1.error"])
	require.Equal(t, "step missing: status 404, want 2xx", api["error"])

	down := evs[3]
	require.Equal(t, "false", down["success"])
	require.Equal(t, "status 503, want 2xx", down["steps.0.error"])

	// Metrics: one sample per run.
	name := func(n string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, n) }
	require.Equal(t, map[string][]float64{
		`{__name__="canary_success_percent", canary="api"}`: {0},
		`{__name__="canary_success_percent", canary="hb"}`:  {100, 100, 0},
	}, samples(t, tsdbDB, name(MetricSuccessPercent)))
	require.Equal(t, map[string][]float64{
		`{__name__="canary_step_success_percent", canary="api", step="health"}`:                {100},
		`{__name__="canary_step_success_percent", canary="api", step="missing"}`:               {0},
		`{__name__="canary_step_success_percent", canary="hb", step="` + srv.URL + `/health"}`: {100, 100, 0},
	}, samples(t, tsdbDB, name(MetricStepSuccessPercent)))
	require.Equal(t, map[string][]float64{
		`{__name__="canary_requests_total", canary="api", code_class="2xx"}`:    {1},
		`{__name__="canary_requests_total", canary="api", code_class="3xx"}`:    {0},
		`{__name__="canary_requests_total", canary="api", code_class="4xx"}`:    {1},
		`{__name__="canary_requests_total", canary="api", code_class="5xx"}`:    {0},
		`{__name__="canary_requests_total", canary="api", code_class="failed"}`: {0},
		`{__name__="canary_requests_total", canary="hb", code_class="2xx"}`:     {1, 2, 2},
		`{__name__="canary_requests_total", canary="hb", code_class="3xx"}`:     {0, 0, 0},
		`{__name__="canary_requests_total", canary="hb", code_class="4xx"}`:     {0, 0, 0},
		`{__name__="canary_requests_total", canary="hb", code_class="5xx"}`:     {0, 0, 1},
		`{__name__="canary_requests_total", canary="hb", code_class="failed"}`:  {0, 0, 0},
	}, samples(t, tsdbDB, name(MetricRequestsTotal)))
	durations := samples(t, tsdbDB, name(MetricDurationSeconds), labels.MustNewMatcher(labels.MatchEqual, "canary", "hb"))
	require.Len(t, durations[`{__name__="canary_duration_seconds", canary="hb"}`], 3)
	for _, v := range durations[`{__name__="canary_duration_seconds", canary="hb"}`] {
		require.Greater(t, v, 0.0)
	}
	steps := samples(t, tsdbDB, name(MetricStepDurationSeconds))
	require.Len(t, steps, 3)
}
