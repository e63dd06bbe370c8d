package derive

import (
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
)

// Native histogram parameters: schema 3 has 8 buckets per power of two
// (about 9% wide), and a histogram keeps at most maxNativeBuckets buckets,
// halving its resolution when values spread wider.
const (
	nativeSchema     = 3
	maxNativeBuckets = 160
	// nativeZeroThreshold is Prometheus' default zero bucket width (2^-128).
	nativeZeroThreshold = 2.938735877055719e-39
)

// native is a cumulative native (exponential) histogram of float
// observations.
type native struct {
	schema    int32
	zeroCount float64
	count     float64
	sum       float64
	pos, neg  map[int32]float64
}

func newNative() native {
	return native{schema: nativeSchema, pos: map[int32]float64{}, neg: map[int32]float64{}}
}

// observe adds v (finite) to the histogram.
func (h *native) observe(v float64) {
	h.count++
	h.sum += v
	a := math.Abs(v)
	if a <= nativeZeroThreshold {
		h.zeroCount++
		return
	}
	idx := bucketIndex(a, h.schema)
	if v > 0 {
		h.pos[idx]++
	} else {
		h.neg[idx]++
	}
	for len(h.pos)+len(h.neg) > maxNativeBuckets && h.schema > histogram.ExponentialSchemaMin {
		h.reduce()
	}
}

// bucketIndex returns the index of the bucket (2^((i-1)/2^s), 2^(i/2^s)]
// that holds a > 0 at schema s.
func bucketIndex(a float64, schema int32) int32 {
	scale := math.Exp2(float64(schema))
	i := math.Ceil(math.Log2(a) * scale)
	// Correct the rounding of Log2 at the bucket bounds.
	if a > math.Exp2(i/scale) {
		i++
	} else if a <= math.Exp2((i-1)/scale) {
		i--
	}
	return int32(i)
}

// reduce halves the resolution: buckets 2k-1 and 2k merge into k.
func (h *native) reduce() {
	h.schema--
	for _, m := range []*map[int32]float64{&h.pos, &h.neg} {
		merged := make(map[int32]float64, len(*m)/2+1)
		for i, c := range *m {
			merged[((i-1)>>1)+1] += c
		}
		*m = merged
	}
}

// float returns the histogram as Prometheus' FloatHistogram.
func (h *native) float() *histogram.FloatHistogram {
	fh := &histogram.FloatHistogram{
		Schema:        h.schema,
		ZeroThreshold: nativeZeroThreshold,
		ZeroCount:     h.zeroCount,
		Count:         h.count,
		Sum:           h.sum,
	}
	fh.PositiveSpans, fh.PositiveBuckets = spansOf(h.pos)
	fh.NegativeSpans, fh.NegativeBuckets = spansOf(h.neg)
	return fh
}

// spansOf encodes sparse buckets as spans of consecutive indices with
// their absolute counts.
func spansOf(m map[int32]float64) ([]histogram.Span, []float64) {
	if len(m) == 0 {
		return nil, nil
	}
	idx := make([]int32, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var spans []histogram.Span
	counts := make([]float64, 0, len(idx))
	next := int32(0)
	for k, i := range idx {
		if k == 0 || i != next {
			off := i
			if k > 0 {
				off = i - next
			}
			spans = append(spans, histogram.Span{Offset: off, Length: 0})
		}
		spans[len(spans)-1].Length++
		counts = append(counts, m[i])
		next = i + 1
	}
	return spans, counts
}
