package otlp

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxWireDepth caps how deeply AnyValues (attribute values, log bodies) may
// nest in a payload before it is decoded. pdata's decoders recurse without a
// limit, so a small payload of nested arrays can take gigabytes of memory
// and stack (https://github.com/open-telemetry/opentelemetry-collector/issues/15301);
// the guards below refuse such payloads first. The limit is twice the
// depth a record may have (maxValueDepth), so that a record just over it is
// rejected on its own, with a reason, instead of its whole request.
const maxWireDepth = 2 * maxValueDepth

// maxJSONDepth is maxWireDepth in OTLP/JSON brackets. A map level takes
// four ({"kvlistValue":{"values":[{"key":..,"value":{...), an array level
// three, and a record attribute's first value sits six brackets deep
// ({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{...), so
// a record attribute of maps is refused at the same depth in both
// encodings; other values are allowed a little more.
const maxJSONDepth = 4*maxWireDepth + 6

// msgKind names the OTLP protobuf messages the guard walks into.
type msgKind uint8

const (
	msgNone msgKind = iota
	msgLogsRequest
	msgResourceLogs
	msgResource
	msgScopeLogs
	msgScope
	msgLogRecord
	msgKeyValue
	msgAnyValue
	msgArrayValue
	msgKeyValueList
)

// protoChild returns the message kind of field num of a kind-k message, or
// msgNone for fields that cannot hold an AnyValue. Field numbers are those
// of opentelemetry/proto. Each signal numbers its own messages (logs below
// 100, traces from 100, metrics from 200) and maps them in its own file;
// they share the resource, scope and value messages of logChild.
func protoChild(k msgKind, num protowire.Number) msgKind {
	switch {
	case k >= msgMetricsRequest:
		return metricChild(k, num)
	case k >= msgTracesRequest:
		return traceChild(k, num)
	}
	return logChild(k, num)
}

// logChild is protoChild for the logs messages and those shared by every
// signal.
func logChild(k msgKind, num protowire.Number) msgKind {
	switch k {
	case msgLogsRequest: // ExportLogsServiceRequest
		if num == 1 {
			return msgResourceLogs
		}
	case msgResourceLogs:
		switch num {
		case 1:
			return msgResource
		case 2:
			return msgScopeLogs
		}
	case msgResource:
		if num == 1 {
			return msgKeyValue
		}
	case msgScopeLogs:
		switch num {
		case 1:
			return msgScope
		case 2:
			return msgLogRecord
		}
	case msgScope: // InstrumentationScope
		if num == 3 {
			return msgKeyValue
		}
	case msgLogRecord:
		switch num {
		case 5: // body
			return msgAnyValue
		case 6: // attributes
			return msgKeyValue
		}
	case msgKeyValue:
		if num == 2 {
			return msgAnyValue
		}
	case msgAnyValue:
		switch num {
		case 5:
			return msgArrayValue
		case 6:
			return msgKeyValueList
		}
	case msgArrayValue:
		if num == 1 {
			return msgAnyValue
		}
	case msgKeyValueList:
		if num == 1 {
			return msgKeyValue
		}
	}
	return msgNone
}

// tooDeepError is a payload refused by a nesting guard.
type tooDeepError struct{ limit int }

func (e *tooDeepError) Error() string {
	return fmt.Sprintf("payload nests values deeper than %d levels", e.limit)
}

// checkProtoDepth walks the protobuf encoding of a root message, without
// decoding it, and fails when AnyValues nest deeper than maxWireDepth. It
// leaves malformed input to the decoder, which reports it better.
func checkProtoDepth(b []byte, root msgKind) error {
	return walkProto(b, root, 0)
}

func walkProto(b []byte, k msgKind, depth int) error {
	if k == msgAnyValue {
		if depth++; depth > maxWireDepth {
			return &tooDeepError{limit: maxWireDepth}
		}
	}
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
			if c := protoChild(k, num); c != msgNone {
				if err := walkProto(v, c, depth); err != nil {
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

// checkJSONDepth fails when brackets nest deeper than maxJSONDepth. It does
// not validate the JSON: the decoder does.
func checkJSONDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > maxJSONDepth {
				return &tooDeepError{limit: maxWireDepth}
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
