package statsd

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
)

// outKind is what one output series of a statsd series carries.
type outKind uint8

const (
	outValue         outKind = iota // counter total, gauge value, set size
	outSum                          // summary _sum: cumulative sum of value/rate
	outCount                        // summary _count: cumulative sum of 1/rate
	outQuantile                     // summary {quantile=q} over the interval
	outCountPS                      // etsy count_ps
	outLower                        // etsy lower
	outUpper                        // etsy upper
	outMean                         // etsy mean
	outMedian                       // etsy median
	outStd                          // etsy std
	outSumSquares                   // etsy sum_squares
	outPctCount                     // etsy count_P
	outPctMean                      // etsy mean_P
	outPctBound                     // etsy upper_P, or lower_topP for negative P
	outPctSum                       // etsy sum_P
	outPctSumSquares                // etsy sum_squares_P
)

// outputTemplate describes one output series of an observer (ms, h, d).
type outputTemplate struct {
	kind   outKind
	suffix string  // appended to the escaped name
	q      float64 // the quantile (0..1) or percentile threshold (-100..100)
	qLabel string  // the quantile label value
	stat   string  // the etsy statistic's name, for help texts
	// power is the power of the value's unit: 1 for durations, 2 for
	// sum_squares, 0 for counts.
	power int
}

// outputTemplates lists the outputs of observer series for the configured
// quantiles and percentile thresholds.
type outputTemplates struct {
	observer []outputTemplate
}

func newOutputTemplates(quantiles, percentiles []float64) outputTemplates {
	o := []outputTemplate{
		{kind: outSum, suffix: "_sum", stat: "sum", power: 1},
		{kind: outCount, suffix: "_count", stat: "count"},
	}
	for _, q := range quantiles {
		o = append(o, outputTemplate{kind: outQuantile, q: q, qLabel: strconv.FormatFloat(q, 'g', -1, 64), power: 1})
	}
	o = append(o,
		outputTemplate{kind: outCountPS, suffix: "_count_ps", stat: "count_ps"},
		outputTemplate{kind: outLower, suffix: "_lower", stat: "lower", power: 1},
		outputTemplate{kind: outUpper, suffix: "_upper", stat: "upper", power: 1},
		outputTemplate{kind: outMean, suffix: "_mean", stat: "mean", power: 1},
		outputTemplate{kind: outMedian, suffix: "_median", stat: "median", power: 1},
		outputTemplate{kind: outStd, suffix: "_std", stat: "std", power: 1},
		outputTemplate{kind: outSumSquares, suffix: "_sum_squares", stat: "sum_squares", power: 2},
	)
	for _, p := range percentiles {
		n := pctName(p)
		bound := "upper_" + n
		if p < 0 {
			bound = "lower_" + n
		}
		o = append(o,
			outputTemplate{kind: outPctCount, suffix: "_count_" + n, q: p, stat: "count_" + n},
			outputTemplate{kind: outPctMean, suffix: "_mean_" + n, q: p, stat: "mean_" + n, power: 1},
			outputTemplate{kind: outPctBound, suffix: "_" + bound, q: p, stat: bound, power: 1},
			outputTemplate{kind: outPctSum, suffix: "_sum_" + n, q: p, stat: "sum_" + n, power: 1},
			outputTemplate{kind: outPctSumSquares, suffix: "_sum_squares_" + n, q: p, stat: "sum_squares_" + n, power: 2},
		)
	}
	return outputTemplates{observer: o}
}

// count is the number of output series of a series of type t.
func (o outputTemplates) count(t Type) int {
	if t.observer() {
		return len(o.observer)
	}
	return 1
}

// names returns the distinct metric names a series of type t and escaped
// name base writes.
func (o outputTemplates) names(t Type, base string) []string {
	switch t {
	case Counter:
		return []string{counterName(base)}
	case Gauge, Set:
		return []string{base}
	}
	names := make([]string, 0, len(o.observer))
	quantile := false
	for _, tm := range o.observer {
		if tm.kind == outQuantile {
			if quantile {
				continue
			}
			quantile = true
		}
		names = append(names, base+tm.suffix)
	}
	return names
}

// outputLabels returns the labels of output i of s.
func (o outputTemplates) outputLabels(s *series, i int) labels.Labels {
	b := labels.NewScratchBuilder(s.labels.Len() + 2)
	s.labels.Range(func(l labels.Label) { b.Add(l.Name, l.Value) })
	switch {
	case s.typ == Counter:
		b.Add(labels.MetricName, counterName(s.base))
	case !s.typ.observer():
		b.Add(labels.MetricName, s.base)
	default:
		tm := o.observer[i]
		b.Add(labels.MetricName, s.base+tm.suffix)
		if tm.kind == outQuantile {
			b.Add("quantile", tm.qLabel)
		}
	}
	b.Sort()
	return b.Labels()
}

// outputMetadata returns the metadata of output i of s.
func (o outputTemplates) outputMetadata(s *series, i int) metadata.Metadata {
	what := fmt.Sprintf("%s %q", typeWord(s.typ), s.raw)
	switch s.typ {
	case Counter:
		return metadata.Metadata{Type: model.MetricTypeCounter, Help: "Statsd " + what + "."}
	case Gauge:
		return metadata.Metadata{Type: model.MetricTypeGauge, Help: "Statsd " + what + "."}
	case Set:
		return metadata.Metadata{Type: model.MetricTypeGauge, Help: "Unique values of statsd " + what + " in the last flush interval."}
	}
	tm := o.observer[i]
	unit := ""
	if s.typ == Timer && tm.power == 1 {
		unit = "seconds"
	}
	switch tm.kind {
	case outSum, outCount, outQuantile:
		h := "Statsd " + what + "; quantiles over the last flush interval."
		if s.typ == Timer {
			h = "Statsd " + what + " in seconds; quantiles over the last flush interval."
		}
		return metadata.Metadata{Type: model.MetricTypeSummary, Unit: unitOf(s.typ), Help: h}
	}
	h := fmt.Sprintf("Etsy statsd %s of %s over the last flush interval", tm.stat, what)
	switch {
	case s.typ == Timer && tm.power == 1:
		h += ", in seconds"
	case s.typ == Timer && tm.power == 2:
		h += ", in seconds squared"
	}
	return metadata.Metadata{Type: model.MetricTypeGauge, Unit: unit, Help: h + "."}
}

func unitOf(t Type) string {
	if t == Timer {
		return "seconds"
	}
	return ""
}

func typeWord(t Type) string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Timer:
		return "timer"
	case Histogram:
		return "histogram"
	case Distribution:
		return "distribution"
	case Set:
		return "set"
	}
	return t.String()
}

// observerStats are the etsy statistics of an interval's values, in the
// values' own unit (milliseconds for timers).
type observerStats struct {
	n          int64     // values seen
	sorted     []float64 // the values held, sorted
	truncated  bool      // sorted is a sample of the n values
	lower      float64
	upper      float64
	sum        float64
	sumsq      float64
	mean       float64
	std        float64
	cum, cumSq []float64 // running sums over sorted
}

// newObserverStats computes the statistics of iv as etsy statsd's
// process_metrics does: over the sorted values, summing in sorted order.
// When the interval had more values than were held, the exact running
// sums stand in for the sorted sums, and the median and percentiles come
// from the uniform sample held.
func newObserverStats(iv *interval, cum, cumSq []float64) observerStats {
	st := observerStats{n: iv.n, sorted: iv.values, truncated: int64(len(iv.values)) < iv.n}
	slices.Sort(st.sorted)
	k := len(st.sorted)
	cum, cumSq = cum[:0], cumSq[:0]
	var c, cs float64
	for _, v := range st.sorted {
		c += v
		cs += v * v
		cum = append(cum, c)
		cumSq = append(cumSq, cs)
	}
	st.cum, st.cumSq = cum, cumSq
	if st.truncated || k == 0 {
		st.lower, st.upper, st.sum, st.sumsq = iv.min, iv.max, iv.sum, iv.sumsq
		if iv.n > 0 {
			st.mean = iv.sum / float64(iv.n)
			st.std = math.Sqrt(iv.wm2 / float64(iv.n))
		}
		return st
	}
	st.lower, st.upper = st.sorted[0], st.sorted[k-1]
	st.sum, st.sumsq = cum[k-1], cumSq[k-1]
	st.mean = st.sum / float64(k)
	var diffs float64
	for _, v := range st.sorted {
		diffs += (v - st.mean) * (v - st.mean)
	}
	st.std = math.Sqrt(diffs / float64(k))
	return st
}

// median is etsy's: the middle value, or the mean of the two middle ones.
func (st *observerStats) median() (float64, bool) {
	k := len(st.sorted)
	if k == 0 {
		return 0, false
	}
	mid := k / 2
	if k%2 == 1 {
		return st.sorted[mid], true
	}
	return (st.sorted[mid-1] + st.sorted[mid]) / 2, true
}

// quantile is the nearest-rank quantile q (0..1) of the held values, with
// etsy's rounding: the value at rank round(q*count), at least 1.
func (st *observerStats) quantile(q float64) (float64, bool) {
	k := len(st.sorted)
	if k == 0 {
		return 0, false
	}
	r := int(math.Round(q * float64(k)))
	r = min(max(r, 1), k)
	return st.sorted[r-1], true
}

// pctStats are etsy's statistics for a percentile threshold.
type pctStats struct {
	count, mean, bound, sum, sumsq float64
}

// percentile computes etsy's count_P, mean_P, upper_P (or lower_topP),
// sum_P and sum_squares_P. ok is false when etsy skips the threshold
// because no value falls in it. For a truncated interval the count is the
// threshold's share of all values seen and the sums are scaled to it.
func (st *observerStats) percentile(p float64) (ps pctStats, ok bool) {
	k := len(st.sorted)
	if k == 0 {
		return ps, false
	}
	num := k
	ps.bound, ps.sum, ps.sumsq = st.sorted[k-1], st.sorted[0], st.sorted[0]*st.sorted[0]
	if k > 1 {
		num = int(math.Round(math.Abs(p) / 100 * float64(k)))
		if num == 0 {
			return ps, false
		}
		if p > 0 {
			ps.bound = st.sorted[num-1]
			ps.sum = st.cum[num-1]
			ps.sumsq = st.cumSq[num-1]
		} else {
			ps.bound = st.sorted[k-num]
			ps.sum, ps.sumsq = st.cum[k-1], st.cumSq[k-1]
			if k-num-1 >= 0 {
				ps.sum -= st.cum[k-num-1]
				ps.sumsq -= st.cumSq[k-num-1]
			}
		}
	}
	ps.count = float64(num)
	ps.mean = ps.sum / ps.count
	if st.truncated {
		ps.count = math.Round(math.Abs(p) / 100 * float64(st.n))
		if k == 1 {
			ps.count = float64(st.n)
		}
		ps.sum = ps.mean * ps.count
		ps.sumsq = ps.sumsq / float64(num) * ps.count
	}
	return ps, true
}
