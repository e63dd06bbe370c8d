package mock

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func median(xs []int64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return float64(s[len(s)/2])
}

func TestLognormalDelay(t *testing.T) {
	// Drawn through a stub, as requests draw them, with a fixed seed.
	s := New(Options{Seed: 42})
	_, err := s.AddMappingsJSON([]byte(`{"request": {}, "response": {
		"delayDistribution": {"type": "lognormal", "median": 90, "sigma": 0.4}}}`))
	require.NoError(t, err)
	resp := (*s.stubs.Load())[0].resp
	const n = 20001
	samples := make([]int64, n)
	var sum float64
	for i := range samples {
		samples[i] = s.delay(resp).Milliseconds()
		sum += float64(samples[i])
	}
	require.InDelta(t, 90, median(samples), 90*0.03, "the median of the samples is the median parameter")
	// mean = median * exp(sigma^2/2) ~ 97.5 for sigma 0.4
	require.InDelta(t, 90*math.Exp(0.4*0.4/2), sum/n, 97.5*0.03)

	// The same seed gives the same delays.
	s2 := New(Options{Seed: 42})
	_, err = s2.AddMappingsJSON([]byte(`{"request": {}, "response": {
		"delayDistribution": {"type": "lognormal", "median": 90, "sigma": 0.4}}}`))
	require.NoError(t, err)
	resp2 := (*s2.stubs.Load())[0].resp
	for i := range 100 {
		require.Equal(t, samples[i], s2.delay(resp2).Milliseconds())
	}
}

func TestLognormalMaxValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	maxValue := 120.0
	d := &DelayDistribution{Type: "lognormal", Median: 90, Sigma: 0.5, MaxValue: &maxValue}
	over := 0
	for range 5000 {
		v := sampleMillis(d, rng)
		require.LessOrEqual(t, v, int64(120))
		if v > 110 {
			over++
		}
	}
	require.Positive(t, over, "the cap truncates, it does not clamp everything to the median")
}

func TestUniformDelay(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	d := &DelayDistribution{Type: "uniform", Lower: 50, Upper: 60}
	seen := map[int64]int{}
	for range 5000 {
		v := sampleMillis(d, rng)
		require.GreaterOrEqual(t, v, int64(50))
		require.LessOrEqual(t, v, int64(60))
		seen[v]++
	}
	require.Len(t, seen, 11, "both bounds are inclusive")
	for v, c := range seen {
		require.InDelta(t, 5000.0/11, c, 120, "value %d", v)
	}
}

func TestDelayComposition(t *testing.T) {
	s := New(Options{Seed: 1})
	_, err := s.AddMappingsJSON([]byte(`{"mappings": [
		{"request": {"urlPath": "/both"}, "response": {"fixedDelayMilliseconds": 100,
			"delayDistribution": {"type": "fixed", "milliseconds": 20}}},
		{"request": {"urlPath": "/zero"}, "response": {"fixedDelayMilliseconds": 0}},
		{"request": {"urlPath": "/none"}, "response": {}}
	]}`))
	require.NoError(t, err)
	byPath := map[string]*compiledResponse{}
	for _, st := range *s.stubs.Load() {
		byPath[st.mapping.Request.URLPath] = st.resp
	}
	require.Equal(t, 120*time.Millisecond, s.delay(byPath["/both"]), "fixed and random delays add up")
	require.Zero(t, s.delay(byPath["/none"]))

	fixed := 300
	require.NoError(t, s.SetSettings(Settings{FixedDelay: &fixed,
		DelayDistribution: &DelayDistribution{Type: "fixed", Milliseconds: 5}}))
	require.Equal(t, 305*time.Millisecond, s.delay(byPath["/none"]), "global delays apply to stubs without their own")
	require.Equal(t, 5*time.Millisecond, s.delay(byPath["/zero"]), "a stub's own fixed delay, even 0, replaces the global one")
	require.Equal(t, 120*time.Millisecond, s.delay(byPath["/both"]))
}

func TestDelaysDoNotBlockOtherRequests(t *testing.T) {
	_, ts := startMock(t, Options{}, `{"mappings": [
		{"request": {"urlPath": "/slow"}, "response": {"fixedDelayMilliseconds": 400, "body": "slow"}},
		{"request": {"urlPath": "/fast"}, "response": {"body": "fast"}}
	]}`)
	start := time.Now()
	var wg sync.WaitGroup
	var slowElapsed time.Duration
	wg.Go(func() {
		_, body := call(t, ts, "GET", "/slow", "")
		slowElapsed = time.Since(start)
		require.Equal(t, "slow", body)
	})
	time.Sleep(50 * time.Millisecond) // let the slow request start waiting
	fastStart := time.Now()
	_, body := call(t, ts, "GET", "/fast", "")
	require.Equal(t, "fast", body)
	require.Less(t, time.Since(fastStart), 200*time.Millisecond)
	wg.Wait()
	require.GreaterOrEqual(t, slowElapsed, 400*time.Millisecond)
}

func TestDelayEndsWhenClientGivesUp(t *testing.T) {
	s := New(Options{})
	_, err := s.AddMappingsJSON([]byte(`{"request": {}, "response": {"fixedDelayMilliseconds": 60000}}`))
	require.NoError(t, err)
	ts := newServerNoCleanup(s)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/x", nil)
	_, err = ts.Client().Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// Close waits for running handlers: it returns at once only if the
	// handler stopped waiting when the client went away.
	start := time.Now()
	ts.Close()
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestChunkedDribbleDelay(t *testing.T) {
	_, ts := startMock(t, Options{}, `{"request": {}, "response": {"body": "0123456789abcdef",
		"chunkedDribbleDelay": {"numberOfChunks": 4, "totalDuration": 300}}}`)
	start := time.Now()
	resp, body := call(t, ts, "GET", "/x", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "0123456789abcdef", body)
	require.GreaterOrEqual(t, time.Since(start), 225*time.Millisecond, "three pauses of 75ms between four chunks")
	require.Equal(t, []string{"chunked"}, resp.TransferEncoding)
}
