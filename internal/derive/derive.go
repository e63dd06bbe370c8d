package derive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// Defaults for zero Options fields.
const (
	DefaultFlushInterval = 10 * time.Second
	DefaultIdleTimeout   = 15 * time.Minute
)

// Options configure a Deriver. The zero value of each derivation's options
// turns it off.
type Options struct {
	// Appendable receives the aggregates at every flush. It must not be nil.
	Appendable storage.AppendableV2
	EMF        EMFOptions
	RED        REDOptions
	Filters    []FilterRule
	// FlushInterval is how often the aggregates are written (default 10s).
	FlushInterval time.Duration
	// IdleTimeout is how long a series is written without new events
	// before it is forgotten (default 15m).
	IdleTimeout time.Duration
	// Registerer receives sonde_emf_rejected_total and the
	// sonde_derive_* metrics (nil: a private registry).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Deriver aggregates metrics from committed events and writes them to the
// metric store. Observe, Flush, Run and Close are safe for concurrent use.
type Deriver struct {
	opts    Options
	log     *slog.Logger
	metrics *selfMetrics

	mu      sync.Mutex // guards the aggregates and counts
	emf     *emfDeriver
	red     *redDeriver
	filters *filterDeriver
	counts  counts

	// Scans of events that have a Shape are remembered by shape: the
	// events of one shape have the same field names at the same places.
	shapeScans map[*event.Shape]*shapeScan
	lastShape  *event.Shape
	lastScan   *shapeScan

	flushMu sync.Mutex // one flush at a time; guards lastTS
	lastTS  int64

	runMu   sync.Mutex
	closed  bool
	stop    chan struct{}
	running sync.WaitGroup

	warn *selfmon.Warner
}

var _ pipeline.Observer = (*Deriver)(nil)

// New compiles the derivations. It starts nothing: Run writes on a timer,
// Close writes what is left.
func New(opts Options) (*Deriver, error) {
	if opts.Appendable == nil {
		return nil, errors.New("derive: no Appendable")
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	d := &Deriver{
		opts: opts,
		log:  opts.Logger,
		stop: make(chan struct{}),
		warn: &selfmon.Warner{},
	}
	var err error
	if opts.EMF.Enabled {
		d.emf = newEMFDeriver(opts.EMF)
	}
	if opts.RED.Enabled {
		if d.red, err = newREDDeriver(opts.RED); err != nil {
			return nil, err
		}
	}
	if len(opts.Filters) > 0 {
		if d.filters, err = newFilterDeriver(opts.Filters); err != nil {
			return nil, err
		}
	}
	d.metrics = newSelfMetrics(opts.Registerer, d.log)
	return d, nil
}

// counts are what Observe did since the last publication to the self
// metrics; plain integers under mu, so that the hot path touches no atomic.
type counts struct {
	redEvents, emfEvents, filterEvents int
	emfRejected                        map[string]int
	skipped                            map[[2]string]int
	dropped                            map[string]int
}

func (c *counts) skip(derivation, reason string) {
	if c.skipped == nil {
		c.skipped = map[[2]string]int{}
	}
	c.skipped[[2]string{derivation, reason}]++
}

func (c *counts) drop(derivation string) {
	if c.dropped == nil {
		c.dropped = map[string]int{}
	}
	c.dropped[derivation]++
}

// Observe aggregates the metrics of a committed batch. It implements
// pipeline.Observer: it neither keeps the events nor their strings.
func (d *Deriver) Observe(events []event.Event) {
	if d.emf == nil && d.red == nil && d.filters == nil {
		return
	}
	now := time.Now().Unix()
	d.mu.Lock()
	for i := range events {
		d.observe(&events[i], now)
	}
	c := d.counts
	d.counts = counts{}
	d.mu.Unlock()
	d.publish(&c)
}

func (d *Deriver) observe(ev *event.Event, now int64) {
	if d.red != nil && ev.Group == span.Group {
		if d.red.spans {
			d.red.observeSpan(ev, now, &d.counts)
		}
	} else if d.red != nil || d.emf != nil {
		var own shapeScan
		sc := &own
		if ev.Shape != nil {
			sc = d.shapeScan(ev)
		} else {
			own.emf = d.scan(ev, &own.red)
		}
		extracted := false
		if sc.emf && d.emf != nil {
			extracted = d.emf.observe(ev, now, &d.counts, d)
		}
		if d.red != nil && !extracted && sc.red.role[roleStatus] >= 0 && d.red.watches(ev.Group) {
			d.red.observeLog(ev, &sc.red, now, &d.counts)
		}
	}
	if d.filters != nil {
		d.filters.observe(ev, now, &d.counts)
	}
}

// shapeScan is the scan of an event's fields.
type shapeScan struct {
	red redScan
	emf bool
}

// maxShapeScans bounds the remembered scans; the cache starts over when
// it is full.
const maxShapeScans = 4096

// shapeScan returns the scan of an event that has a Shape, from the cache
// when its shape was scanned before.
func (d *Deriver) shapeScan(ev *event.Event) *shapeScan {
	if ev.Shape == d.lastShape {
		return d.lastScan
	}
	sc := d.shapeScans[ev.Shape]
	if sc == nil {
		if d.shapeScans == nil || len(d.shapeScans) >= maxShapeScans {
			d.shapeScans = make(map[*event.Shape]*shapeScan)
		}
		sc = &shapeScan{}
		sc.emf = d.scan(ev, &sc.red)
		d.shapeScans[ev.Shape] = sc
	}
	d.lastShape, d.lastScan = ev.Shape, sc
	return sc
}

// scan finds the fields RED metrics read and whether the event declares
// EMF metrics, in one pass over its fields.
func (d *Deriver) scan(ev *event.Event, sc *redScan) (hasEMF bool) {
	sc.reset()
	var t *roleTable
	if d.red != nil {
		t = &d.red.table
	}
	for i := range ev.Fields {
		n := ev.Fields[i].Name
		if len(n) == 0 {
			continue
		}
		if c := n[0]; c == '_' || c == 'b' {
			if isEMFField(n) {
				hasEMF = true
			}
		}
		if t != nil && len(n) < maxRoleName {
			if cell := t.index[len(n)][n[0]]; cell != 0 {
				for _, e := range t.cells[cell-1] {
					if e.name == n {
						if cur := sc.role[e.role]; cur < 0 || e.prio < sc.prio[e.role] {
							sc.role[e.role], sc.prio[e.role], sc.scale[e.role] = int32(i), e.prio, e.scale
						}
						break
					}
				}
			}
		}
	}
	return hasEMF
}

// publish adds the counts of one Observe call to the self metrics.
func (d *Deriver) publish(c *counts) {
	m := d.metrics
	add := func(vec *prometheus.CounterVec, n int, lvs ...string) {
		if n > 0 {
			vec.WithLabelValues(lvs...).Add(float64(n))
		}
	}
	add(m.events, c.redEvents, "red")
	add(m.events, c.emfEvents, "emf")
	add(m.events, c.filterEvents, "filters")
	for r, n := range c.emfRejected {
		add(m.emfRejected, n, r)
	}
	for k, n := range c.skipped {
		add(m.skipped, n, k[0], k[1])
	}
	for der, n := range c.dropped {
		add(m.dropped, n, der)
		d.warn.Warn(d.log, "series_"+der, "Derived metric series over the cap dropped", "derivation", der, "series", n)
	}
}

// Run writes the aggregates every FlushInterval until Close is called.
// It returns nil; failed flushes are logged (at most one warning per 10s)
// and counted.
func (d *Deriver) Run() error {
	d.runMu.Lock()
	if d.closed {
		d.runMu.Unlock()
		return nil
	}
	d.running.Add(1)
	d.runMu.Unlock()
	defer d.running.Done()
	t := time.NewTicker(d.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return nil
		case <-t.C:
			if err := d.Flush(context.Background()); err != nil {
				d.warn.Warn(d.log, "flush", "Writing derived metrics failed", "err", err)
			}
		}
	}
}

// Close stops Run and writes what was aggregated. Events observed after
// Close are not written: close the pipeline first. It is safe to call more
// than once; later calls do nothing.
func (d *Deriver) Close() error {
	d.runMu.Lock()
	if d.closed {
		d.runMu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	d.runMu.Unlock()
	d.running.Wait()
	return d.Flush(context.Background())
}

// Flush writes the aggregates now. All samples of a flush share one
// timestamp, later than the previous flush's. It fails only when a commit
// fails; samples the store refuses one by one are counted in
// sonde_derive_samples_write_failed_total{reason}.
func (d *Deriver) Flush(ctx context.Context) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	now := time.Now()
	ts := now.UnixMilli()
	if ts <= d.lastTS {
		ts = d.lastTS + 1
	}
	d.lastTS = ts
	idleBefore := now.Add(-d.opts.IdleTimeout).Unix()

	// Take the values under the lock, write them after it, so that the
	// pipeline's writer waits for a copy, not for the metric store.
	var snaps []flushable
	d.mu.Lock()
	if d.red != nil {
		snaps = append(snaps, d.red.snapshot(now.Unix(), idleBefore))
	}
	if d.emf != nil {
		snaps = append(snaps, d.emf.snapshot(now.Unix(), idleBefore))
	}
	if d.filters != nil {
		snaps = append(snaps, d.filters.snapshot(now.Unix(), idleBefore))
	}
	d.mu.Unlock()

	w := newWriter(ctx, d.opts.Appendable, ts)
	for _, s := range snaps {
		s.write(w)
		d.metrics.series.WithLabelValues(s.name()).Set(float64(s.live()))
	}
	err := w.Commit()
	if n := w.Written(); n > 0 {
		d.metrics.written.Add(float64(n))
	}
	for r, n := range w.Failed() {
		d.metrics.writeFailed.WithLabelValues(r).Add(float64(n))
	}
	if err != nil {
		return fmt.Errorf("write derived metrics: %w", err)
	}
	return nil
}

// flushable is one derivation's copy of its aggregates at a flush.
type flushable interface {
	name() string
	live() int // series kept after this flush
	write(w *writer)
}

// selfMetrics are the derivations' own metrics.
type selfMetrics struct {
	emfRejected *prometheus.CounterVec
	events      *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	series      *prometheus.GaugeVec
	written     prometheus.Counter
	writeFailed *prometheus.CounterVec
}

func newSelfMetrics(reg prometheus.Registerer, log *slog.Logger) *selfMetrics {
	m := &selfMetrics{
		emfRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_emf_rejected_total",
			Help: "Log events with CloudWatch embedded metric format (EMF) metrics that were not extracted, by reason.",
		}, []string{"reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_derive_events_total",
			Help: "Derived observations: events counted as requests (red), EMF events extracted (emf), metric filter rules an event updated (filters).",
		}, []string{"derivation"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_derive_events_skipped_total",
			Help: "Events a derivation matched but could not count (a missing or non-numeric value or dimension), by derivation and reason.",
		}, []string{"derivation", "reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_derive_series_dropped_total",
			Help: "Observations dropped because their new series was over the derivation's series cap.",
		}, []string{"derivation"}),
		series: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sonde_derive_series",
			Help: "Series each derivation holds in memory and writes at every flush.",
		}, []string{"derivation"}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_derive_samples_written_total",
			Help: "Derived samples committed to the metric store.",
		}),
		writeFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_derive_samples_write_failed_total",
			Help: "Derived samples the metric store refused, by reason.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.emfRejected, m.events, m.skipped, m.dropped, m.series, m.written, m.writeFailed} {
		if err := reg.Register(c); err != nil {
			log.Warn("Registering derived metrics' own metrics failed", "err", err)
		}
	}
	return m
}
