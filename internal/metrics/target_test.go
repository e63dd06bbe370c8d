package metrics

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// lockstepTarget is a scrape target for the compliance test. It exposes
// counters, gauges, a histogram and a summary, in OpenMetrics (/om) and the
// Prometheus text format (/text), with explicit timestamps on a 1s grid
// (phase 500ms). Point k of the grid is served until every consumer (a
// scraper, named by the "scraper" query parameter, on each path) has
// fetched it and the test has confirmed (with confirm, see run) that every
// server stored it; then the target moves to point k+1. So Prometheus and
// sonde scrape exactly the same samples, however their scrape loops are
// timed (and when a scrape times out, the point is scraped again), and the
// test makes minutes of data in seconds.
type lockstepTarget struct {
	base      int64 // ms of point 0, minus the 500ms phase
	n         int
	consumers []string

	mu      sync.Mutex
	started bool
	k       int
	seen    map[string]int
	doneCh  chan struct{}
	closed  bool

	points []targetPoint
}

var (
	targetRoutes  = []string{"/", "/login", "/api/orders"}
	targetCodes   = []string{"200", "500"}
	targetRooms   = []string{"lab", "office"}
	targetBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 2.5}
	// Quantile and le values are non-integers: Prometheus 3 writes
	// integers as "1.0" where 2.42 keeps "1".
	targetQuantiles = []string{"0.5", "0.9", "0.99"}
)

type targetPoint struct {
	requests    map[[2]string]float64 // route, code
	temperature map[string]float64
	buckets     map[string][]float64 // route -> cumulative counts per bucket, then +Inf
	hsum        map[string]float64
	quantiles   [3]float64
	ssum, scnt  float64
}

func hash(parts ...any) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, parts...)
	return h.Sum32()
}

func newLockstepTarget(n int, consumers []string) *lockstepTarget {
	t := &lockstepTarget{n: n, consumers: consumers, seen: map[string]int{}, doneCh: make(chan struct{})}
	prev := targetPoint{requests: map[[2]string]float64{}, temperature: map[string]float64{}, buckets: map[string][]float64{}, hsum: map[string]float64{}}
	for k := 0; k < n; k++ {
		p := targetPoint{requests: map[[2]string]float64{}, temperature: map[string]float64{}, buckets: map[string][]float64{}, hsum: map[string]float64{}}
		for _, r := range targetRoutes {
			for _, c := range targetCodes {
				inc := float64(1 + hash(r, c, k)%7)
				if c == "500" {
					inc = float64(hash(r, c, k) % 2)
				}
				v := prev.requests[[2]string{r, c}] + inc
				if r == "/login" && c == "500" && k == 150 {
					v = inc // a counter reset (the process restarted)
				}
				p.requests[[2]string{r, c}] = v
			}
			// Observations of this second: 1 to 5 latencies.
			counts := append([]float64(nil), prev.buckets[r]...)
			if counts == nil {
				counts = make([]float64, len(targetBuckets)+1)
			}
			sum := prev.hsum[r]
			for i := 0; i < int(1+hash(r, k, "n")%5); i++ {
				lat := float64(hash(r, k, i)%3000) / 1000 * math.Pow(float64(1+len(r)%3), -1)
				sum += lat
				for b, le := range targetBuckets {
					if lat <= le {
						counts[b]++
					}
				}
				counts[len(targetBuckets)]++
			}
			p.buckets[r], p.hsum[r] = counts, sum
		}
		for i, room := range targetRooms {
			v := 20 + 3*math.Sin(float64(k)/15+float64(i))
			p.temperature[room] = math.Round(v*4) / 4
		}
		p.quantiles = [3]float64{200 + 10*math.Sin(float64(k)/7), 900 + float64(k%13), 1500 + float64(k%29)*3.5}
		p.scnt = prev.scnt + float64(1+k%4)
		p.ssum = prev.ssum + p.quantiles[0]*float64(1+k%4)
		t.points = append(t.points, p)
		prev = p
	}
	return t
}

// start sets the time of point 0 (plus 500ms) and starts serving; until
// then scrapes fail. Prometheus only remote-writes samples newer than its
// own start, so the points must come after it.
func (t *lockstepTarget) start(baseMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.base = baseMs
	t.started = true
}

// timestamp returns the sample time of point k in ms.
func (t *lockstepTarget) timestamp(k int) int64 { return t.base + int64(k)*1000 + 500 }

// done is closed once every consumer has fetched the last point.
func (t *lockstepTarget) done() <-chan struct{} { return t.doneCh }

// run moves through the points until the last one is stored or ctx ends:
// a point is done when every consumer has fetched it and confirm(k) says
// the servers stored it.
func (t *lockstepTarget) run(ctx context.Context, confirm func(k int) bool) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		k, all := t.k, t.started
		for _, c := range t.consumers {
			if s, ok := t.seen[c]; !ok || s != k {
				all = false
			}
		}
		t.mu.Unlock()
		if !all || !confirm(k) {
			continue
		}
		t.mu.Lock()
		if k < t.n-1 {
			t.k++
		} else if !t.closed {
			t.closed = true
			close(t.doneCh)
		}
		t.mu.Unlock()
		if t.closed {
			return
		}
	}
}

// progress returns the current point.
func (t *lockstepTarget) progress() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.k
}

func (t *lockstepTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	om := r.URL.Path == "/om"
	if !om && r.URL.Path != "/text" {
		http.NotFound(w, r)
		return
	}
	consumer := r.URL.Query().Get("scraper") + r.URL.Path
	t.mu.Lock()
	if !t.started {
		t.mu.Unlock()
		http.Error(w, "not started", http.StatusServiceUnavailable)
		return
	}
	k := t.k
	t.seen[consumer] = k
	t.mu.Unlock()
	if om {
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	}
	_, _ = w.Write(t.expose(k, om))
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func (t *lockstepTarget) expose(k int, om bool) []byte {
	p := t.points[k]
	ms := t.timestamp(k)
	ts := strconv.FormatInt(ms, 10)
	if om {
		ts = fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
	}
	var b strings.Builder
	line := func(name, labels string, v float64) {
		fmt.Fprintf(&b, "%s{%s} %s %s\n", name, labels, fmtFloat(v), ts)
	}
	if om {
		b.WriteString("# HELP app_requests Requests served.\n# TYPE app_requests counter\n")
	} else {
		b.WriteString("# HELP app_requests_total Requests served.\n# TYPE app_requests_total counter\n")
	}
	for _, r := range targetRoutes {
		for _, c := range targetCodes {
			line("app_requests_total", fmt.Sprintf(`code=%q,route=%q`, c, r), p.requests[[2]string{r, c}])
		}
	}
	b.WriteString("# HELP app_temperature_celsius Room temperature.\n# TYPE app_temperature_celsius gauge\n")
	if om {
		b.WriteString("# UNIT app_temperature_celsius celsius\n")
	}
	for _, room := range targetRooms {
		line("app_temperature_celsius", fmt.Sprintf(`room=%q`, room), p.temperature[room])
	}
	b.WriteString("# HELP app_request_duration_seconds Request latency.\n# TYPE app_request_duration_seconds histogram\n")
	if om {
		b.WriteString("# UNIT app_request_duration_seconds seconds\n")
	}
	for _, r := range targetRoutes {
		counts := p.buckets[r]
		for i, le := range targetBuckets {
			line("app_request_duration_seconds_bucket", fmt.Sprintf(`route=%q,le=%q`, r, fmtFloat(le)), counts[i])
		}
		line("app_request_duration_seconds_bucket", fmt.Sprintf(`route=%q,le="+Inf"`, r), counts[len(targetBuckets)])
		line("app_request_duration_seconds_sum", fmt.Sprintf(`route=%q`, r), p.hsum[r])
		line("app_request_duration_seconds_count", fmt.Sprintf(`route=%q`, r), counts[len(targetBuckets)])
	}
	b.WriteString("# HELP app_response_size_bytes Response sizes.\n# TYPE app_response_size_bytes summary\n")
	if om {
		b.WriteString("# UNIT app_response_size_bytes bytes\n")
	}
	for i, q := range targetQuantiles {
		line("app_response_size_bytes", fmt.Sprintf(`route="/",quantile=%q`, q), p.quantiles[i])
	}
	line("app_response_size_bytes_sum", `route="/"`, p.ssum)
	line("app_response_size_bytes_count", `route="/"`, p.scnt)
	if om {
		b.WriteString("# EOF\n")
	}
	return []byte(b.String())
}
