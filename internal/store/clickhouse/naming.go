package clickhouse

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
)

// Names are derived from what they name, so that every sonde server
// sharing a database picks the same ones without asking the others.

// quoteIdent quotes an identifier with backticks.
func quoteIdent(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// quoteString writes a string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`).Replace(s) + "'"
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// slug keeps the identifier characters of s, at most max of them.
func slug(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// tableName is a group's table: readable, and unique through a hash of the
// exact name (group names may differ only in characters the slug drops).
func tableName(group string) string {
	return fmt.Sprintf("g_%s_%016x", slug(group, 40), hash64(group))
}

// kindPrefix starts the column names of each kind, so that one field's
// columns of different kinds never collide, nor with the system columns.
var kindPrefix = [...]string{
	event.KindString: "s_", event.KindInt: "i_", event.KindFloat: "f_", event.KindBool: "b_",
	event.KindID128: "t_", event.KindID64: "x_", event.KindIPv4: "a_", event.KindTime: "m_",
}

// columnName is a field kind's column. A field name of up to 60 identifier
// characters without "__" is used as it is ("i_status"); any other gets a
// slug and a hash ("s_user_agent__h0123456789abcdef"). The two forms cannot
// meet: only the second holds "__".
func columnName(field string, kind event.Kind) string {
	if len(field) > 0 && len(field) <= 60 && slug(field, 60) == field && !strings.Contains(field, "__") {
		return kindPrefix[kind] + field
	}
	return fmt.Sprintf("%s%s__h%016x", kindPrefix[kind], slug(field, 40), hash64(field))
}

// sqlType is the column type of each kind. Ids are big-endian bytes.
func sqlType(k event.Kind) string {
	switch k {
	case event.KindString:
		return "Nullable(String)"
	case event.KindInt:
		return "Nullable(Int64)"
	case event.KindFloat:
		return "Nullable(Float64)"
	case event.KindBool, event.KindTime:
		return "Nullable(UInt8)"
	case event.KindID128:
		return "Nullable(FixedString(16))"
	case event.KindID64:
		return "Nullable(FixedString(8))"
	case event.KindIPv4:
		return "Nullable(UInt32)"
	}
	panic(fmt.Sprintf("BUG: no SQL type for kind %d", k))
}

// shapeID is the id of a shape key: a hash, so that servers agree. Two keys
// with one hash are told apart by registerShape.
func shapeID(key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	id := int32(h.Sum32() & 0x7fffffff)
	if id == 0 {
		id = 1
	}
	return id
}
