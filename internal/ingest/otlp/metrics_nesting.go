package otlp

import (
	"reflect"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

// The OTLP metric messages the nesting guard walks through on its way to
// the resource, scope and attribute messages shared with logs.
const (
	msgMetricsRequest msgKind = 200 + iota
	msgResourceMetrics
	msgScopeMetrics
	msgMetric
	msgGauge // Gauge and Sum: data_points is field 1 of both
	msgHistogram
	msgExpHistogram
	msgSummary
	msgNumberPoint
	msgHistogramPoint
	msgExpHistogramPoint
	msgSummaryPoint
	msgExemplar
)

// metricChild returns the message kind of field num of a metric message,
// as logChild does for logs. Field numbers are those of
// opentelemetry/proto/metrics/v1.
func metricChild(k msgKind, num protowire.Number) msgKind {
	switch k {
	case msgMetricsRequest: // ExportMetricsServiceRequest
		if num == 1 {
			return msgResourceMetrics
		}
	case msgResourceMetrics:
		switch num {
		case 1:
			return msgResource
		case 2:
			return msgScopeMetrics
		}
	case msgScopeMetrics:
		switch num {
		case 1:
			return msgScope
		case 2:
			return msgMetric
		}
	case msgMetric:
		switch num {
		case 5, 7: // gauge, sum
			return msgGauge
		case 9:
			return msgHistogram
		case 10:
			return msgExpHistogram
		case 11:
			return msgSummary
		case 12: // metadata
			return msgKeyValue
		}
	case msgGauge:
		if num == 1 {
			return msgNumberPoint
		}
	case msgHistogram:
		if num == 1 {
			return msgHistogramPoint
		}
	case msgExpHistogram:
		if num == 1 {
			return msgExpHistogramPoint
		}
	case msgSummary:
		if num == 1 {
			return msgSummaryPoint
		}
	case msgNumberPoint:
		switch num {
		case 7:
			return msgKeyValue
		case 5:
			return msgExemplar
		}
	case msgHistogramPoint:
		switch num {
		case 9:
			return msgKeyValue
		case 8:
			return msgExemplar
		}
	case msgExpHistogramPoint:
		switch num {
		case 1:
			return msgKeyValue
		case 11:
			return msgExemplar
		}
	case msgSummaryPoint:
		if num == 7 {
			return msgKeyValue
		}
	case msgExemplar:
		if num == 7 { // filtered_attributes
			return msgKeyValue
		}
	}
	return msgNone
}

// metricsRequestType is the Go type gRPC decodes metric exports into (see
// guardedTypes).
var metricsRequestType = func() reflect.Type {
	if f, ok := reflect.TypeOf(pmetricotlp.ExportRequest{}).FieldByName("orig"); ok {
		return f.Type
	}
	return nil
}()
