package statsd

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// commitEvery is the number of samples one appender takes before it is
// committed and a new one started, so that a large flush does not hold
// everything in one transaction.
const commitEvery = 10_000

// output is what the flusher remembers of one output series.
type output struct {
	lset labels.Labels
	ref  storage.SeriesRef
	meta bool // metadata sent for ref
	live bool // the last sample written was a value, not a stale marker
}

// Flush writes the aggregates of the current flush interval now and
// starts a new interval; the flush loop calls it every FlushInterval.
// Counters, timer and histogram sums and counts are cumulative; gauges
// keep their value; per-interval statistics start over. All samples of a
// flush share one timestamp, later than the previous flush's. It returns
// an error only when a commit fails; samples refused one by one are
// counted in sonde_ingest_samples_write_failed_total.
func (s *Server) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.flush(ctx, time.Now())
}

// flush is Flush at time now; s.flushMu is held.
func (s *Server) flush(ctx context.Context, now time.Time) error {
	start := time.Now()
	ts := now.UnixMilli()
	if ts <= s.lastTS {
		ts = s.lastTS + 1
	}
	s.lastTS = ts
	elapsed := now.Sub(s.lastFlush).Seconds()
	s.lastFlush = now
	if elapsed <= 0 {
		elapsed = s.opts.FlushInterval.Seconds()
	}

	t := s.table
	t.forgetRejected()
	s.list = t.snapshot(s.list[:0])
	w := writer{ctx: ctx, appendable: s.opts.Appendable, ts: ts}
	var unheld int64
	for _, se := range s.list {
		iv, gauge := t.take(se)
		unheld += iv.unheld
		if iv.touched {
			se.lastUpdate = now
		} else if now.Sub(se.lastUpdate) >= s.opts.StaleAfter && t.expire(se) {
			w.markStale(se)
			continue
		}
		if se.out == nil {
			se.out = make([]output, t.outputs.count(se.typ))
		}
		s.emit(&w, se, &iv, gauge, elapsed)
	}
	clear(s.list)
	err := w.commit()

	m := &s.metrics
	add(m.written, w.written)
	for r, n := range w.failed {
		add(m.writeFailed[r], n)
	}
	add(m.unheld, int(unheld))
	if m.series != nil {
		m.series.Set(float64(t.nKeys.Load()))
	}
	if m.flushTime != nil {
		m.flushTime.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return fmt.Errorf("flush statsd aggregates: %w", err)
	}
	return nil
}

// emit writes the outputs of one series for the interval iv.
func (s *Server) emit(w *writer, se *series, iv *interval, gauge, elapsed float64) {
	tm := &s.table.outputs
	switch se.typ {
	case Counter:
		se.total += iv.count
		w.put(tm, se, 0, se.total)
		return
	case Gauge:
		w.put(tm, se, 0, gauge)
		return
	case Set:
		w.put(tm, se, 0, float64(len(iv.members)))
		return
	}
	scale := scaleOf(se.typ)
	se.sumTotal += iv.csum
	se.countTotal += iv.count
	st := newObserverStats(iv, s.cum, s.cumSq)
	s.cum, s.cumSq = st.cum, st.cumSq
	for i, o := range tm.observer {
		var v float64
		ok := iv.n > 0
		switch o.kind {
		case outSum:
			v, ok = se.sumTotal, true
		case outCount:
			v, ok = se.countTotal, true
		case outCountPS:
			v, ok = iv.count/elapsed, true
		case outQuantile:
			v, ok = st.quantile(o.q)
		case outLower:
			v = st.lower
		case outUpper:
			v = st.upper
		case outMean:
			v = st.mean
		case outMedian:
			v, ok = st.median()
		case outStd:
			v = st.std
		case outSumSquares:
			v = st.sumsq
		default:
			var ps pctStats
			ps, ok = st.percentile(o.q)
			switch o.kind {
			case outPctCount:
				v = ps.count
			case outPctMean:
				v = ps.mean
			case outPctBound:
				v = ps.bound
			case outPctSum:
				v = ps.sum
			case outPctSumSquares:
				v = ps.sumsq
			}
		}
		if !ok {
			// Nothing to say for this interval: the series disappears
			// from queries at once rather than repeating its last value.
			w.stale(tm, se, i)
			continue
		}
		w.put(tm, se, i, v*math.Pow(scale, float64(o.power)))
	}
}

// writer appends the samples of one flush, committing every commitEvery.
type writer struct {
	ctx        context.Context
	appendable storage.Appendable
	app        storage.Appender
	ts         int64
	pending    int
	written    int
	failed     map[string]int
	err        error
}

// put appends value v to output i of se.
func (w *writer) put(tm *outputTemplates, se *series, i int, v float64) {
	o := &se.out[i]
	if o.lset.IsEmpty() {
		o.lset = tm.outputLabels(se, i)
	}
	if !w.append(o, v) {
		return
	}
	if !o.meta {
		// Best effort: an appender without metadata support still stores
		// the samples.
		if _, err := w.app.UpdateMetadata(o.ref, o.lset, tm.outputMetadata(se, i)); err == nil {
			o.meta = true
		}
	}
	o.live = true
}

// stale writes a staleness marker for output i of se if its last sample
// was a value.
func (w *writer) stale(_ *outputTemplates, se *series, i int) {
	o := &se.out[i]
	if o.live && w.append(o, math.Float64frombits(value.StaleNaN)) {
		o.live = false
	}
}

// markStale writes staleness markers for every live output of an expired
// series.
func (w *writer) markStale(se *series) {
	for i := range se.out {
		w.stale(nil, se, i)
	}
}

// append appends one sample and reports whether the store took it.
func (w *writer) append(o *output, v float64) bool {
	if w.app == nil {
		w.app = w.appendable.Appender(w.ctx)
	}
	ref, err := w.app.Append(o.ref, o.lset, w.ts, v)
	if err != nil {
		if w.failed == nil {
			w.failed = map[string]int{}
		}
		w.failed[classifyAppendError(err)]++
		o.ref, o.meta = 0, false
		return false
	}
	if ref != o.ref {
		o.ref, o.meta = ref, false
	}
	w.pending++
	if w.pending >= commitEvery {
		if err := w.commit(); err != nil && w.err == nil {
			w.err = err
		}
	}
	return true
}

// commit commits the current appender, if any, and returns the first
// commit error of the flush.
func (w *writer) commit() error {
	if w.app == nil {
		return w.err
	}
	err := w.app.Commit()
	w.app = nil
	if err != nil {
		if w.failed == nil {
			w.failed = map[string]int{}
		}
		w.failed[writeError] += w.pending
		if w.err == nil {
			w.err = err
		}
	} else {
		w.written += w.pending
	}
	w.pending = 0
	return w.err
}

func classifyAppendError(err error) string {
	if r := selfmon.AppendErrorReason(err); r != "" {
		return r
	}
	return writeError
}
