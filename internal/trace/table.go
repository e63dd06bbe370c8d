package trace

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// falseSQL and trueSQL are boolean constants every dialect accepts.
const (
	falseSQL = "(1 = 0)"
	trueSQL  = "(1 = 1)"
)

// rootOffsetUs orders non-root spans after every root span in "earliest
// by root key" aggregates: startUs plus this for spans with a parent.
const rootOffsetUs = "100000000000000000"

// table writes SQL over the spans group's table through a dialect: it
// turns field names into physical columns (qualified with an alias when
// the table is joined) and builds typed predicates on them.
type table struct {
	d     insights.Dialect
	sch   *store.Schema
	alias string // "" or "p"/"c" in joins
}

// as returns the same table under an alias.
func (t table) as(alias string) table { t.alias = alias; return t }

// from writes "FROM <table> [alias]".
func (t table) from() string {
	if t.alias == "" {
		return t.sch.Table
	}
	return t.sch.Table + " " + t.alias
}

func (t table) qualify(name string) string {
	if t.alias == "" {
		return name
	}
	return t.alias + "." + name
}

// ts is the @timestamp column.
func (t table) ts() string { return t.qualify(store.ColTime) }

// cols returns a field's physical columns, qualified.
func (t table) cols(field string) []store.Column {
	cs := t.sch.Fields[field]
	out := make([]store.Column, len(cs))
	for i, c := range cs {
		c.Name = t.qualify(c.Name)
		out[i] = c
	}
	return out
}

// col returns the field's column of one kind, or "" when the field was
// never stored with that kind.
func (t table) col(field string, kind event.Kind) string {
	for _, c := range t.sch.Fields[field] {
		if c.Kind == kind {
			return t.qualify(c.Name)
		}
	}
	return ""
}

// orNull returns col or the SQL NULL when the column does not exist.
func orNull(col string) string {
	if col == "" {
		return "NULL"
	}
	return col
}

// Fixed columns of span events.
func (t table) traceID() string  { return t.col(span.FieldTraceID, event.KindID128) }
func (t table) spanID() string   { return t.col(span.FieldSpanID, event.KindID64) }
func (t table) parentID() string { return t.col(span.FieldParentID, event.KindID64) }
func (t table) start() string    { return orNull(t.col(span.FieldStart, event.KindInt)) }

// duration is the span's duration in milliseconds (NULL in progress).
func (t table) duration() string { return orNull(t.col(span.FieldDuration, event.KindFloat)) }

// end is the span's end in Unix microseconds.
func (t table) end() string {
	return "(" + t.start() + " + COALESCE(" + t.duration() + ", 0) * 1000)"
}

// isRoot is true for spans without a parent.
func (t table) isRoot() string {
	if p := t.parentID(); p != "" {
		return "(" + p + " IS NULL)"
	}
	return trueSQL
}

// rootKey orders spans with the root first, then by start.
func (t table) rootKey() string {
	p := t.parentID()
	if p == "" {
		return t.start()
	}
	return "(" + t.start() + " + CASE WHEN " + p + " IS NULL THEN 0 ELSE " + rootOffsetUs + " END)"
}

// timeRange restricts @timestamp to [start, end) (Unix ms).
func (t table) timeRange(start, end int64) string {
	return "(" + t.ts() + " >= " + strconv.FormatInt(start, 10) + " AND " + t.ts() + " < " + strconv.FormatInt(end, 10) + ")"
}

// text returns the field as text (ids in hex), COALESCE'd over its kinds.
func (t table) text(field string) string {
	cs := t.cols(field)
	if len(cs) == 0 {
		return t.d.ToText("NULL", insights.TNull)
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		v, typ := t.d.Column(c, t.ts())
		parts[i] = t.d.ToText(v, typ)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "COALESCE(" + strings.Join(parts, ", ") + ")"
}

// number returns the field's numeric column(s), or "" when it has none.
func (t table) number(field string) string {
	var parts []string
	for _, c := range t.cols(field) {
		if c.Kind.Numeric() {
			parts = append(parts, c.Name)
		}
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return "COALESCE(" + strings.Join(parts, ", ") + ")"
}

// isSet is true when the field has a value.
func (t table) isSet(fields ...string) string {
	var alts []string
	for _, f := range fields {
		for _, c := range t.cols(f) {
			alts = append(alts, c.Name+" IS NOT NULL")
		}
	}
	return orJoin(alts)
}

// strCmp compares a field with a string: op is =, !=, CONTAINS,
// BEGINSWITH or ENDSWITH. A field holding several kinds is compared in each.
// Several fields are alternatives (any of them matches).
func (t table) strCmp(op, value string, fields ...string) string {
	var alts []string
	for _, f := range fields {
		for _, c := range t.cols(f) {
			if s := t.strCmpCol(c, op, value); s != "" {
				alts = append(alts, s)
			}
		}
	}
	return orJoin(alts)
}

func (t table) strCmpCol(c store.Column, op, value string) string {
	target := c.Name
	switch c.Kind {
	case event.KindString:
	case event.KindID128, event.KindID64, event.KindIPv4:
		if op == "=" || op == "!=" {
			lit, ok := t.d.KindLiteral(c, value)
			if !ok {
				if op == "=" {
					return ""
				}
				return "(" + c.Name + " IS NOT NULL)"
			}
			return "(" + c.Name + sqlOp(op) + lit + ")"
		}
		fallthrough
	default:
		v, typ := t.d.Column(c, t.ts())
		target = t.d.ToText(v, typ)
	}
	lit := t.d.Str(value)
	switch op {
	case "=", "!=":
		return "(" + target + sqlOp(op) + lit + ")"
	case "CONTAINS":
		return "(" + t.d.Contains(target, lit) + ")"
	case "BEGINSWITH":
		return "(" + t.d.RegexMatch(target, t.d.Str("^"+regexp.QuoteMeta(value))) + ")"
	case "ENDSWITH":
		return "(" + t.d.RegexMatch(target, t.d.Str(regexp.QuoteMeta(value)+"$")) + ")"
	}
	panic("BUG: unknown string operator " + op)
}

// numCmp compares a field's numeric columns with a number.
func (t table) numCmp(op string, num float64, field string) string {
	var alts []string
	lit := t.d.Number(strconv.FormatFloat(num, 'g', -1, 64))
	for _, c := range t.cols(field) {
		if c.Kind.Numeric() {
			alts = append(alts, "("+c.Name+sqlOp(op)+lit+")")
		}
	}
	return orJoin(alts)
}

// boolCmp compares a field's bool columns with b.
func (t table) boolCmp(op string, b bool, field string) string {
	var alts []string
	for _, c := range t.cols(field) {
		if c.Kind == event.KindBool {
			v := "(1 = 1)"
			if !b {
				v = "(1 = 0)"
			}
			if op == "!=" {
				alts = append(alts, "("+c.Name+" <> "+v+")")
			} else {
				alts = append(alts, "("+c.Name+" = "+v+")")
			}
		}
	}
	return orJoin(alts)
}

// inStrings is true when a string field equals one of values.
func (t table) inStrings(field string, values ...string) string {
	c := t.col(field, event.KindString)
	if c == "" {
		return falseSQL
	}
	if len(values) == 1 {
		return "(" + c + " = " + t.d.Str(values[0]) + ")"
	}
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = t.d.Str(v)
	}
	return "(" + c + " IN (" + strings.Join(q, ", ") + "))"
}

func sqlOp(op string) string {
	if op == "!=" {
		return " <> "
	}
	return " " + op + " "
}

// orJoin ORs predicates; none is false.
func orJoin(alts []string) string {
	switch len(alts) {
	case 0:
		return falseSQL
	case 1:
		return alts[0]
	}
	return "(" + strings.Join(alts, " OR ") + ")"
}

// andJoin ANDs predicates, skipping empty ones; none is true.
func andJoin(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" && p != trueSQL {
			keep = append(keep, p)
		}
	}
	switch len(keep) {
	case 0:
		return trueSQL
	case 1:
		return keep[0]
	}
	return "(" + strings.Join(keep, " AND ") + ")"
}
