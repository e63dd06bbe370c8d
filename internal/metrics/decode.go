package metrics

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file decodes Prometheus remote write 1.0 requests (prompb.WriteRequest,
// https://prometheus.io/docs/specs/prw/remote_write_spec/) without
// building the generated Go structs: the receiver walks the protobuf bytes
// and hands each series' raw labels and samples to a visitor, so that a
// series already known costs no allocation at all. FuzzDecodeWriteRequest
// checks it against the generated decoder.

// errMalformed wraps every protobuf decoding error.
var errMalformed = errors.New("malformed remote write request")

// Field numbers of prompb.WriteRequest, TimeSeries, Label, Sample and
// MetricMetadata.
const (
	fieldWriteTimeseries = 1
	fieldWriteMetadata   = 3

	fieldSeriesLabels     = 1
	fieldSeriesSamples    = 2
	fieldSeriesExemplars  = 3
	fieldSeriesHistograms = 4

	fieldLabelName  = 1
	fieldLabelValue = 2

	fieldSampleValue     = 1
	fieldSampleTimestamp = 2

	fieldMetadataType   = 1
	fieldMetadataFamily = 2
	fieldMetadataHelp   = 4
	fieldMetadataUnit   = 5
)

// requestVisitor receives the parts of a request, in order. The byte slices
// point into the request and are only valid during the call.
type requestVisitor interface {
	// series is called once per TimeSeries with its encoded form, before
	// the fields are visited with the iterators below.
	series(ts rawSeries) error
	metadata(typ model.MetricType, family, help, unit []byte)
}

// rawSeries is one encoded prompb.TimeSeries.
type rawSeries struct {
	buf []byte
}

// rawLabel is one label, pointing into the request.
type rawLabel struct {
	name, value []byte
}

// decodeWriteRequest walks an uncompressed prompb.WriteRequest.
func decodeWriteRequest(buf []byte, v requestVisitor) error {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return malformed("request", protowire.ParseError(n))
		}
		buf = buf[n:]
		switch {
		case num == fieldWriteTimeseries && typ == protowire.BytesType:
			ts, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return malformed("timeseries", protowire.ParseError(n))
			}
			buf = buf[n:]
			if err := checkSeries(ts); err != nil {
				return err
			}
			if err := v.series(rawSeries{buf: ts}); err != nil {
				return err
			}
		case num == fieldWriteMetadata && typ == protowire.BytesType:
			md, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return malformed("metadata", protowire.ParseError(n))
			}
			buf = buf[n:]
			if err := decodeMetadata(md, v); err != nil {
				return err
			}
		case num == fieldWriteTimeseries || num == fieldWriteMetadata:
			return malformed("request", fmt.Errorf("field %d has wire type %d", num, typ))
		default:
			n := protowire.ConsumeFieldValue(num, typ, buf)
			if n < 0 {
				return malformed("request", protowire.ParseError(n))
			}
			buf = buf[n:]
		}
	}
	return nil
}

func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", errMalformed, what, err)
}

// checkSeries validates the structure of a TimeSeries (and of its labels
// and samples) once, so that the iterators below cannot fail.
func checkSeries(buf []byte) error {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return malformed("timeseries", protowire.ParseError(n))
		}
		buf = buf[n:]
		if typ == protowire.BytesType && num >= fieldSeriesLabels && num <= fieldSeriesHistograms {
			b, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return malformed("timeseries", protowire.ParseError(n))
			}
			buf = buf[n:]
			var err error
			switch num {
			case fieldSeriesLabels:
				_, err = decodeLabel(b)
			case fieldSeriesSamples:
				_, _, err = decodeSample(b)
			case fieldSeriesExemplars:
				err = checkExemplar(b)
			default:
				var h prompb.Histogram
				if herr := h.Unmarshal(b); herr != nil {
					err = malformed("histogram", herr)
				}
			}
			if err != nil {
				return err
			}
			continue
		}
		if (num == fieldSeriesLabels || num == fieldSeriesSamples || num == fieldSeriesExemplars || num == fieldSeriesHistograms) && typ != protowire.BytesType {
			return malformed("timeseries", fmt.Errorf("field %d has wire type %d", num, typ))
		}
		n = protowire.ConsumeFieldValue(num, typ, buf)
		if n < 0 {
			return malformed("timeseries", protowire.ParseError(n))
		}
		buf = buf[n:]
	}
	return nil
}

// labels appends the series' labels to raw, in request order, and their
// encoded form to key (which identifies the series in the series cache).
func (ts rawSeries) labels(key []byte, raw []rawLabel) ([]byte, []rawLabel) {
	buf := ts.buf
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		buf = buf[n:]
		if num == fieldSeriesLabels && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(buf)
			key = append(key, buf[:n]...)
			buf = buf[n:]
			l, _ := decodeLabel(b)
			raw = append(raw, l)
			continue
		}
		buf = buf[protowire.ConsumeFieldValue(num, typ, buf):]
	}
	return key, raw
}

// sampleIter iterates over a series' float samples, in order.
type sampleIter struct {
	buf []byte
	t   int64
	v   float64
}

func (ts rawSeries) sampleIter() sampleIter { return sampleIter{buf: ts.buf} }

func (it *sampleIter) next() bool {
	for len(it.buf) > 0 {
		num, typ, n := protowire.ConsumeTag(it.buf)
		it.buf = it.buf[n:]
		if num == fieldSeriesSamples && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(it.buf)
			it.buf = it.buf[n:]
			it.t, it.v, _ = decodeSample(b)
			return true
		}
		it.buf = it.buf[protowire.ConsumeFieldValue(num, typ, it.buf):]
	}
	return false
}

func (it *sampleIter) at() (int64, float64) { return it.t, it.v }

// count returns the number of samples and histograms of the series.
func (ts rawSeries) count() int {
	c := 0
	buf := ts.buf
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		buf = buf[n:]
		if num == fieldSeriesSamples || num == fieldSeriesHistograms {
			c++
		}
		buf = buf[protowire.ConsumeFieldValue(num, typ, buf):]
	}
	return c
}

// has reports whether the series has a field (exemplars, histograms).
func (ts rawSeries) has(field protowire.Number) bool {
	buf := ts.buf
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		buf = buf[n:]
		if num == field {
			return true
		}
		buf = buf[protowire.ConsumeFieldValue(num, typ, buf):]
	}
	return false
}

// checkExemplar validates an encoded prompb.Exemplar: labels (field 1), a
// double value (2) and a varint timestamp (3).
func checkExemplar(buf []byte) error {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return malformed("exemplar", protowire.ParseError(n))
		}
		buf = buf[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			b, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return malformed("exemplar", protowire.ParseError(n))
			}
			buf = buf[n:]
			if _, err := decodeLabel(b); err != nil {
				return err
			}
			continue
		case (num == 2 && typ != protowire.Fixed64Type) || (num == 3 && typ != protowire.VarintType) || num == 1:
			return malformed("exemplar", fmt.Errorf("field %d has wire type %d", num, typ))
		}
		n = protowire.ConsumeFieldValue(num, typ, buf)
		if n < 0 {
			return malformed("exemplar", protowire.ParseError(n))
		}
		buf = buf[n:]
	}
	return nil
}

func decodeLabel(buf []byte) (rawLabel, error) {
	var l rawLabel
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return l, malformed("label", protowire.ParseError(n))
		}
		buf = buf[n:]
		if (num == fieldLabelName || num == fieldLabelValue) && typ == protowire.BytesType {
			b, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return l, malformed("label", protowire.ParseError(n))
			}
			buf = buf[n:]
			if num == fieldLabelName {
				l.name = b
			} else {
				l.value = b
			}
			continue
		}
		if num == fieldLabelName || num == fieldLabelValue {
			return l, malformed("label", fmt.Errorf("field %d has wire type %d", num, typ))
		}
		n = protowire.ConsumeFieldValue(num, typ, buf)
		if n < 0 {
			return l, malformed("label", protowire.ParseError(n))
		}
		buf = buf[n:]
	}
	return l, nil
}

func decodeSample(buf []byte) (t int64, v float64, err error) {
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return 0, 0, malformed("sample", protowire.ParseError(n))
		}
		buf = buf[n:]
		switch {
		case num == fieldSampleValue && typ == protowire.Fixed64Type:
			x, n := protowire.ConsumeFixed64(buf)
			if n < 0 {
				return 0, 0, malformed("sample", protowire.ParseError(n))
			}
			buf = buf[n:]
			v = math.Float64frombits(x)
		case num == fieldSampleTimestamp && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(buf)
			if n < 0 {
				return 0, 0, malformed("sample", protowire.ParseError(n))
			}
			buf = buf[n:]
			t = int64(x)
		case num == fieldSampleValue || num == fieldSampleTimestamp:
			return 0, 0, malformed("sample", fmt.Errorf("field %d has wire type %d", num, typ))
		default:
			n := protowire.ConsumeFieldValue(num, typ, buf)
			if n < 0 {
				return 0, 0, malformed("sample", protowire.ParseError(n))
			}
			buf = buf[n:]
		}
	}
	return t, v, nil
}

// metricTypes maps prompb.MetricMetadata_MetricType to Prometheus' names.
var metricTypes = []model.MetricType{
	model.MetricTypeUnknown, model.MetricTypeCounter, model.MetricTypeGauge, model.MetricTypeHistogram,
	model.MetricTypeGaugeHistogram, model.MetricTypeSummary, model.MetricTypeInfo, model.MetricTypeStateset,
}

func decodeMetadata(buf []byte, v requestVisitor) error {
	var family, help, unit []byte
	typ := model.MetricTypeUnknown
	for len(buf) > 0 {
		num, wt, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return malformed("metadata", protowire.ParseError(n))
		}
		buf = buf[n:]
		switch {
		case num == fieldMetadataType && wt == protowire.VarintType:
			x, n := protowire.ConsumeVarint(buf)
			if n < 0 {
				return malformed("metadata", protowire.ParseError(n))
			}
			buf = buf[n:]
			// Proto3 enums are int32 on the wire (negative values take
			// ten bytes); values this decoder does not know are unknown.
			if e := int32(x); e >= 0 && int(e) < len(metricTypes) {
				typ = metricTypes[e]
			} else {
				typ = model.MetricTypeUnknown
			}
		case (num == fieldMetadataFamily || num == fieldMetadataHelp || num == fieldMetadataUnit) && wt == protowire.BytesType:
			b, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return malformed("metadata", protowire.ParseError(n))
			}
			buf = buf[n:]
			switch num {
			case fieldMetadataFamily:
				family = b
			case fieldMetadataHelp:
				help = b
			default:
				unit = b
			}
		case num == fieldMetadataType || num == fieldMetadataFamily || num == fieldMetadataHelp || num == fieldMetadataUnit:
			return malformed("metadata", fmt.Errorf("field %d has wire type %d", num, wt))
		default:
			n := protowire.ConsumeFieldValue(num, wt, buf)
			if n < 0 {
				return malformed("metadata", protowire.ParseError(n))
			}
			buf = buf[n:]
		}
	}
	v.metadata(typ, family, help, unit)
	return nil
}

// unsafeString views b as a string without copying; the string must not
// outlive b.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// validUTF8 reports whether b is valid UTF-8 (label names and values must be).
func validUTF8(b []byte) bool { return utf8.Valid(b) }
