package insights

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// ClickHouse is the dialect of the scale-out store
// (internal/store/clickhouse). Its SQL runs on ClickHouse 18.16 (Debian's
// clickhouse-server) and on current releases, so it uses only what 18.16
// has: no Bool type (booleans are UInt8), no TRUE/FALSE, no JSONExtract
// (visitParam* instead), no trim functions, no window functions, and
// UNION ALL and COALESCE that refuse to mix Int64 with Float64.
//
// Stored columns: ids are FixedString (16 or 8 bytes, big-endian), IPv4
// addresses UInt32, bools and time layouts UInt8, all Nullable.
var ClickHouse Dialect = clickhouseDialect{}

type clickhouseDialect struct{}

var _ quirks = clickhouseDialect{}

func (clickhouseDialect) Name() string { return "clickhouse" }

// Ident quotes with backticks; ClickHouse reads backslash escapes in them.
func (clickhouseDialect) Ident(name string) string {
	return "`" + strings.NewReplacer(`\`, `\\`, "`", "\\`").Replace(name) + "`"
}

// chStrEscaper escapes a string literal: ClickHouse reads backslash escapes
// in quoted strings.
var chStrEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)

func (clickhouseDialect) Str(s string) string { return "'" + chStrEscaper.Replace(s) + "'" }

// unquoteStr reads back a literal written by Str; ok is false for any
// other expression.
func unquoteStr(sql string) (string, bool) {
	if len(sql) < 2 || sql[0] != '\'' || sql[len(sql)-1] != '\'' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(sql)-1; i++ {
		c := sql[i]
		switch c {
		case '\'':
			return "", false // an unescaped quote: not one literal
		case '\\':
			i++
			if i >= len(sql)-1 {
				return "", false
			}
			if sql[i] == '0' {
				b.WriteByte(0)
			} else {
				b.WriteByte(sql[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// Number writes the literal as it is: ClickHouse types whole numbers as
// integers and the rest as Float64, and / always divides in Float64, so
// arithmetic gives what DuckDB's doubles give while integer columns keep
// comparing as integers.
func (clickhouseDialect) Number(text string) string {
	if strings.HasPrefix(text, ".") {
		text = "0" + text
	} else if strings.HasPrefix(text, "-.") {
		text = "-0" + text[1:]
	}
	if strings.HasPrefix(text, "-") {
		return "(" + text + ")"
	}
	return text
}

func chDateTime(ts string) string { return "toDateTime(intDiv(" + ts + ", 1000), 'UTC')" }

// chMillis writes the three millisecond digits of a Unix ms time.
func chMillis(ts string) string { return "substring(toString(1000 + " + ts + " % 1000), 2)" }

// chTimeText renders a Unix ms time in a quoted layout. formatDateTime's
// %F and %T mean the same on every version; %M was minutes before 23.x and
// is the month's name since.
func chTimeText(ts string, l event.TimeLayout) string {
	switch l {
	case event.LayoutRFC3339Milli:
		return "concat(formatDateTime(" + chDateTime(ts) + ", '%FT%T.'), " + chMillis(ts) + ", 'Z')"
	case event.LayoutRFC3339:
		return "formatDateTime(" + chDateTime(ts) + ", '%FT%TZ')"
	case event.LayoutSpaceMilli:
		return "concat(formatDateTime(" + chDateTime(ts) + ", '%F %T.'), " + chMillis(ts) + ")"
	case event.LayoutEpochMillis:
		return "toString(" + ts + ")"
	case event.LayoutEpochSeconds:
		return "toString(intDiv(" + ts + ", 1000))"
	}
	panic(fmt.Sprintf("BUG: no text for time layout %d", l))
}

// chKindTime renders a KindTime column: the layout in the column, the
// instant from ts. quote puts string layouts in JSON quotes.
func chKindTime(col, ts string, quote bool) string {
	var b strings.Builder
	b.WriteString("multiIf(")
	for _, l := range []event.TimeLayout{event.LayoutRFC3339Milli, event.LayoutRFC3339, event.LayoutSpaceMilli,
		event.LayoutEpochMillis, event.LayoutEpochSeconds} {
		s := chTimeText(ts, l)
		if quote && l.Quoted() {
			s = "concat('\"', " + s + ", '\"')"
		}
		fmt.Fprintf(&b, "%s = %d, %s, ", col, l, s)
	}
	b.WriteString("NULL)")
	return b.String()
}

func (d clickhouseDialect) Column(c store.Column, ts string) (string, Type) {
	switch c.Kind {
	case event.KindString:
		return c.Name, TString
	case event.KindInt, event.KindFloat:
		return c.Name, TNumber
	case event.KindBool:
		return c.Name, TBool
	case event.KindID128, event.KindID64:
		return "lower(hex(" + c.Name + "))", TString
	case event.KindIPv4:
		return "IPv4NumToString(" + c.Name + ")", TString
	case event.KindTime:
		return chKindTime(c.Name, ts, false), TAny
	}
	return "NULL", TNull
}

// chJSONQuote writes a string as a JSON string token, escaped as
// event.AppendQuoted does. Strings without anything to escape, the common
// case, skip the replacements.
func chJSONQuote(x string) string {
	esc := "replaceAll(replaceAll(" + x + `, '\\', '\\\\'), '"', '\\"')`
	for _, r := range []struct {
		c byte
		e string
	}{
		{'\n', `\\n`}, {'\r', `\\r`}, {'\t', `\\t`}, {'\b', `\\b`}, {'\f', `\\f`},
	} {
		esc = "replaceAll(" + esc + ", '" + chStrEscaper.Replace(string(r.c)) + "', '" + r.e + "')"
	}
	for c := byte(1); c < 0x20; c++ {
		switch c {
		case '\n', '\r', '\t', '\b', '\f':
			continue
		}
		esc = fmt.Sprintf(`replaceAll(%s, '\x%02x', '\\u%04X')`, esc, c, c)
	}
	esc = `replaceAll(` + esc + `, '\0', '\\u0000')`
	return `concat('"', if(match(` + x + `, '[\\x00-\\x1f"\\\\]'), ` + esc + `, ` + x + `), '"')`
}

// chFloatText writes a Float64 as event.AppendFloat does (DuckDB's
// to_json): ClickHouse's shortest digits switch to exponents at the same
// bounds, but whole numbers lack the ".0".
func chFloatText(x string) string {
	s := "toString(" + x + ")"
	return "multiIf(isNaN(" + x + "), 'NaN', isInfinite(" + x + "), if(" + x + " > 0, 'Infinity', '-Infinity'), match(" + s +
		", '[.e]'), " + s + ", concat(" + s + ", '.0'))"
}

func (d clickhouseDialect) JSONToken(c store.Column, ts string) string {
	switch c.Kind {
	case event.KindString:
		// The ClickHouse store keeps the text of JSON events whose strings
		// need escapes, so the strings it rebuilds from need none.
		return "concat('\"', " + c.Name + ", '\"')"
	case event.KindFloat:
		return chFloatText(c.Name)
	case event.KindInt:
		return "toString(" + c.Name + ")"
	case event.KindBool:
		return "if(" + c.Name + ", 'true', 'false')"
	case event.KindTime:
		return chKindTime(c.Name, ts, true)
	}
	v, _ := d.Column(c, ts)
	return "concat('\"', " + v + ", '\"')"
}

func (clickhouseDialect) KindLiteral(c store.Column, lit string) (string, bool) {
	v := event.TypedString(lit)
	if v.Kind != c.Kind {
		return "", false
	}
	switch c.Kind {
	case event.KindID128:
		return "toFixedString(unhex('" + lit + "'), 16)", true
	case event.KindID64:
		return "toFixedString(unhex('" + lit + "'), 8)", true
	case event.KindIPv4:
		return "toUInt32(" + strconv.FormatUint(v.X, 10) + ")", true
	}
	return "", false
}

func (clickhouseDialect) Concat(parts ...string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "concat(" + strings.Join(parts, ", ") + ")"
}

func (clickhouseDialect) ToNumber(x string) string { return "toFloat64OrNull(" + x + ")" }

func (clickhouseDialect) ToText(x string, t Type) string {
	switch t {
	case TString, TAny, TJSON:
		return x
	case TNull:
		return "CAST(NULL AS Nullable(String))"
	case TTime:
		return chTimeText(x, event.LayoutSpaceMilli)
	case TBool:
		return "CASE WHEN " + x + " THEN 'true' WHEN NOT " + x + " THEN 'false' END"
	}
	// Numbers: integers as they are, floats as DuckDB writes doubles.
	return "if(toTypeName(" + x + ") LIKE '%Float%', " + chFloatText(x) + ", toString(" + x + "))"
}

func (clickhouseDialect) Contains(x, sub string) string {
	return "(position(" + x + ", " + sub + ") > 0)"
}

// RegexMatch works around 18.16's match, which looks for a substring that
// every match must hold before it runs the regex, and ignores inline flags
// while doing so: "(?i)error" never matches "ERROR". An alternative that
// cannot match turns that shortcut off.
func (d clickhouseDialect) RegexMatch(x, re string) string {
	if p, ok := unquoteStr(re); ok && strings.Contains(p, "(?") {
		re = d.Str(p + `|[^\x00-\x{10FFFF}]`)
	}
	return "match(" + x + ", " + re + ")"
}

// RegexExtract evaluates one extract per capture: ClickHouse 18.16 has no
// function that returns every group of one match (extractAllGroups came in
// 20.5), so each extract runs a copy of the pattern in which only that
// group captures.
func (d clickhouseDialect) RegexExtract(x, re string, names []string) (string, func(string, int) string) {
	pattern, ok := unquoteStr(re)
	if !ok {
		panic("BUG: regex is not a literal: " + re)
	}
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = "extract(ifNull(" + x + ", ''), " + d.Str(onlyGroup(pattern, i+1)) + ")"
	}
	return "[" + strings.Join(parts, ", ") + "]", func(col string, i int) string {
		return col + "[" + strconv.Itoa(i+1) + "]"
	}
}

// onlyGroup rewrites an RE2 pattern so that capture group n (from 1) is its
// only capturing group: every other group, named or not, stops capturing.
func onlyGroup(re string, n int) string {
	var b strings.Builder
	group, inClass := 0, false
	for i := 0; i < len(re); i++ {
		c := re[i]
		switch {
		case c == '\\':
			b.WriteByte(c)
			if i+1 < len(re) {
				i++
				b.WriteByte(re[i])
			}
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			if i+1 < len(re) && re[i+1] == ']' { // "[]...]" holds a literal ]
				b.WriteString("[]")
				i++
				continue
			}
		case c == '(':
			rest := re[i+1:]
			name := 0 // length of a "?P<name>" or "?<name>" prefix
			if strings.HasPrefix(rest, "?P<") || strings.HasPrefix(rest, "?<") {
				if end := strings.IndexByte(rest, '>'); end > 0 {
					name = end + 1
				}
			} else if strings.HasPrefix(rest, "?") {
				break // non-capturing or flags
			}
			group++
			if group == n {
				b.WriteByte('(')
			} else {
				b.WriteString("(?:")
			}
			i += name
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (clickhouseDialect) Power(a, b string) string { return "pow(" + a + ", " + b + ")" }

// Mod is C's fmod: ClickHouse's % truncates float operands to integers.
func (clickhouseDialect) Mod(a, b string) string {
	return "(" + a + " - " + b + " * trunc(" + a + " / " + b + "))"
}

// chTrim removes the characters of chars (an SQL string) from the start,
// the end or both ends of x.
func chTrim(x, chars string, start, end bool) string {
	class := "concat('[', replaceRegexpAll(" + chars + `, '([\\\\\\]\\[^-])', '\\\\\\1'), ']+')`
	if s, ok := unquoteStr(chars); ok {
		class = "'[" + chStrEscaper.Replace(regexpClassQuote(s)) + "]+'"
	}
	var alts []string
	if start {
		alts = append(alts, "concat('^', "+class+")")
	}
	if end {
		alts = append(alts, "concat("+class+", '$')")
	}
	re := alts[0]
	if len(alts) == 2 {
		re = "concat(" + alts[0] + ", '|', " + alts[1] + ")"
	}
	return "replaceRegexpAll(" + x + ", " + re + ", '')"
}

// regexpClassQuote escapes s for use inside [...].
func regexpClassQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`\]-^[`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// chIPv4Octet matches 0 to 255 without leading zeros.
const chIPv4Octet = `(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`

// chIPv4Valid: the text is a canonical dotted quad (as net/netip requires).
// A regex rather than IPv4StringToNum, which throws on other text since
// ClickHouse 22.
func chIPv4Valid(s string) string {
	return "match(" + s + ", '^(" + chIPv4Octet + `\.){3}` + chIPv4Octet + "$')"
}

// chIPv6Valid: the text parses as IPv6. IPv6StringToNum gives zero bytes for
// text it cannot parse, so the all-zero address is checked by its text.
func chIPv6Valid(s string) string {
	return "(position(" + s + ", ':') > 0 AND position(" + s + ", '%') = 0 AND (IPv6StringToNum(" + s +
		") != toFixedString('', 16) OR match(" + s + ", '^(0{0,4}:){2,7}0{0,4}$')))"
}

// chIPValid writes sonde_ip_valid: version 4, 6 or 0 for either; NULL
// for NULL.
func chIPValid(s string, version int) string {
	x := "(" + chIPv4Valid(s) + " OR " + chIPv6Valid(s) + ")"
	switch version {
	case 4:
		x = chIPv4Valid(s)
	case 6:
		x = chIPv6Valid(s)
	}
	return chNullIf(x, s)
}

// chNullIf is x, or NULL when one of args is NULL: not every function
// that x calls passes NULL on.
func chNullIf(x string, args ...string) string {
	var nulls []string
	for _, a := range args {
		nulls = append(nulls, "isNull("+a+")")
	}
	return "if(" + strings.Join(nulls, " OR ") + ", NULL, " + x + ")"
}

// chInSubnet writes isIpInSubnet: ip lies in the CIDR block (IPv4 or IPv6)
// and is of the version asked for (0: either), as net/netip decides it.
func chInSubnet(ip, cidr string, version int) string {
	netText := "splitByChar('/', " + cidr + ")[1]"
	bits := "toUInt8OrZero(splitByChar('/', " + cidr + ")[2])"
	// An IPv4 block: compare the top bits of both addresses. if() keeps
	// IPv4StringToNum from text it would throw on (since 22, which
	// evaluates if lazily).
	v4 := "if(" + chIPv4Valid(ip) + " AND " + chIPv4Valid(netText) + " AND " + bits + " <= 32, bitShiftRight(toUInt64(IPv4StringToNum(" +
		ip + ")), 32 - " + bits + ") = bitShiftRight(toUInt64(IPv4StringToNum(" + netText + ")), 32 - " + bits + "), 0)"
	// An IPv6 block: compare the whole bytes, then the bits of the next one.
	a, n := "IPv6StringToNum("+ip+")", "IPv6StringToNum("+netText+")"
	whole := "intDiv(" + bits + ", 8)"
	rest := "(" + bits + " % 8)"
	nextByte := func(x string) string {
		return "bitShiftRight(reinterpretAsUInt8(substring(" + x + ", " + whole + " + 1, 1)), 8 - " + rest + ")"
	}
	v6 := "(" + chIPv6Valid(ip) + " AND " + chIPv6Valid(netText) + " AND " + bits + " <= 128 AND substring(" + a + ", 1, " + whole +
		") = substring(" + n + ", 1, " + whole + ") AND (" + rest + " = 0 OR " + nextByte(a) + " = " + nextByte(n) + "))"
	x := "(" + v4 + " OR " + v6 + ")"
	switch version {
	case 4:
		x = v4
	case 6:
		x = v6
	}
	return chNullIf(x, ip, cidr)
}

// chJSONValue reads key of a JSON object text as DuckDB's
// json_extract_string does: strings unquoted, other values as JSON text,
// NULL when absent or null. visitParam* find the first "key": anywhere in
// the text, which is exact for objects without that key nested before it.
func (d clickhouseDialect) chJSONValue(j, key string) string {
	raw := "visitParamExtractRaw(" + j + ", " + d.Str(key) + ")"
	return "multiIf(" + raw + " IN ('', 'null'), NULL, substring(" + raw + ", 1, 1) = '\"', visitParamExtractString(" + j + ", " +
		d.Str(key) + "), " + raw + ")"
}

// chJSONToken writes a value of type t as a JSON token ('null' when NULL).
func chJSONToken(x string, t Type) string {
	switch t {
	case TJSON:
		return "ifNull(" + x + ", 'null')"
	case TNull:
		return "'null'"
	case TBool:
		return "multiIf(isNull(" + x + "), 'null', " + x + " != 0, 'true', 'false')"
	case TNumber, TTime:
		return "ifNull(toString(" + x + "), 'null')"
	}
	return "ifNull(" + chJSONQuote(x) + ", 'null')"
}

func (d clickhouseDialect) Func(name string, a []string, types []Type) (string, Type, bool) {
	switch name {
	case "abs", "ceil", "floor", "sqrt":
		return name + "(" + a[0] + ")", TNumber, true
	case "log":
		return "log(" + a[0] + ")", TNumber, true
	case "greatest", "least":
		// 18.16 takes two arguments of one type.
		x := "toFloat64(" + a[len(a)-1] + ")"
		for i := len(a) - 2; i >= 0; i-- {
			x = name + "(toFloat64(" + a[i] + "), " + x + ")"
		}
		return x, TNumber, true
	case "pow":
		return "pow(" + a[0] + ", " + a[1] + ")", TNumber, true
	case "mod":
		return d.Mod(a[0], a[1]), TNumber, true
	case "ispresent":
		return "(" + a[0] + " IS NOT NULL)", TBool, true
	case "isempty":
		return "(" + a[0] + " IS NULL OR " + a[0] + " = '')", TBool, true
	case "isblank":
		return "(" + a[0] + " IS NULL OR " + chTrim(a[0], "' '", true, true) + " = '')", TBool, true
	case "concat":
		// DuckDB's concat skips NULLs; ClickHouse's returns NULL.
		parts := make([]string, len(a))
		for i := range a {
			parts[i] = "ifNull(" + a[i] + ", '')"
		}
		return d.Concat(parts...), TString, true
	case "ltrim", "rtrim", "trim":
		chars := "' '"
		if len(a) == 2 {
			chars = a[1]
		}
		return chTrim(a[0], chars, name != "rtrim", name != "ltrim"), TString, true
	case "strlen":
		return "lengthUTF8(" + a[0] + ")", TNumber, true
	case "toupper":
		return "upperUTF8(" + a[0] + ")", TString, true
	case "tolower":
		return "lowerUTF8(" + a[0] + ")", TString, true
	case "substr":
		// 18.16 takes only unsigned offsets and lengths.
		start := "toUInt64(greatest(toInt64(" + a[1] + ") + 1, toInt64(1)))"
		if len(a) == 3 {
			return "substringUTF8(" + a[0] + ", " + start + ", toUInt64(greatest(toInt64(" + a[2] + "), toInt64(0))))", TString, true
		}
		return "substringUTF8(" + a[0] + ", " + start + ", toUInt64(1000000000))", TString, true
	case "replace":
		return "replaceAll(" + a[0] + ", " + a[1] + ", " + a[2] + ")", TString, true
	case "strcontains":
		return "toInt64(position(" + a[0] + ", " + a[1] + ") > 0)", TNumber, true
	case "fromMillis":
		return "toInt64(" + a[0] + ")", TTime, true
	case "toMillis":
		return a[0], TNumber, true
	case "isValidIp":
		return chIPValid(a[0], 0), TBool, true
	case "isValidIpV4":
		return chIPValid(a[0], 4), TBool, true
	case "isValidIpV6":
		return chIPValid(a[0], 6), TBool, true
	case "isIpInSubnet":
		return chInSubnet(a[0], a[1], 0), TBool, true
	case "isIpv4InSubnet":
		return chInSubnet(a[0], a[1], 4), TBool, true
	case "isIpv6InSubnet":
		return chInSubnet(a[0], a[1], 6), TBool, true
	case "jsonParse":
		// JSON is kept as its text: 18.16 has no JSON type to parse into.
		return a[0], TJSON, true
	case "jsonStringify":
		t := TString
		if len(types) > 0 {
			t = types[0]
		}
		if t == TJSON {
			return a[0], TString, true
		}
		return "if(isNull(" + a[0] + "), NULL, " + chJSONToken(a[0], t) + ")", TString, true
	case "jsonExtract":
		path, ok := unquoteStr(a[1])
		if !ok {
			return "", TNull, false
		}
		keys := strings.Split(path, ".")
		j := a[0]
		for _, k := range keys[:len(keys)-1] {
			j = "visitParamExtractRaw(" + j + ", " + d.Str(k) + ")"
		}
		return d.chJSONValue(j, keys[len(keys)-1]), TAny, true
	case "jsonObject":
		parts := []string{"'{'"}
		for i := 0; i+1 < len(a); i += 2 {
			if i > 0 {
				parts = append(parts, "','")
			}
			key, ok := unquoteStr(a[i])
			if !ok {
				return "", TNull, false
			}
			t := TAny
			if i+1 < len(types) {
				t = types[i+1]
			}
			parts = append(parts, d.Str(string(event.AppendQuoted(nil, key))+":"), chJSONToken(a[i+1], t))
		}
		parts = append(parts, "'}'")
		return d.Concat(parts...), TJSON, true
	}
	return "", TNull, false
}

// chMonths counts calendar months since year 0 for a Unix ms time.
func chMonths(ts string) string {
	dt := chDateTime(ts)
	return "(toYear(" + dt + ") * 12 + toMonth(" + dt + ") - 1)"
}

// chMonthStart is the Unix ms time at which month m (counted from year 0)
// starts.
func chMonthStart(m string) string {
	return "(toInt64(toUInt32(toDateTime(addMonths(toDate('1970-01-01'), " + m + " - 23640), 'UTC'))) * 1000)"
}

func (clickhouseDialect) Bin(ts string, n int64, unit string, nonNegative bool) string {
	ts = "toInt64(" + ts + ")"
	if k := calendarMonths(unit); k > 0 {
		p := "toInt64(" + strconv.FormatInt(n*k, 10) + ")"
		m := chMonths(ts)
		return chMonthStart("(" + m + " - " + m + " % " + p + ")")
	}
	p := n * unitMillis[unit]
	off := int64(0)
	if unit == "w" {
		off = mondayOffset
	}
	// An Int64 period: ClickHouse types x % 60000 by the divisor (Int16).
	ps := "toInt64(" + strconv.FormatInt(p, 10) + ")"
	if nonNegative {
		return fmt.Sprintf("(%s - (%s + %d) %% %s)", ts, ts, off, ps)
	}
	return fmt.Sprintf("(%s - (((%s + %d) %% %s) + %s) %% %s)", ts, ts, off, ps, ps, ps)
}

func (d clickhouseDialect) Ceil(ts string, n int64, unit string) string {
	floor := d.Bin(ts, n, unit, false)
	ts = "toInt64(" + ts + ")"
	if k := calendarMonths(unit); k > 0 {
		p := "toInt64(" + strconv.FormatInt(n*k, 10) + ")"
		m := chMonths(ts)
		next := chMonthStart("(" + m + " - " + m + " % " + p + " + " + p + ")")
		return "if(" + floor + " = " + ts + ", " + floor + ", " + next + ")"
	}
	p := strconv.FormatInt(n*unitMillis[unit], 10)
	return "if(" + floor + " = " + ts + ", " + floor + ", " + floor + " + " + p + ")"
}

func (clickhouseDialect) Aggregate(name string, a []string, types []Type, ts string) (string, Type) {
	t := TNumber
	if len(types) > 0 {
		t = types[0]
	}
	switch name {
	case "count":
		if len(a) == 0 {
			return "count()", TNumber
		}
		return "count(" + a[0] + ")", TNumber
	case "count_distinct":
		return "uniqExact(" + a[0] + ")", TNumber
	case "sum":
		return "sum(" + a[0] + ")", TNumber
	case "avg":
		return "avg(" + a[0] + ")", TNumber
	case "min", "max":
		return name + "(" + a[0] + ")", t
	case "stddev":
		return "stddevSamp(" + a[0] + ")", TNumber
	case "pct":
		return "quantile(" + a[1] + ")(" + a[0] + ")", TNumber
	case "earliest":
		// Aggregates skip rows where an argument is NULL.
		return "argMin(" + a[0] + ", " + ts + ")", t
	case "latest":
		return "argMax(" + a[0] + ", " + ts + ")", t
	case "sortsFirst":
		return "min(" + a[0] + ")", t
	case "sortsLast":
		return "max(" + a[0] + ")", t
	}
	panic("BUG: unknown aggregate " + name)
}

// Dedup keeps the first row of each key with LIMIT 1 BY. Rows with a NULL
// key get a key of their own (their row number), so all of them are kept.
func (clickhouseDialect) Dedup(inner string, keys, order []string) string {
	var nulls []string
	for _, k := range keys {
		nulls = append(nulls, k+" IS NULL")
	}
	by := append(append([]string(nil), keys...), "if("+strings.Join(nulls, " OR ")+", rowNumberInAllBlocks(), 0)")
	s := inner
	if len(order) > 0 {
		s += " ORDER BY " + strings.Join(order, ", ")
	}
	return s + " LIMIT 1 BY " + strings.Join(by, ", ")
}

// chJSONArrayElement matches one element of a JSON array's text: a string,
// an object or array holding no deeper than one more level, or a scalar.
const chJSONArrayElement = `"(?:[^"\\]|\\.)*"` +
	`|\{(?:[^{}\[\]"]|"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\[\]]*\])*\}` +
	`|\[(?:[^{}\[\]"]|"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\[\]]*\])*\]` +
	`|[^,\s\[\]{}"]+`

func (d clickhouseDialect) Unnest(inner string, elems []string, jsonText, as string) string {
	list := "[" + strings.Join(elems, ", ") + "]"
	if jsonText != "" {
		text := "ifNull(" + jsonText + ", '')"
		list = "if(match(" + text + `, '^\\s*\\[.*\\]\\s*$'), extractAll(replaceRegexpOne(` + text +
			`, '^\\s*\\[(.*)\\]\\s*$', '\\1'), ` + d.Str(chJSONArrayElement) + "), emptyArrayString())"
	}
	return "SELECT * FROM (SELECT *, arrayJoin(" + list + ") AS " + as + " FROM (" + inner + ")) WHERE " + as + " IS NOT NULL"
}

func (clickhouseDialect) Bool(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// Switch compares explicitly: 18.16's CASE x WHEN turns NULL results and
// Nullable x into NULL.
func (clickhouseDialect) Switch(x string, keys, values []string) string {
	var b strings.Builder
	b.WriteString("CASE")
	for i := range keys {
		b.WriteString(" WHEN " + x + " = " + keys[i] + " THEN " + values[i])
	}
	b.WriteString(" END")
	return b.String()
}

// Unify makes numbers Float64: ClickHouse finds no common type for Int64
// and Float64.
func (clickhouseDialect) Unify(sql string, t Type) string {
	if t == TNumber && sql != "NULL" {
		return "toFloat64(" + sql + ")"
	}
	return sql
}

// Varying wraps a constant in materialize(): ClickHouse (18.16 at least)
// fails a UNION ALL of Distributed tables whose branches all select the
// same column as a constant ("non constant in source stream but must be
// constant in result"), since the shards send it back materialized.
func (clickhouseDialect) Varying(sql string) string { return "materialize(" + sql + ")" }

// CountsMatched implements matchCounter: ClickHouse reports the rows before
// the final LIMIT only, so the rows an aggregation took in are counted by
// the aggregation itself.
func (clickhouseDialect) CountsMatched() bool { return true }

// CountsScannedInQuery implements scanCounter: a count of its own would
// be one more round trip, or, run beside the query, compete with it for
// the server's cores; within the statement it costs the count alone.
func (clickhouseDialect) CountsScannedInQuery() bool { return true }

// MatchedMarker starts the comment that MarkMatched puts before the
// matched relation: "/*sonde:matched:N:F:S*/" where N is the relation's
// length in bytes, F is 1 when it feeds the final ORDER BY ... LIMIT, and S
// is the statement that counts the rows scanned, when they are the matched
// ones, in unpadded base64url. The ClickHouse store reads it to report the
// rows a query matched.
const MatchedMarker = "/*sonde:matched:"

func (clickhouseDialect) MarkMatched(rel string, final bool, scanned string) string {
	f := 0
	if final {
		f = 1
	}
	return fmt.Sprintf("%s%d:%d:%s*/%s", MatchedMarker, len(rel), f, base64.RawURLEncoding.EncodeToString([]byte(scanned)), rel)
}
