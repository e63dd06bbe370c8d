package insights

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// DuckDB is the dialect of the embedded store (internal/store/duckdb). The
// IP functions call scalar functions that store registers (sonde_ip_*).
var DuckDB Dialect = duckDialect{}

type duckDialect struct{}

func (duckDialect) Name() string { return "duckdb" }

func (duckDialect) Ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Str writes a string literal. NUL cannot travel in SQL text through the C
// API, so it is spelled chr(0).
func (duckDialect) Str(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.IndexByte(s, 0) >= 0 {
		q = "(" + strings.ReplaceAll(q, "\x00", "' || chr(0) || '") + ")"
	}
	return q
}

func (duckDialect) Number(text string) string {
	if strings.HasPrefix(text, ".") {
		text = "0" + text
	}
	if strings.HasPrefix(text, "-") {
		return "(" + text + ")::DOUBLE"
	}
	return text + "::DOUBLE"
}

var duckTimeFormats = map[event.TimeLayout]string{
	event.LayoutRFC3339Milli: "%Y-%m-%dT%H:%M:%S.%gZ",
	event.LayoutRFC3339:      "%Y-%m-%dT%H:%M:%SZ",
	event.LayoutSpaceMilli:   "%Y-%m-%d %H:%M:%S.%g",
}

func duckTimestamp(ts string) string { return "make_timestamp(" + ts + " * 1000)" }

// timeText renders a KindTime column: the layout in the column, the
// instant from ts. quote puts string layouts in JSON quotes.
func duckTimeText(col, ts string, quote bool) string {
	var b strings.Builder
	b.WriteString("CASE " + col)
	for _, l := range []event.TimeLayout{event.LayoutRFC3339Milli, event.LayoutRFC3339, event.LayoutSpaceMilli} {
		s := "strftime(" + duckTimestamp(ts) + ", '" + duckTimeFormats[l] + "')"
		if quote {
			s = "concat('\"', " + s + ", '\"')"
		}
		fmt.Fprintf(&b, " WHEN %d THEN %s", l, s)
	}
	fmt.Fprintf(&b, " WHEN %d THEN CAST(%s AS VARCHAR)", event.LayoutEpochMillis, ts)
	fmt.Fprintf(&b, " WHEN %d THEN CAST(%s // 1000 AS VARCHAR) END", event.LayoutEpochSeconds, ts)
	return b.String()
}

func (d duckDialect) Column(c store.Column, ts string) (string, Type) {
	switch c.Kind {
	case event.KindString:
		return c.Name, TString
	case event.KindInt, event.KindFloat:
		return c.Name, TNumber
	case event.KindBool:
		return c.Name, TBool
	case event.KindID128:
		return "replace(CAST(" + c.Name + " AS VARCHAR), '-', '')", TString
	case event.KindID64:
		return "lpad(lower(hex(" + c.Name + ")), 16, '0')", TString
	case event.KindIPv4:
		// || keeps NULL (concat would turn it into "...").
		n := c.Name
		return "(CAST(" + n + " >> 24 AS VARCHAR) || '.' || CAST((" + n + " >> 16) & 255 AS VARCHAR) || '.' || CAST((" + n +
			" >> 8) & 255 AS VARCHAR) || '.' || CAST(" + n + " & 255 AS VARCHAR))", TString
	case event.KindTime:
		return duckTimeText(c.Name, ts, false), TAny
	}
	return "NULL", TNull
}

func (d duckDialect) JSONToken(c store.Column, ts string) string {
	switch c.Kind {
	case event.KindString, event.KindFloat:
		return "CAST(to_json(" + c.Name + ") AS VARCHAR)"
	case event.KindInt:
		return "CAST(" + c.Name + " AS VARCHAR)"
	case event.KindBool:
		return "CASE WHEN " + c.Name + " THEN 'true' ELSE 'false' END"
	case event.KindTime:
		return duckTimeText(c.Name, ts, true)
	}
	v, _ := d.Column(c, ts)
	return "concat('\"', " + v + ", '\"')"
}

func (duckDialect) KindLiteral(c store.Column, lit string) (string, bool) {
	v := event.TypedString(lit)
	if v.Kind != c.Kind {
		return "", false
	}
	switch c.Kind {
	case event.KindID128:
		return "'" + lit + "'::UUID", true
	case event.KindID64:
		return strconv.FormatUint(v.X, 10) + "::UBIGINT", true
	case event.KindIPv4:
		return strconv.FormatUint(v.X, 10) + "::UINTEGER", true
	}
	return "", false
}

func (duckDialect) Concat(parts ...string) string { return "concat(" + strings.Join(parts, ", ") + ")" }

func (duckDialect) ToNumber(x string) string { return "TRY_CAST(" + x + " AS DOUBLE)" }

func (duckDialect) ToText(x string, t Type) string {
	switch t {
	case TString, TAny:
		return x
	case TNull:
		return "CAST(NULL AS VARCHAR)"
	case TTime:
		return "strftime(" + duckTimestamp(x) + ", '%Y-%m-%d %H:%M:%S.%g')"
	}
	return "CAST(" + x + " AS VARCHAR)"
}

func (duckDialect) Contains(x, sub string) string { return "contains(" + x + ", " + sub + ")" }

func (duckDialect) RegexMatch(x, re string) string { return "regexp_matches(" + x + ", " + re + ")" }

func (duckDialect) RegexExtract(x, re string, names []string) (string, func(string, int) string) {
	fields := make([]string, len(names))
	for i := range names {
		fields[i] = "'g" + strconv.Itoa(i+1) + "'"
	}
	expr := "regexp_extract(" + x + ", " + re + ", [" + strings.Join(fields, ", ") + "])"
	return expr, func(col string, i int) string { return "struct_extract(" + col + ", 'g" + strconv.Itoa(i+1) + "')" }
}

func (duckDialect) Power(a, b string) string { return "pow(" + a + ", " + b + ")" }
func (duckDialect) Mod(a, b string) string   { return "fmod(" + a + ", " + b + ")" }

func (duckDialect) Func(name string, a []string, types []Type) (string, Type, bool) {
	switch name {
	case "abs", "ceil", "floor", "sqrt":
		return name + "(" + a[0] + ")", TNumber, true
	case "log":
		return "ln(" + a[0] + ")", TNumber, true
	case "greatest", "least":
		return name + "(" + strings.Join(a, ", ") + ")", TNumber, true
	case "pow":
		return "pow(" + a[0] + ", " + a[1] + ")", TNumber, true
	case "mod":
		return "fmod(" + a[0] + ", " + a[1] + ")", TNumber, true
	case "ispresent":
		return "(" + a[0] + " IS NOT NULL)", TBool, true
	case "isempty":
		return "(" + a[0] + " IS NULL OR " + a[0] + " = '')", TBool, true
	case "isblank":
		return "(" + a[0] + " IS NULL OR trim(" + a[0] + ") = '')", TBool, true
	case "concat":
		return "concat(" + strings.Join(a, ", ") + ")", TString, true
	case "ltrim", "rtrim", "trim":
		return name + "(" + strings.Join(a, ", ") + ")", TString, true
	case "strlen":
		return "length(" + a[0] + ")", TNumber, true
	case "toupper":
		return "upper(" + a[0] + ")", TString, true
	case "tolower":
		return "lower(" + a[0] + ")", TString, true
	case "substr":
		start := "CAST(" + a[1] + " AS BIGINT) + 1"
		if len(a) == 3 {
			return "substring(" + a[0] + ", " + start + ", CAST(" + a[2] + " AS BIGINT))", TString, true
		}
		return "substring(" + a[0] + ", " + start + ")", TString, true
	case "replace":
		return "replace(" + a[0] + ", " + a[1] + ", " + a[2] + ")", TString, true
	case "strcontains":
		return "CAST(contains(" + a[0] + ", " + a[1] + ") AS INTEGER)", TNumber, true
	case "fromMillis":
		return "CAST(" + a[0] + " AS BIGINT)", TTime, true
	case "toMillis":
		return a[0], TNumber, true
	case "isValidIp":
		return "sonde_ip_valid(" + a[0] + ", 0)", TBool, true
	case "isValidIpV4":
		return "sonde_ip_valid(" + a[0] + ", 4)", TBool, true
	case "isValidIpV6":
		return "sonde_ip_valid(" + a[0] + ", 6)", TBool, true
	case "isIpInSubnet":
		return "sonde_ip_in_subnet(" + a[0] + ", " + a[1] + ", 0)", TBool, true
	case "isIpv4InSubnet":
		return "sonde_ip_in_subnet(" + a[0] + ", " + a[1] + ", 4)", TBool, true
	case "isIpv6InSubnet":
		return "sonde_ip_in_subnet(" + a[0] + ", " + a[1] + ", 6)", TBool, true
	case "jsonParse":
		return "TRY_CAST(" + a[0] + " AS JSON)", TJSON, true
	case "jsonStringify":
		if len(types) > 0 && types[0] == TJSON {
			return "CAST(" + a[0] + " AS VARCHAR)", TString, true
		}
		return "CAST(to_json(" + a[0] + ") AS VARCHAR)", TString, true
	case "jsonExtract":
		return "json_extract_string(" + a[0] + ", concat('$.', " + a[1] + "))", TAny, true
	case "jsonObject":
		return "json_object(" + strings.Join(a, ", ") + ")", TJSON, true
	}
	return "", TNull, false
}

// monthsExpr counts calendar months since year 0 for a millisecond time.
func monthsExpr(ts string) string {
	t := duckTimestamp(ts)
	return "(year(" + t + ") * 12 + month(" + t + ") - 1)"
}

func calendarMonths(unit string) int64 {
	switch unit {
	case "mo":
		return 1
	case "q":
		return 3
	case "y":
		return 12
	}
	return 0
}

// mondayOffset shifts weeks to start on Monday: 1970-01-01 was a Thursday.
const mondayOffset = 3 * 86_400_000

func (duckDialect) Bin(ts string, n int64, unit string, nonNegative bool) string {
	if k := calendarMonths(unit); k > 0 {
		p := strconv.FormatInt(n*k, 10)
		m := monthsExpr(ts)
		f := "(" + m + " - (" + m + " % " + p + "))"
		return "epoch_ms(make_timestamp(CAST(" + f + " // 12 AS BIGINT), CAST(" + f + " % 12 + 1 AS BIGINT), 1, 0, 0, 0))"
	}
	p := n * unitMillis[unit]
	off := int64(0)
	if unit == "w" {
		off = mondayOffset
	}
	ps := strconv.FormatInt(p, 10)
	if nonNegative {
		return fmt.Sprintf("(%s - (%s + %d) %% %s)", ts, ts, off, ps)
	}
	return fmt.Sprintf("CAST(%s - (((%s + %d) %% %s) + %s) %% %s AS BIGINT)", ts, ts, off, ps, ps, ps)
}

func (d duckDialect) Ceil(ts string, n int64, unit string) string {
	floor := d.Bin(ts, n, unit, false)
	if k := calendarMonths(unit); k > 0 {
		p := strconv.FormatInt(n*k, 10)
		f := "(" + monthsExpr(ts) + " - (" + monthsExpr(ts) + " % " + p + ") + " + p + ")"
		next := "epoch_ms(make_timestamp(CAST(" + f + " // 12 AS BIGINT), CAST(" + f + " % 12 + 1 AS BIGINT), 1, 0, 0, 0))"
		return "CASE WHEN " + floor + " = " + ts + " THEN " + floor + " ELSE " + next + " END"
	}
	p := strconv.FormatInt(n*unitMillis[unit], 10)
	return "CASE WHEN " + floor + " = " + ts + " THEN " + floor + " ELSE " + floor + " + " + p + " END"
}

func (duckDialect) Aggregate(name string, a []string, types []Type, ts string) (string, Type) {
	t := TNumber
	if len(types) > 0 {
		t = types[0]
	}
	switch name {
	case "count":
		if len(a) == 0 {
			return "count(*)", TNumber
		}
		return "count(" + a[0] + ")", TNumber
	case "count_distinct":
		return "count(DISTINCT " + a[0] + ")", TNumber
	case "sum":
		return "CAST(sum(" + a[0] + ") AS DOUBLE)", TNumber
	case "avg":
		return "avg(" + a[0] + ")", TNumber
	case "min", "max":
		return name + "(" + a[0] + ")", t
	case "stddev":
		return "stddev_samp(" + a[0] + ")", TNumber
	case "pct":
		return "quantile_cont(" + a[0] + ", " + a[1] + ")", TNumber
	case "earliest":
		return "arg_min(" + a[0] + ", " + ts + ") FILTER (WHERE " + a[0] + " IS NOT NULL)", t
	case "latest":
		return "arg_max(" + a[0] + ", " + ts + ") FILTER (WHERE " + a[0] + " IS NOT NULL)", t
	case "sortsFirst":
		return "min(" + a[0] + ")", t
	case "sortsLast":
		return "max(" + a[0] + ")", t
	}
	panic("BUG: unknown aggregate " + name)
}

func (duckDialect) Dedup(inner string, keys, order []string) string {
	w := "row_number() OVER (PARTITION BY " + strings.Join(keys, ", ")
	if len(order) > 0 {
		w += " ORDER BY " + strings.Join(order, ", ")
	}
	w += ") = 1"
	for _, k := range keys {
		w += " OR " + k + " IS NULL"
	}
	return inner + " QUALIFY " + w
}

func (duckDialect) Unnest(inner string, elems []string, jsonText, as string) string {
	list := "[" + strings.Join(elems, ", ") + "]"
	if jsonText != "" {
		list = "from_json(TRY_CAST(" + jsonText + " AS JSON), '[\"JSON\"]')"
	}
	return "SELECT * FROM (SELECT *, UNNEST(" + list + ") AS " + as + " FROM (" + inner + ")) WHERE " + as + " IS NOT NULL"
}
