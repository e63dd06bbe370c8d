package metrics

import (
	"math"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// decoded is what decodeWriteRequest reports, in a form comparable with the
// generated decoder's prompb.WriteRequest.
type decoded struct {
	gotSeries   []decodedSeries
	gotMetadata []prompb.MetricMetadata
}

type decodedSeries struct {
	labels     []prompb.Label
	samples    []prompb.Sample
	histograms int
	exemplars  int
}

func (d *decoded) series(ts rawSeries) error {
	var s decodedSeries
	_, raw := ts.labels(nil, nil)
	for _, l := range raw {
		s.labels = append(s.labels, prompb.Label{Name: string(l.name), Value: string(l.value)})
	}
	it := ts.sampleIter()
	for it.next() {
		t, v := it.at()
		s.samples = append(s.samples, prompb.Sample{Timestamp: t, Value: v})
	}
	var pts prompb.TimeSeries
	if err := pts.Unmarshal(ts.buf); err != nil {
		return err
	}
	s.histograms, s.exemplars = len(pts.Histograms), len(pts.Exemplars)
	d.gotSeries = append(d.gotSeries, s)
	return nil
}

func (d *decoded) metadata(typ model.MetricType, family, help, unit []byte) {
	var t prompb.MetricMetadata_MetricType
	for i, mt := range metricTypes {
		if mt == typ {
			t = prompb.MetricMetadata_MetricType(i)
		}
	}
	d.gotMetadata = append(d.gotMetadata, prompb.MetricMetadata{Type: t, MetricFamilyName: string(family), Help: string(help), Unit: string(unit)})
}

// sameAsGenerated checks that decodeWriteRequest agrees with the generated
// (gogo) decoder on buf: whatever sonde's decoder accepts, the generated one
// accepts with the same content. sonde's decoder is stricter in one way
// only: it rejects overlong varints that the generated code truncates.
func sameAsGenerated(t *testing.T, buf []byte) {
	var want prompb.WriteRequest
	wantErr := want.Unmarshal(buf)
	var got decoded
	err := decodeWriteRequest(buf, &got)
	if err != nil {
		return
	}
	require.NoError(t, wantErr, "sonde accepted a request the generated decoder rejects")
	require.Len(t, got.gotSeries, len(want.Timeseries))
	for i, ts := range want.Timeseries {
		g := got.gotSeries[i]
		require.Equal(t, len(ts.Labels), len(g.labels), "series %d labels", i)
		for j, l := range ts.Labels {
			require.Equal(t, l.Name, g.labels[j].Name)
			require.Equal(t, l.Value, g.labels[j].Value)
		}
		require.Equal(t, len(ts.Samples), len(g.samples), "series %d samples", i)
		for j, s := range ts.Samples {
			require.Equal(t, s.Timestamp, g.samples[j].Timestamp)
			require.Equal(t, math.Float64bits(s.Value), math.Float64bits(g.samples[j].Value))
		}
		require.Equal(t, len(ts.Histograms), g.histograms)
		require.Equal(t, len(ts.Exemplars), g.exemplars)
	}
	require.Len(t, got.gotMetadata, len(want.Metadata))
	for i, md := range want.Metadata {
		if int(md.Type) < 0 || int(md.Type) >= len(metricTypes) {
			md.Type = prompb.MetricMetadata_UNKNOWN
		}
		g := got.gotMetadata[i]
		require.Equal(t, []any{md.Type, md.MetricFamilyName, md.Help, md.Unit}, []any{g.Type, g.MetricFamilyName, g.Help, g.Unit})
	}
}

func sampleRequest() *prompb.WriteRequest {
	return &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{
				Labels:  []prompb.Label{{Name: "__name__", Value: "http_requests_total"}, {Name: "job", Value: "api"}, {Name: "route", Value: "/ü"}},
				Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}, {Value: math.Inf(1), Timestamp: 2000}, {Value: math.Float64frombits(0x7ff0000000000002), Timestamp: 3000}},
				Exemplars: []prompb.Exemplar{{
					Labels: []prompb.Label{{Name: "trace_id", Value: "abc"}}, Value: 0.5, Timestamp: 1500,
				}},
			},
			{
				Labels:     []prompb.Label{{Name: "job", Value: "api"}, {Name: "__name__", Value: "latency_seconds"}},
				Histograms: []prompb.Histogram{prompb.FromIntHistogram(2500, tsdbHistogram())},
			},
			{Labels: []prompb.Label{{Name: "__name__", Value: "empty"}}},
		},
		Metadata: []prompb.MetricMetadata{
			{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests.", Unit: ""},
			{Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "latency_seconds", Help: "Latency.", Unit: "seconds"},
		},
	}
}

func TestDecodeWriteRequestMatchesGenerated(t *testing.T) {
	buf, err := sampleRequest().Marshal()
	require.NoError(t, err)
	var got decoded
	require.NoError(t, decodeWriteRequest(buf, &got))
	require.Len(t, got.gotSeries, 3)
	require.Len(t, got.gotSeries[0].samples, 3)
	require.Equal(t, 1, got.gotSeries[1].histograms)
	require.Equal(t, 1, got.gotSeries[0].exemplars)
	require.Len(t, got.gotMetadata, 2)
	require.Equal(t, "/ü", got.gotSeries[0].labels[2].Value)
	sameAsGenerated(t, buf)

	// Every truncation of a valid request is handled like the generated
	// decoder handles it (most are errors for both).
	for i := 0; i < len(buf); i++ {
		sameAsGenerated(t, buf[:i])
	}
}

func TestDecodeWriteRequestRejectsMalformed(t *testing.T) {
	for name, buf := range map[string][]byte{
		"truncated length":           {0x0a, 0x05, 0x01},
		"timeseries wrong wire type": {0x08, 0x01},
		"sample value as varint":     {0x0a, 0x04, 0x12, 0x02, 0x08, 0x01},
		"label name as varint":       {0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01},
		"field number zero":          {0x02, 0x00},
		"metadata type as bytes":     {0x1a, 0x03, 0x0a, 0x01, 0x00},
		"overlong varint":            {0x0a, 0x0d, 0x12, 0x0b, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	} {
		err := decodeWriteRequest(buf, &decoded{})
		require.ErrorIs(t, err, errMalformed, name)
	}
}

// FuzzDecodeWriteRequest checks sonde's remote write decoder against
// Prometheus' generated one: it must never panic, and what it accepts must
// decode to the same series, samples and metadata.
func FuzzDecodeWriteRequest(f *testing.F) {
	buf, err := sampleRequest().Marshal()
	require.NoError(f, err)
	f.Add(buf)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Add([]byte{0x1a, 0x04, 0x08, 0xff, 0xff, 0x03})
	small, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels: []prompb.Label{{Name: "__name__", Value: "x"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: -5}},
	}}}).Marshal()
	require.NoError(f, err)
	f.Add(small)
	f.Fuzz(func(t *testing.T, buf []byte) {
		sameAsGenerated(t, buf)
	})
}
