package derive

import (
	"context"
	"errors"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/sonde-dev/sonde/internal/metrics/batch"
)

// output is one series a derivation writes, with what the writer remembers
// of it. Only the flusher touches it.
type output struct {
	lset   labels.Labels
	family string
	md     metadata.Metadata
	ref    storage.SeriesRef
}

// writer appends the samples of one flush.
type writer struct {
	*batch.Writer[storage.AppenderV2]
	ts int64
}

func newWriter(ctx context.Context, a storage.AppendableV2, ts int64) *writer {
	return &writer{Writer: batch.New(func() storage.AppenderV2 { return a.AppenderV2(ctx) }, "commit"), ts: ts}
}

// float appends a float sample of o.
func (w *writer) float(o *output, v float64) { w.append(o, v, nil) }

// histogram appends a native histogram sample of o.
func (w *writer) histogram(o *output, fh *histogram.FloatHistogram) { w.append(o, 0, fh) }

// stale appends a staleness marker for o, which ends the series in
// queries at once.
func (w *writer) stale(o *output) { w.append(o, math.Float64frombits(value.StaleNaN), nil) }

func (w *writer) append(o *output, v float64, fh *histogram.FloatHistogram) {
	ref, err := w.Appender().Append(o.ref, o.lset, 0, w.ts, v, nil, fh, storage.AppendV2Options{MetricFamilyName: o.family, Metadata: o.md})
	if err != nil {
		var partial *storage.AppendPartialError
		if !errors.As(err, &partial) {
			w.Refused(batch.Reason(err, "error"))
			o.ref = 0
			return
		}
	}
	o.ref = ref
	w.Took()
}

// classic is a classic histogram with fixed bucket bounds: counts per
// bucket (the last one is +Inf), sum and count, all cumulative.
type classic struct {
	counts []uint64
	sum    float64
	n      uint64
}

func newClassic(bounds []float64) classic { return classic{counts: make([]uint64, len(bounds)+1)} }

func (h *classic) observe(bounds []float64, v float64) {
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.n++
}

// copyInto copies h into dst, reusing dst's slice.
func (h *classic) copyInto(dst *classic) {
	dst.counts = append(dst.counts[:0], h.counts...)
	dst.sum, dst.n = h.sum, h.n
}

// classicOutputs are the series of one classic histogram: a _bucket per
// bound and +Inf, then _sum and _count.
func classicOutputs(name string, base labels.Labels, bounds []float64, md metadata.Metadata) []output {
	out := make([]output, 0, len(bounds)+3)
	b := labels.NewBuilder(base)
	for _, le := range append(append([]float64(nil), bounds...), math.Inf(1)) {
		b.Set(labels.MetricName, name+"_bucket")
		b.Set(labels.BucketLabel, formatBound(le))
		out = append(out, output{lset: b.Labels(), family: name, md: md})
	}
	b.Del(labels.BucketLabel)
	b.Set(labels.MetricName, name+"_sum")
	out = append(out, output{lset: b.Labels(), family: name, md: md})
	b.Set(labels.MetricName, name+"_count")
	out = append(out, output{lset: b.Labels(), family: name, md: md})
	return out
}

// writeClassic writes a classic histogram's samples to its outputs.
func writeClassic(w *writer, out []output, h *classic) {
	var cum uint64
	for i, c := range h.counts {
		cum += c
		w.float(&out[i], float64(cum))
	}
	w.float(&out[len(h.counts)], h.sum)
	w.float(&out[len(h.counts)+1], float64(h.n))
}

// formatBound writes a bucket bound as Prometheus 3 normalizes le labels:
// "0.005", "1.0", "+Inf".
func formatBound(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	for i := 0; i < len(s); i++ {
		if s[i] == '.' || s[i] == 'e' {
			return s
		}
	}
	return s + ".0"
}
