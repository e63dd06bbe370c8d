package load

import (
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Metric names kept exactly as Artillery's (they are the contract with
// existing dashboards and ensure checks), plus sonde's additions.
const (
	mVusersCreated       = "vusers.created"
	mVusersCreatedByName = "vusers.created_by_name."
	mVusersCompleted     = "vusers.completed"
	mVusersFailed        = "vusers.failed"
	mVusersSkipped       = "vusers.skipped"
	mVusersSession       = "vusers.session_length"
	mHTTPRequests        = "http.requests"
	mHTTPResponses       = "http.responses"
	mHTTPRequestRate     = "http.request_rate"
	mHTTPDownloaded      = "http.downloaded_bytes"
	mHTTPResponseTime    = "http.response_time"
	// mHTTPServiceTime is sonde's: request written to first response byte,
	// which is what Artillery calls http.response_time.
	mHTTPServiceTime = "http.service_time"
	// mVusersLate counts arrivals that started later than LateThreshold
	// after their intended time; mVusersDropped counts arrivals that never
	// started.
	mVusersLate    = "vusers.late"
	mVusersDropped = "vusers.dropped"
	mErrors        = "errors."
)

// LateThreshold is how far behind its intended time an arrival may start
// before it counts as late (vusers.late).
const LateThreshold = 10 * time.Millisecond

// histogram range: 1 µs to about 11.5 days, 3 significant digits.
const (
	histLowest  = 1
	histHighest = 1_000_000_000_000
	histDigits  = 3
)

var codeNames [600]string
var classNames [6]string

func init() {
	for i := range codeNames {
		codeNames[i] = "http.codes." + strconv.Itoa(i)
	}
	for i := 1; i < 6; i++ {
		classNames[i] = mHTTPResponseTime + "." + strconv.Itoa(i) + "xx"
	}
}

func codeName(code int) string {
	if code >= 0 && code < len(codeNames) {
		return codeNames[code]
	}
	return "http.codes." + strconv.Itoa(code)
}

// Summary is the summary of one histogram, in Artillery's units
// (milliseconds for times) rounded to one decimal.
type Summary struct {
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	P50    float64 `json:"p50"`
	Median float64 `json:"median"`
	P75    float64 `json:"p75"`
	P90    float64 `json:"p90"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p999"`
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// summarize computes a Summary of a histogram recorded in thousandths of
// the reported unit.
func summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	q := func(p float64) float64 { return round1(float64(h.ValueAtQuantile(p)) / 1000) }
	s := Summary{
		Min:   round1(float64(h.Min()) / 1000),
		Max:   round1(float64(h.Max()) / 1000),
		Count: h.TotalCount(),
		Mean:  round1(h.Mean() / 1000),
		P50:   q(50),
		P75:   q(75),
		P90:   q(90),
		P95:   q(95),
		P99:   q(99),
		P999:  q(99.9),
	}
	s.Median = s.P50
	return s
}

// Period is the metrics of one reporting period (Artillery's intermediate
// report entry) or of the whole run (the aggregate).
type Period struct {
	Counters   map[string]int64   `json:"counters"`
	Rates      map[string]float64 `json:"rates"`
	Summaries  map[string]Summary `json:"summaries"`
	Histograms map[string]Summary `json:"histograms"`

	FirstCounterAt   int64 `json:"firstCounterAt,omitempty"`
	FirstHistogramAt int64 `json:"firstHistogramAt,omitempty"`
	LastCounterAt    int64 `json:"lastCounterAt,omitempty"`
	LastHistogramAt  int64 `json:"lastHistogramAt,omitempty"`
	FirstMetricAt    int64 `json:"firstMetricAt,omitempty"`
	LastMetricAt     int64 `json:"lastMetricAt,omitempty"`
	// Period is the start of the period, epoch milliseconds aligned to the
	// period length (for the aggregate: the last period).
	Period int64 `json:"period"`
}

// bucket accumulates one period.
type bucket struct {
	start    time.Time // period start, aligned
	counters map[string]int64
	rates    map[string]int64
	hists    map[string]*hdrhistogram.Histogram

	firstCounter, lastCounter int64
	firstHist, lastHist       int64
}

// Recorder collects metrics into periods. It is safe for concurrent use.
// Histograms are HDR histograms reused from period to period, so memory
// does not depend on the number of samples.
type Recorder struct {
	mu       sync.Mutex
	interval time.Duration
	cur      *bucket
	spare    []*hdrhistogram.Histogram

	aggCounters  map[string]int64
	aggHists     map[string]*hdrhistogram.Histogram
	aggRates     map[string][]float64
	intermediate []Period
	runStart     time.Time
	first, last  Period // first/last timestamps for the aggregate
	lastPeriod   int64
}

// NewRecorder returns a recorder whose periods are interval long and
// aligned to multiples of interval since the epoch.
func NewRecorder(interval time.Duration, now time.Time) *Recorder {
	r := &Recorder{
		interval:    interval,
		aggCounters: map[string]int64{},
		aggHists:    map[string]*hdrhistogram.Histogram{},
		aggRates:    map[string][]float64{},
		runStart:    now,
	}
	r.cur = r.newBucket(now)
	return r
}

func (r *Recorder) newBucket(now time.Time) *bucket {
	return &bucket{
		start:    now.Truncate(r.interval),
		counters: make(map[string]int64, 32),
		rates:    map[string]int64{},
		hists:    map[string]*hdrhistogram.Histogram{},
	}
}

func (r *Recorder) hist(b *bucket, name string) *hdrhistogram.Histogram {
	h := b.hists[name]
	if h == nil {
		if n := len(r.spare); n > 0 {
			h = r.spare[n-1]
			r.spare = r.spare[:n-1]
		} else {
			h = hdrhistogram.New(histLowest, histHighest, histDigits)
		}
		b.hists[name] = h
	}
	return h
}

func (b *bucket) counted(ms int64) {
	if b.firstCounter == 0 {
		b.firstCounter = ms
	}
	b.lastCounter = ms
}

func (b *bucket) histed(ms int64) {
	if b.firstHist == 0 {
		b.firstHist = ms
	}
	b.lastHist = ms
}

// recordValue records v (in the reported unit, e.g. ms) with µ-unit
// resolution.
func recordValue(h *hdrhistogram.Histogram, v float64) {
	x := int64(math.Round(v * 1000))
	if x < histLowest {
		x = histLowest
	}
	if x > histHighest {
		x = histHighest
	}
	_ = h.RecordValue(x)
}

func recordDuration(h *hdrhistogram.Histogram, d time.Duration) {
	x := d.Microseconds()
	if x < histLowest {
		x = histLowest
	}
	if x > histHighest {
		x = histHighest
	}
	_ = h.RecordValue(x)
}

// Add adds n to a counter.
func (r *Recorder) Add(name string, n int64, now time.Time) {
	ms := now.UnixMilli()
	r.mu.Lock()
	r.cur.counters[name] += n
	r.cur.counted(ms)
	r.mu.Unlock()
}

// Rate records one event of a rate metric.
func (r *Recorder) Rate(name string, now time.Time) {
	ms := now.UnixMilli()
	r.mu.Lock()
	r.cur.rates[name]++
	r.cur.counted(ms)
	r.mu.Unlock()
}

// Observe records a histogram value in its reported unit.
func (r *Recorder) Observe(name string, v float64, now time.Time) {
	ms := now.UnixMilli()
	r.mu.Lock()
	recordValue(r.hist(r.cur, name), v)
	r.cur.histed(ms)
	r.mu.Unlock()
}

// ObserveDuration records a duration in milliseconds.
func (r *Recorder) ObserveDuration(name string, d time.Duration, now time.Time) {
	ms := now.UnixMilli()
	r.mu.Lock()
	recordDuration(r.hist(r.cur, name), d)
	r.cur.histed(ms)
	r.mu.Unlock()
}

// request records a request start: http.requests and http.request_rate.
func (r *Recorder) request(now time.Time) {
	ms := now.UnixMilli()
	r.mu.Lock()
	b := r.cur
	b.counters[mHTTPRequests]++
	b.rates[mHTTPRequestRate]++
	b.counted(ms)
	r.mu.Unlock()
}

// response records a response with its corrected latency (from the
// intended send time) and its service time, under one lock.
func (r *Recorder) response(code int, corrected, service time.Duration, bytes int64, now time.Time) {
	ms := now.UnixMilli()
	r.mu.Lock()
	b := r.cur
	b.counters[codeName(code)]++
	b.counters[mHTTPResponses]++
	b.counters[mHTTPDownloaded] += bytes
	b.counted(ms)
	recordDuration(r.hist(b, mHTTPResponseTime), corrected)
	recordDuration(r.hist(b, mHTTPServiceTime), service)
	if c := code / 100; c >= 1 && c <= 5 {
		recordDuration(r.hist(b, classNames[c]), corrected)
	}
	b.histed(ms)
	r.mu.Unlock()
}

// Rotate closes the current period if now is past its end and returns it.
// final closes the current period whatever the time (end of the run).
func (r *Recorder) Rotate(now time.Time, final bool) (Period, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.cur
	end := b.start.Add(r.interval)
	if !final && now.Before(end) {
		return Period{}, false
	}
	r.cur = r.newBucket(now)
	if final {
		r.cur.start = now
	}
	if len(b.counters) == 0 && len(b.hists) == 0 && len(b.rates) == 0 {
		return Period{}, false
	}
	// Rates are per second over the part of the period the run covered.
	from, to := b.start, end
	if from.Before(r.runStart) {
		from = r.runStart
	}
	if now.Before(to) {
		to = now
	}
	width := to.Sub(from).Seconds()
	if width <= 0 {
		width = r.interval.Seconds()
	}
	p := Period{
		Counters:   make(map[string]int64, len(b.counters)),
		Rates:      make(map[string]float64, len(b.rates)),
		Summaries:  make(map[string]Summary, len(b.hists)),
		Histograms: make(map[string]Summary, len(b.hists)),
		Period:     b.start.UnixMilli(),

		FirstCounterAt:   b.firstCounter,
		LastCounterAt:    b.lastCounter,
		FirstHistogramAt: b.firstHist,
		LastHistogramAt:  b.lastHist,
	}
	p.FirstMetricAt, p.LastMetricAt = minNonZero(b.firstCounter, b.firstHist), max(b.lastCounter, b.lastHist)
	for k, v := range b.counters {
		p.Counters[k] = v
		r.aggCounters[k] += v
	}
	for k, v := range b.rates {
		rate := math.Round(float64(v) / width)
		p.Rates[k] = rate
		r.aggRates[k] = append(r.aggRates[k], rate)
	}
	for k, h := range b.hists {
		s := summarize(h)
		p.Summaries[k], p.Histograms[k] = s, s
		agg := r.aggHists[k]
		if agg == nil {
			agg = hdrhistogram.New(histLowest, histHighest, histDigits)
			r.aggHists[k] = agg
		}
		agg.Merge(h)
		h.Reset()
		r.spare = append(r.spare, h)
	}
	r.intermediate = append(r.intermediate, p)
	r.first.FirstCounterAt = minNonZero(r.first.FirstCounterAt, p.FirstCounterAt)
	r.first.FirstHistogramAt = minNonZero(r.first.FirstHistogramAt, p.FirstHistogramAt)
	r.last.LastCounterAt = max(r.last.LastCounterAt, p.LastCounterAt)
	r.last.LastHistogramAt = max(r.last.LastHistogramAt, p.LastHistogramAt)
	r.lastPeriod = p.Period
	return p, true
}

func minNonZero(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// Aggregate returns the merge of all closed periods: counters summed,
// histograms merged, rates averaged over periods.
func (r *Recorder) Aggregate() Period {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Period{
		Counters:   make(map[string]int64, len(r.aggCounters)),
		Rates:      make(map[string]float64, len(r.aggRates)),
		Summaries:  make(map[string]Summary, len(r.aggHists)),
		Histograms: make(map[string]Summary, len(r.aggHists)),
		Period:     r.lastPeriod,

		FirstCounterAt:   r.first.FirstCounterAt,
		FirstHistogramAt: r.first.FirstHistogramAt,
		LastCounterAt:    r.last.LastCounterAt,
		LastHistogramAt:  r.last.LastHistogramAt,
	}
	p.FirstMetricAt = minNonZero(p.FirstCounterAt, p.FirstHistogramAt)
	p.LastMetricAt = max(p.LastCounterAt, p.LastHistogramAt)
	for k, v := range r.aggCounters {
		p.Counters[k] = v
	}
	for k, list := range r.aggRates {
		var sum float64
		for _, x := range list {
			sum += x
		}
		p.Rates[k] = math.Round(sum / float64(len(list)))
	}
	for k, h := range r.aggHists {
		s := summarize(h)
		p.Summaries[k], p.Histograms[k] = s, s
	}
	return p
}

// Intermediate returns the closed periods in order.
func (r *Recorder) Intermediate() []Period {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Period(nil), r.intermediate...)
	sort.Slice(out, func(i, j int) bool { return out[i].Period < out[j].Period })
	return out
}
