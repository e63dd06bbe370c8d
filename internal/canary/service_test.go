package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/api"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// handlerTransport answers requests with h in the calling goroutine,
// without a network, so that schedules can run in a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// clock records when a fake service was called and how many calls
// overlapped; each call takes d of (fake) time.
type clock struct {
	d       time.Duration
	mu      sync.Mutex
	calls   map[string][]time.Duration // by path, since start
	start   time.Time
	running int
	maxRun  int
}

func (c *clock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls[r.URL.Path] = append(c.calls[r.URL.Path], time.Since(c.start))
	c.running++
	c.maxRun = max(c.maxRun, c.running)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}()
	select {
	case <-time.After(c.d):
	case <-r.Context().Done():
		return
	}
	fmt.Fprint(w, "ok")
}

func (c *clock) times(path string) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.calls[path]...)
}

// startService runs a Service for the canaries of yaml against c, and
// returns a function that stops it.
func startService(t *testing.T, c *clock, yaml string) (*Service, func()) {
	svc, err := NewService(Options{
		Canaries: load(t, yaml),
		Runner:   NewRunner(RunnerOptions{Transport: handlerTransport{c}}),
	})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(context.Background())
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			require.NoError(t, svc.Stop(context.Background()))
			<-done
		})
	}
	t.Cleanup(stop) // also when a check fails first
	return svc, stop
}

func minutes(ms ...float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m * float64(time.Minute))
	}
	return out
}

func TestScheduleRateCronOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The bubble's clock starts at midnight UTC, 2000-01-01.
		c := &clock{d: time.Second, calls: map[string][]time.Duration{}, start: time.Now()}
		svc, stop := startService(t, c, `
canaries:
  - {name: every-minute, kind: heartbeat, url: "http://svc/rate", schedule: rate(1 minute)}
  - {name: every-5, kind: heartbeat, url: "http://svc/cron", schedule: "cron(*/5 * * * *)"}
  - {name: aws-hourly, kind: heartbeat, url: "http://svc/aws", schedule: "cron(30 * ? * * *)"}
  - {name: once, kind: heartbeat, url: "http://svc/once", schedule: rate(0 minute)}
`)
		time.Sleep(10*time.Minute + 30*time.Second)
		synctest.Wait()
		list := svc.List()
		stop()

		require.Equal(t, minutes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), c.times("/rate"), "rate runs at start, then every period")
		require.Equal(t, minutes(5, 10), c.times("/cron"), "cron runs on matching minutes")
		require.Empty(t, c.times("/aws"), "the first 30th minute is later")
		require.Equal(t, minutes(0), c.times("/once"))

		require.Len(t, list, 4)
		require.Equal(t, "every-minute", list[0].Name)
		require.Equal(t, "rate(1 minute)", list[0].Schedule)
		require.Equal(t, c.start.Add(11*time.Minute).UTC(), list[0].NextRun.UTC())
		require.Equal(t, c.start.Add(15*time.Minute).UTC(), list[1].NextRun.UTC())
		require.Equal(t, c.start.Add(30*time.Minute).UTC(), list[2].NextRun.UTC())
		require.Nil(t, list[2].LastRun)
		require.Nil(t, list[3].NextRun, "once has nothing left to run")
		require.True(t, list[3].LastRun.Success)
		require.Equal(t, TriggerSchedule, list[3].LastRun.Trigger)
		require.Nil(t, list[3].LastRun.Steps, "the list leaves steps out")
	})
}

func TestScheduleSkipsOverrunsAndNeverOverlaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each run takes 90 s, longer than its 1 minute period.
		c := &clock{d: 90 * time.Second, calls: map[string][]time.Duration{}, start: time.Now()}
		svc, stop := startService(t, c, `
canaries:
  - {name: slow, kind: heartbeat, url: "http://svc/slow", schedule: rate(1 minute), timeout: 5m}
`)
		time.Sleep(4*time.Minute + 30*time.Second)
		// A run asked for while one is going waits for it.
		run, err := svc.RunNow(context.Background(), "slow")
		require.NoError(t, err)
		require.Equal(t, TriggerAPI, run.Trigger)
		require.Equal(t, c.start.Add(5*time.Minute+30*time.Second).UTC(), run.Start.UTC(), "after the 4:00 run ends at 5:30")
		time.Sleep(3 * time.Minute)
		stop()
		require.Equal(t, minutes(0, 2, 4, 5.5, 7, 9), c.times("/slow"))
		require.Equal(t, 1, c.maxRun, "runs of a canary never overlap")
		runs, err := svc.Runs("slow")
		require.NoError(t, err)
		require.Len(t, runs, 5, "the run cut short by Stop is not kept")
		require.Equal(t, run.ID, runs[1].ID, "newest first")
	})
}

func TestHistoryIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &clock{d: time.Second, calls: map[string][]time.Duration{}, start: time.Now()}
		svc, err := NewService(Options{
			Canaries: load(t, "canaries:\n  - {name: hb, kind: heartbeat, url: \"http://svc/\"}\n"),
			Runner:   NewRunner(RunnerOptions{Transport: handlerTransport{c}}),
			History:  3,
		})
		require.NoError(t, err)
		var ids []string
		for range 5 {
			run, err := svc.RunNow(context.Background(), "hb")
			require.NoError(t, err)
			ids = append(ids, run.ID)
		}
		runs, err := svc.Runs("hb")
		require.NoError(t, err)
		require.Equal(t, []string{ids[4], ids[3], ids[2]}, []string{runs[0].ID, runs[1].ID, runs[2].ID})
		require.NoError(t, svc.Stop(context.Background()))
	})
}

// call sends a request to h and returns the status and body.
func call(t *testing.T, h http.Handler, method, path, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestAPI(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer target.Close()
	svc, err := NewService(Options{Canaries: load(t, `
canaries:
  - {name: hb, kind: heartbeat, url: "`+target.URL+`/", schedule: rate(1 hour)}
`)})
	require.NoError(t, err)
	server := api.New(api.Options{
		Metrics: selfmon.New(func() float64 { return 0 }),
		Tokens: map[string]config.Token{
			"reader": {Name: "reader", Scopes: []string{config.ScopeRead}},
			"admin":  {Name: "admin", Scopes: []string{config.ScopeAdmin}},
		},
	})
	for _, r := range svc.Routes() {
		server.Handle(r.Pattern, r.Scope, r.Handler)
	}

	code, body := call(t, server, "GET", "/api/v1/canaries", "reader")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"canaries":[{"name":"hb","kind":"heartbeat","schedule":"rate(1 hour)","nextRun":null,"lastRun":null}]}`, body)

	code, body = call(t, server, "GET", "/api/v1/canaries/hb/runs/latest/har", "reader")
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, "has not run yet")

	code, _ = call(t, server, "POST", "/api/v1/canaries/hb/run", "reader")
	require.Equal(t, http.StatusForbidden, code, "running a canary needs the admin scope")
	code, body = call(t, server, "POST", "/api/v1/canaries/hb/run", "admin")
	require.Equal(t, http.StatusOK, code, body)
	var run Run
	require.NoError(t, json.Unmarshal([]byte(body), &run))
	require.True(t, run.Success, run.Error)
	require.Equal(t, TriggerAPI, run.Trigger)
	require.Len(t, run.Steps[0].Requests, 1)
	_, _ = call(t, server, "POST", "/api/v1/canaries/hb/run", "admin")

	code, body = call(t, server, "GET", "/api/v1/canaries/hb/runs?limit=1", "reader")
	require.Equal(t, http.StatusOK, code, body)
	var runs struct {
		Canary string `json:"canary"`
		Runs   []Run  `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &runs))
	require.Equal(t, "hb", runs.Canary)
	require.Len(t, runs.Runs, 1)
	require.NotEqual(t, run.ID, runs.Runs[0].ID, "the newest run comes first")
	code, body = call(t, server, "GET", "/api/v1/canaries/hb/runs", "reader")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 2, strings.Count(body, `"trigger":"api"`))
	code, _ = call(t, server, "GET", "/api/v1/canaries/hb/runs?limit=0", "reader")
	require.Equal(t, http.StatusBadRequest, code)

	code, body = call(t, server, "GET", "/api/v1/canaries", "reader")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"lastRun":{"id":"`+runs.Runs[0].ID+`"`)

	code, body = call(t, server, "GET", "/api/v1/canaries/hb/runs/latest/har", "reader")
	require.Equal(t, http.StatusOK, code, body)
	entries := validateHAR(t, []byte(body))
	require.Len(t, entries, 1)
	require.Equal(t, runs.Runs[0].ID, entries[0]["pageref"])

	for _, p := range []string{"GET /api/v1/canaries/nope/runs", "GET /api/v1/canaries/nope/runs/latest/har", "POST /api/v1/canaries/nope/run"} {
		method, path, _ := strings.Cut(p, " ")
		code, body := call(t, server, method, path, "admin")
		require.Equal(t, http.StatusNotFound, code, p)
		require.Contains(t, body, `canary not found: \"nope\"`)
	}

	require.NoError(t, svc.Stop(context.Background()))
	code, body = call(t, server, "POST", "/api/v1/canaries/hb/run", "admin")
	require.Equal(t, http.StatusServiceUnavailable, code, body)
}
