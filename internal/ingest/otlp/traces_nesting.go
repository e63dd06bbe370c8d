package otlp

import (
	"reflect"

	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The OTLP trace messages the nesting guard walks through on its way to
// the resource, scope and attribute messages shared with logs.
const (
	msgTracesRequest msgKind = 100 + iota
	msgResourceSpans
	msgScopeSpans
	msgSpan
	msgSpanEvent
	msgSpanLink
)

// traceChild returns the message kind of field num of a trace message, as
// protoChild does for logs. Field numbers are those of
// opentelemetry/proto/trace/v1.
func traceChild(k msgKind, num protowire.Number) msgKind {
	switch k {
	case msgTracesRequest: // ExportTraceServiceRequest
		if num == 1 {
			return msgResourceSpans
		}
	case msgResourceSpans:
		switch num {
		case 1:
			return msgResource
		case 2:
			return msgScopeSpans
		}
	case msgScopeSpans:
		switch num {
		case 1:
			return msgScope
		case 2:
			return msgSpan
		}
	case msgSpan:
		switch num {
		case 9: // attributes
			return msgKeyValue
		case 11:
			return msgSpanEvent
		case 13:
			return msgSpanLink
		}
	case msgSpanEvent:
		if num == 3 {
			return msgKeyValue
		}
	case msgSpanLink:
		if num == 4 {
			return msgKeyValue
		}
	}
	return msgNone
}

// tracesRequestType is the Go type gRPC decodes trace exports into (see
// guardedTypes).
var tracesRequestType = func() reflect.Type {
	if f, ok := reflect.TypeOf(ptraceotlp.ExportRequest{}).FieldByName("orig"); ok {
		return f.Type
	}
	return nil
}()
