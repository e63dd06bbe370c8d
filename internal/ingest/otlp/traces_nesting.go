package otlp

import (
	"reflect"

	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The OTLP trace messages the nesting guard walks through on its way to
// the attribute values that the logs guard (walkProto) knows.
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

// checkTracesProtoDepth is checkProtoDepth for an ExportTraceServiceRequest.
func checkTracesProtoDepth(b []byte) error { return walkTraceProto(b, msgTracesRequest) }

func walkTraceProto(b []byte, k msgKind) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil
			}
			switch c := traceChild(k, num); {
			case c >= msgTracesRequest:
				if err := walkTraceProto(v, c); err != nil {
					return err
				}
			case c != msgNone:
				if err := walkProto(v, c, 0); err != nil {
					return err
				}
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil
		}
		b = b[m:]
	}
	return nil
}

// tracesRequestType is the Go type gRPC decodes trace exports into (see
// guardedTypes).
var tracesRequestType = func() reflect.Type {
	if f, ok := reflect.TypeOf(ptraceotlp.ExportRequest{}).FieldByName("orig"); ok {
		return f.Type
	}
	return nil
}()
