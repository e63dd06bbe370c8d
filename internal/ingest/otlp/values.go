package otlp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/sonde-dev/sonde/internal/event"
)

// maxValueDepth caps the nesting of maps and arrays in one value, as the
// event parser caps JSON nesting: deeper values reject their record.
const maxValueDepth = 64

var errTooDeep = fmt.Errorf("value nested deeper than %d levels", maxValueDepth)

// fieldSet collects the fields of one event (or of one section shared by
// many events, such as a resource's attributes): it flattens OTLP values
// into dotted names, types them, drops repeated names within a section and
// fields beyond the cap, and sums the bytes of what it was given.
// The zero value is not usable: use newFieldSet.
type fieldSet struct {
	fields  []event.Field
	max     int
	dropped int                 // fields beyond max
	seen    map[string]struct{} // names of the current section
	size    int                 // bytes of names and values in the current section
	path    []byte              // name being built
	names   map[string]string   // interned names: records of a batch repeat them
	scratch []event.Field       // reused for a record's own fields
}

// maxInterned bounds the names a fieldSet remembers.
const maxInterned = 4096

func newFieldSet(max int) *fieldSet {
	return &fieldSet{max: max, seen: make(map[string]struct{}), names: make(map[string]string)}
}

// name returns the name in s.path, sharing one string between the events
// of a batch.
func (s *fieldSet) name() string {
	if n, ok := s.names[string(s.path)]; ok {
		return n
	}
	n := string(s.path)
	if len(s.names) < maxInterned {
		s.names[n] = n
	}
	return n
}

// reset starts a new event whose fields are appended to dst.
func (s *fieldSet) reset(dst []event.Field) {
	s.fields = dst
	s.dropped = 0
	s.section()
}

// section starts a new group of names: only repeats within a section are
// dropped, because sections have distinct prefixes.
func (s *fieldSet) section() {
	clear(s.seen)
	s.size = 0
}

// add appends one field unless its name was seen in this section or the
// event is full.
func (s *fieldSet) add(name string, v event.Value) {
	s.size += len(name) + valueBytes(v)
	if _, dup := s.seen[name]; dup {
		return
	}
	s.seen[name] = struct{}{}
	if len(s.fields) >= s.max {
		s.dropped++
		return
	}
	s.fields = append(s.fields, event.Field{Name: name, Value: v})
}

// addAll appends the fields of a section built before (already free of
// repeats), as far as the cap allows.
func (s *fieldSet) addAll(fields []event.Field, dropped int) {
	n := min(len(fields), s.max-len(s.fields))
	s.fields = append(s.fields, fields[:n]...)
	s.dropped += len(fields) - n + dropped
}

// addMap flattens attributes under prefix ("attributes.").
func (s *fieldSet) addMap(prefix string, m pcommon.Map) error {
	s.path = append(s.path[:0], prefix...)
	for k, v := range m.All() {
		n := len(s.path)
		s.path = appendKey(s.path, k)
		err := s.addValue(v, 1)
		s.path = s.path[:n]
		if err != nil {
			return err
		}
	}
	return nil
}

// addNested flattens a value under name ("body"), giving fields only for
// the leaves of a map or array.
func (s *fieldSet) addNested(name string, v pcommon.Value) error {
	s.path = append(s.path[:0], name...)
	switch v.Type() {
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		return s.addValue(v, 0)
	}
	return nil
}

// addValue adds v under the name in s.path; depth counts the maps and
// arrays around it.
func (s *fieldSet) addValue(v pcommon.Value, depth int) error {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s.add(s.name(), event.TypedString(validUTF8(v.Str())))
	case pcommon.ValueTypeInt:
		s.add(s.name(), event.Int(v.Int()))
	case pcommon.ValueTypeDouble:
		s.add(s.name(), event.Float(v.Double()))
	case pcommon.ValueTypeBool:
		s.add(s.name(), event.Bool(v.Bool()))
	case pcommon.ValueTypeBytes:
		s.add(s.name(), event.TypedString(base64.StdEncoding.EncodeToString(v.Bytes().AsRaw())))
	case pcommon.ValueTypeMap:
		if depth >= maxValueDepth {
			return errTooDeep
		}
		for k, e := range v.Map().All() {
			n := len(s.path)
			s.path = append(s.path, '.')
			s.path = appendKey(s.path, k)
			err := s.addValue(e, depth+1)
			s.path = s.path[:n]
			if err != nil {
				return err
			}
		}
	case pcommon.ValueTypeSlice:
		if depth >= maxValueDepth {
			return errTooDeep
		}
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			n := len(s.path)
			s.path = append(s.path, '.')
			s.path = strconv.AppendInt(s.path, int64(i), 10)
			err := s.addValue(sl.At(i), depth+1)
			s.path = s.path[:n]
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// appendKey appends a map key to a field name, replacing invalid UTF-8.
func appendKey(dst []byte, k string) []byte {
	if utf8.ValidString(k) {
		return append(dst, k...)
	}
	return append(dst, strings.ToValidUTF8(k, "\uFFFD")...)
}

// valueBytes approximates the stored size of a value.
func valueBytes(v event.Value) int {
	switch v.Kind {
	case event.KindString:
		return len(v.Str)
	case event.KindBool:
		return 1
	case event.KindID128:
		return 16
	case event.KindIPv4:
		return 4
	}
	return 8
}

// validUTF8 returns s with invalid UTF-8 replaced by U+FFFD: the protobuf
// decoder does not check strings, and the store needs valid text.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// valueText is the message text of a value: a string as it is, a map or an
// array as JSON, another scalar as its JSON text.
func valueText(v pcommon.Value) (string, error) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return "", nil
	case pcommon.ValueTypeStr:
		return validUTF8(v.Str()), nil
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()), nil
	case pcommon.ValueTypeDouble:
		return formatFloat(v.Double()), nil
	}
	b, err := appendJSON(nil, v, 0)
	return string(b), err
}

// formatFloat spells a double as JSON does, and the values JSON cannot
// spell as OTLP/JSON does.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// appendJSON writes v as JSON, keeping the order of map keys. Doubles that
// JSON cannot spell (NaN, ±Inf) are written as strings, as OTLP/JSON does;
// bytes as base64 strings.
func appendJSON(dst []byte, v pcommon.Value, depth int) ([]byte, error) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return append(dst, "null"...), nil
	case pcommon.ValueTypeStr:
		return event.AppendQuoted(dst, validUTF8(v.Str())), nil
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return event.AppendQuoted(dst, formatFloat(f)), nil
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case pcommon.ValueTypeBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
		return append(dst, '"'), nil
	case pcommon.ValueTypeMap:
		if depth >= maxValueDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '{')
		first := true
		for k, e := range v.Map().All() {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = event.AppendQuoted(dst, validUTF8(k))
			dst = append(dst, ':')
			var err error
			if dst, err = appendJSON(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case pcommon.ValueTypeSlice:
		if depth >= maxValueDepth {
			return dst, errTooDeep
		}
		dst = append(dst, '[')
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSON(dst, sl.At(i), depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return dst, errors.New("unknown value type " + v.Type().String())
}
