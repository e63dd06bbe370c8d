package statsd

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/sonde-dev/sonde/internal/metrics/batch"
)

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
	w := writer{Writer: batch.New(func() storage.Appender { return s.opts.Appendable.Appender(ctx) }, writeError), ts: ts}
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
	err := w.Commit()

	m := &s.metrics
	add(m.written, w.Written())
	for r, n := range w.Failed() {
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

// writer appends the samples of one flush.
type writer struct {
	*batch.Writer[storage.Appender]
	ts int64
}

// put appends value v to output i of se.
func (w *writer) put(tm *outputTemplates, se *series, i int, v float64) {
	o := &se.out[i]
	if o.lset.IsEmpty() {
		o.lset = tm.outputLabels(se, i)
	}
	app, ok := w.append(o, v)
	if !ok {
		return
	}
	if !o.meta {
		// Best effort: an appender without metadata support still stores
		// the samples.
		if _, err := app.UpdateMetadata(o.ref, o.lset, tm.outputMetadata(se, i)); err == nil {
			o.meta = true
		}
	}
	o.live = true
}

// stale writes a staleness marker for output i of se if its last sample
// was a value.
func (w *writer) stale(_ *outputTemplates, se *series, i int) {
	o := &se.out[i]
	if !o.live {
		return
	}
	if _, ok := w.append(o, math.Float64frombits(value.StaleNaN)); ok {
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

// append appends one sample and reports whether the store took it, and
// through which appender (the one any metadata of the sample goes to).
func (w *writer) append(o *output, v float64) (storage.Appender, bool) {
	app := w.Appender()
	ref, err := app.Append(o.ref, o.lset, w.ts, v)
	if err != nil {
		w.Refused(batch.Reason(err, writeError))
		o.ref, o.meta = 0, false
		return nil, false
	}
	if ref != o.ref {
		o.ref, o.meta = ref, false
	}
	w.Took()
	return app, true
}
