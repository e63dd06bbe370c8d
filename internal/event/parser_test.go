package event

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const now = int64(1_700_000_000_000)

func parse(t testing.TB, line string) (*Event, Result) {
	t.Helper()
	p := NewParser(NewShapes(1000), ParserOptions{})
	var ev Event
	res, err := p.Parse(line, now, &ev)
	require.NoError(t, err, line)
	return &ev, res
}

func fieldMap(ev *Event) map[string]string {
	m := map[string]string{}
	for _, f := range ev.Fields {
		m[f.Name] = f.Kind.String() + ":" + f.Text(ev.Time)
	}
	return m
}

func TestParseTypesAndFlattens(t *testing.T) {
	ev, _ := parse(t, `{"a":{"b":1,"c":[true,{"d":"x"}]},"f":1.5,"n":null,"e":{},"ip":"10.0.0.1","tr":"41f27cc6f3875d0468255aaf95e94627","sp":"a584c47f2cdf5b8a","@odd":"v","big":123456789012345678901}`)
	require.Equal(t, map[string]string{
		"a.b":     "int:1",
		"a.c.0":   "bool:true",
		"a.c.1.d": "string:x",
		"f":       "float:1.5",
		"ip":      "ipv4:10.0.0.1",
		"tr":      "id128:41f27cc6f3875d0468255aaf95e94627",
		"sp":      "id64:a584c47f2cdf5b8a",
		"@@odd":   "string:v",
		"big":     "float:1.2345678901234568e+20",
	}, fieldMap(ev))
	require.NotNil(t, ev.Shape)
	require.Equal(t, now, ev.Time)
}

func TestParseKeepsTextThatOnlyLooksTyped(t *testing.T) {
	ev, _ := parse(t, `{"ip":"010.0.0.1","h":"41F27CC6F3875D0468255AAF95E94627","n":"200","short":"abc"}`)
	for name, v := range fieldMap(ev) {
		require.True(t, strings.HasPrefix(v, "string:"), "%s=%s", name, v)
	}
}

func TestTimestampFields(t *testing.T) {
	cases := []struct {
		line  string
		want  int64
		kind  Kind
		field string
	}{
		{`{"timestamp":"2026-11-20T00:00:00.043Z"}`, 1795132800043, KindTime, "timestamp"},
		{`{"time":"2026-11-20T00:00:00Z"}`, 1795132800000, KindTime, "time"},
		{`{"ts":1795132800043}`, 1795132800043, KindTime, "ts"},
		{`{"ts":1795132800}`, 1795132800000, KindTime, "ts"},
		{`{"ts":1795132800.5}`, 1795132800500, KindFloat, "ts"},
		{`{"ts":1795132800043000}`, 1795132800043, KindInt, "ts"},
		{`{"time":"2026-11-20T01:00:00.043+01:00"}`, 1795132800043, KindString, "time"},
		{`{"time":"2026-11-20T00:00:00.043123Z"}`, 1795132800043, KindString, "time"},
		{`{"time":"yesterday"}`, now, KindString, "time"},
		{`{"@timestamp":"2026-11-20 00:00:00.043","time":"2000-01-01T00:00:00Z"}`, 1795132800043, KindTime, "@@timestamp"},
	}
	for _, c := range cases {
		ev, _ := parse(t, c.line)
		require.Equal(t, c.want, ev.Time, c.line)
		v, ok := ev.Get(c.field)
		require.True(t, ok, c.line)
		require.Equal(t, c.kind, v.Kind, c.line)
		require.Equal(t, c.line, ev.Rebuild(), "rebuild")
	}
}

func TestCustomTimeField(t *testing.T) {
	p := NewParser(NewShapes(10), ParserOptions{TimeFields: []string{"when"}})
	var ev Event
	_, err := p.Parse(`{"timestamp":"2000-01-01T00:00:00Z","when":"2026-11-20T00:00:00.043Z"}`, now, &ev)
	require.NoError(t, err)
	require.Equal(t, int64(1795132800043), ev.Time)
}

func TestRebuildIsExactForCanonicalLines(t *testing.T) {
	lines := []string{
		`{"timestamp":"2026-11-20T00:00:00.000Z","service":"speakers-api","status":200,"latency_ms":492.62,"trace_id":"41f27cc6f3875d0468255aaf95e94627","ok":true,"n":null,"e":{},"a":[],"q":"say \"hi\"\n"}`,
		`{"a":{"b":{"c":[1,[2,3],{"d":[]}]}}}`,
		`{}`,
		`{"k\"ey":"v\\","uni":"héllo ☃","ctl":"\u0001"}`,
	}
	for _, line := range lines {
		ev, _ := parse(t, line)
		require.NotNil(t, ev.Shape, line)
		require.Equal(t, line, ev.Rebuild())
	}
}

func TestRebuildIsSemanticForOtherSpellings(t *testing.T) {
	line := `{ "a" : 1.50 , "b":"\u0041\/", "c" : -0 }`
	ev, _ := parse(t, line)
	require.NotNil(t, ev.Shape)
	requireSameJSON(t, line, ev.Rebuild())
}

func requireSameJSON(t *testing.T, a, b string) {
	t.Helper()
	var x, y any
	require.NoError(t, json.Unmarshal([]byte(a), &x))
	require.NoError(t, json.Unmarshal([]byte(b), &y))
	require.Equal(t, x, y)
}

func TestLinesThatCannotBeRebuiltKeepTheirText(t *testing.T) {
	for _, line := range []string{
		`{"a":1,"a":2}`,
		`{"a.b":1,"a":{"b":2}}`,
		`{"x":1e999}`,
		`{"s":"\ud800"}`,
	} {
		ev, _ := parse(t, line)
		require.Nil(t, ev.Shape, line)
		require.Equal(t, line, ev.Rebuild())
	}
}

func TestFieldCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 250; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"f` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":` + "1")
	}
	b.WriteString("}")
	p := NewParser(NewShapes(10), ParserOptions{})
	var ev Event
	line := `{"n":{` + strings.Repeat(`"k":1,`, 0) + `}}`
	_, err := p.Parse(line, now, &ev)
	require.NoError(t, err)

	var wide strings.Builder
	wide.WriteString(`{`)
	for i := 0; i < 250; i++ {
		if i > 0 {
			wide.WriteString(",")
		}
		wide.WriteString(`"f` + itoa(i) + `":` + itoa(i))
	}
	wide.WriteString(`}`)
	res, err := p.Parse(wide.String(), now, &ev)
	require.NoError(t, err)
	require.Len(t, ev.Fields, 200)
	require.Equal(t, 50, res.Truncated)
	require.Nil(t, ev.Shape, "a truncated event keeps its raw line")
	require.Equal(t, wide.String(), ev.Message)
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + jsonNum(i)) }

func jsonNum(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestSyntaxErrors(t *testing.T) {
	cases := map[string]string{
		`{"a":}`:       "invalid JSON at column 6: unexpected character '}'",
		`{"a":1`:       "invalid JSON at column 7: unexpected end of line in object",
		`{"a" 1}`:      "invalid JSON at column 6: expected ':' after key",
		`{a:1}`:        "invalid JSON at column 2: expected a quoted key",
		`{"a":1} x`:    "invalid JSON at column 9: unexpected text after the JSON object",
		`{"a":"x\q"}`:  "invalid JSON at column 8: invalid escape \\q",
		`{"a":01}`:     "invalid JSON at column 7: expected ',' or '}' in object",
		`{"a":tru}`:    "invalid JSON at column 6: invalid literal",
		`{"a":"unterm`: "invalid JSON at column 13: unterminated string",
		`{"a":1.}`:     "invalid JSON at column 8: invalid number: no digits after '.'",
		`{"a":[1,2}`:   "invalid JSON at column 10: expected ',' or ']' in array",
		strings.Repeat(`{"a":`, 70) + "1" + strings.Repeat("}", 70): "invalid JSON at column 321: nesting deeper than 64",
	}
	for line, want := range cases {
		p := NewParser(NewShapes(10), ParserOptions{})
		var ev Event
		_, err := p.Parse(line, now, &ev)
		require.EqualError(t, err, want, line)
	}
}

func TestPlainTextAndLambda(t *testing.T) {
	ev, _ := parse(t, "[profiler] GET /sessions 12.50 200")
	require.Nil(t, ev.Shape)
	require.Empty(t, ev.Fields)
	require.Equal(t, "[profiler] GET /sessions 12.50 200", ev.Message)

	ev, _ = parse(t, "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\tBilled Duration: 100 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB\t")
	require.Equal(t, map[string]string{
		"@type":           "string:REPORT",
		"@requestId":      "string:3604209a-e9a3-11e6-939a-754dd98c7be3",
		"@duration":       "float:12.34",
		"@billedDuration": "int:100",
		"@memorySize":     "int:128000000",
		"@maxMemoryUsed":  "int:18000000",
	}, fieldMap(ev))

	ev, _ = parse(t, "START RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3 Version: $LATEST")
	require.Equal(t, map[string]string{
		"@type":      "string:START",
		"@requestId": "string:3604209a-e9a3-11e6-939a-754dd98c7be3",
		"@version":   "string:$LATEST",
	}, fieldMap(ev))
}

func TestInvalidUTF8IsReplaced(t *testing.T) {
	ev, _ := parse(t, "bad \xff byte")
	require.Equal(t, "bad \uFFFD byte", ev.Message)
}

func TestJSONArrayElements(t *testing.T) {
	elems, err := SplitJSONArray(` [ {"a":1}, "plain line", {"b":[1,{"c":2}]} ] `)
	require.NoError(t, err)
	require.Equal(t, []string{`{"a":1}`, `"plain line"`, `{"b":[1,{"c":2}]}`}, elems)
	p := NewParser(NewShapes(10), ParserOptions{})
	var ev Event
	_, err = p.ParseJSONValue(elems[1], now, &ev)
	require.NoError(t, err)
	require.Equal(t, "plain line", ev.Message)
	_, err = p.ParseJSONValue("42", now, &ev)
	require.EqualError(t, err, "invalid JSON at column 1: array element is neither an object nor a string")
	_, err = SplitJSONArray(`[{"a":1},]`)
	require.Error(t, err)
}

func TestShapesAreSharedAndPersistable(t *testing.T) {
	shapes := NewShapes(10)
	p := NewParser(shapes, ParserOptions{})
	var a, b, c Event
	_, _ = p.Parse(`{"x":1,"y":"s"}`, now, &a)
	_, _ = p.Parse(`{"x":2,"y":"t"}`, now, &b)
	_, _ = p.Parse(`{"x":2.5,"y":"t"}`, now, &c)
	require.Same(t, a.Shape, b.Shape)
	require.NotSame(t, a.Shape, c.Shape)
	text, err := json.Marshal(a.Shape)
	require.NoError(t, err)
	back, err := ParseShape(text)
	require.NoError(t, err)
	require.Equal(t, a.Shape.Key, back.Key)
	require.Equal(t, 2, shapes.Len())
}

func TestShapeTableIsBounded(t *testing.T) {
	p := NewParser(NewShapes(1), ParserOptions{})
	var a, b Event
	_, _ = p.Parse(`{"x":1}`, now, &a)
	_, _ = p.Parse(`{"y":1}`, now, &b)
	require.NotNil(t, a.Shape)
	require.Nil(t, b.Shape)
}

func TestValueText(t *testing.T) {
	require.Equal(t, "1.5", Float(1.5).Text(0))
	require.Equal(t, "-3", Int(-3).Text(0))
	require.Equal(t, "NaN", Float(math.NaN()).Text(0))
}

// FuzzParse checks that no input panics, and that every line the parser
// claims it can rebuild comes back as the same JSON.
func FuzzParse(f *testing.F) {
	f.Add(`{"timestamp":"2026-11-20T00:00:00.000Z","a":{"b":[1,2.5,"x",true,null,{}]}}`)
	f.Add(`{"k":"\ud83d\ude00\n"}`)
	f.Add("REPORT RequestId: x\tDuration: 1 ms")
	f.Add(`{"ts":1795132800043,"ip":"1.2.3.4"}`)
	f.Fuzz(func(t *testing.T, line string) {
		p := NewParser(NewShapes(100), ParserOptions{MaxFields: 20})
		var ev Event
		_, err := p.Parse(line, now, &ev)
		if err != nil {
			return
		}
		if ev.PlainStrings {
			for _, f := range ev.Fields {
				if f.Kind == KindString && strings.ContainsFunc(f.Str, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) {
					t.Fatalf("PlainStrings set, but field %s is %q (line %q)", f.Name, f.Str, line)
				}
			}
		}
		if ev.Shape == nil {
			return
		}
		rebuilt := ev.Rebuild()
		var ev2 Event
		if _, err := p.Parse(rebuilt, now, &ev2); err != nil {
			t.Fatalf("rebuilt line %q does not parse: %v", rebuilt, err)
		}
		if ev2.Shape != ev.Shape {
			t.Fatalf("shape changed: %q -> %q", line, rebuilt)
		}
		if len(ev.Fields) != len(ev2.Fields) {
			t.Fatalf("fields changed: %q -> %q", line, rebuilt)
		}
		for i := range ev.Fields {
			a, b := ev.Fields[i], ev2.Fields[i]
			if a.Name != b.Name || a.Text(ev.Time) != b.Text(ev2.Time) {
				t.Fatalf("field %d changed: %v -> %v (%q -> %q)", i, a, b, line, rebuilt)
			}
		}
	})
}

func TestStringSpan(t *testing.T) {
	ref := func(s string) int {
		for i := 0; i < len(s); i++ {
			if !plainByte[s[i]] {
				return i
			}
		}
		return len(s)
	}
	// Every stopping byte at every position of strings up to 20 bytes long,
	// among bytes on both sides of the thresholds of the word tests.
	fill := []byte("a~\x7f\x80\xff !#[]")
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for _, stop := range []byte{'"', '\\', 0, 0x1f, '\n'} {
				for _, f := range fill {
					b := []byte(strings.Repeat(string(f), n))
					b[pos] = stop
					if pos+1 < n {
						b[pos+1] = '"' // a later stop must not win
					}
					require.Equal(t, ref(string(b)), stringSpan(string(b)), "%q", b)
				}
			}
		}
		plain := strings.Repeat("é~ ", n)
		require.Equal(t, len(plain), stringSpan(plain))
	}
	// Every byte value at every position, against the byte loop.
	for _, n := range []int{1, 7, 8, 9, 16, 23} {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				if got, want := stringSpan(string(b)), ref(string(b)); got != want {
					t.Fatalf("%q: got %d, want %d", b, got, want)
				}
				require.Equal(t, !plainByte[c], HasJSONEscape(string(b)))
			}
		}
	}
}

func TestParseHex64(t *testing.T) {
	x, ok := parseHex64("0123456789abcdef")
	require.True(t, ok)
	require.Equal(t, uint64(0x0123456789abcdef), x)
	for _, bad := range []string{"0123456789abcdeF", "0123456789abcdeg", "/123456789abcdef", "0123456789abcde:", "0123456789abcde", "0123456789abcdef0"} {
		_, ok := parseHex64(bad)
		require.False(t, ok, bad)
	}
}

func TestPlainStrings(t *testing.T) {
	ev, _ := parse(t, `{"a":"x\u00e9\/y","n":1}`)
	require.True(t, ev.PlainStrings, "escapes of characters JSON does not need to escape")
	for _, line := range []string{`{"a":"say \"hi\""}`, `{"a":"c:\\dir"}`, `{"a":"x\ny"}`, `{"a":"\u0001"}`} {
		ev, _ := parse(t, line)
		require.False(t, ev.PlainStrings, line)
	}
	ev, _ = parse(t, "plain text line")
	require.False(t, ev.PlainStrings, "unknown for text lines")
}

func TestResetReusesFieldMemory(t *testing.T) {
	lines := sampleLines(t)
	p := NewParser(NewShapes(1000), ParserOptions{})
	events := make([]Event, len(lines))
	parseAll := func() {
		for i, l := range lines {
			_, err := p.Parse(l, now, &events[i])
			require.NoError(t, err)
		}
		p.Reset()
	}
	parseAll() // sizes the chunk
	want := fieldMap(&events[len(events)-1])
	require.Zero(t, testing.AllocsPerRun(5, parseAll))
	require.Equal(t, want, fieldMap(&events[len(events)-1]))
	// Events parsed after a Reset do not share fields with each other.
	require.NotEqual(t, fieldMap(&events[0]), fieldMap(&events[1]))
}

// BenchmarkParseAccessLogReset parses the sample lines as an ingest handler
// does: a body of lines, then Reset once the events are stored.
func BenchmarkParseAccessLogReset(b *testing.B) {
	lines := benchLines(b)
	p := NewParser(NewShapes(1000), ParserOptions{})
	events := make([]Event, len(lines))
	for i := 0; b.Loop(); i++ {
		k := i % len(lines)
		if _, err := p.Parse(lines[k], now, &events[k]); err != nil {
			b.Fatal(err)
		}
		if k == len(lines)-1 {
			p.Reset()
		}
	}
}

func BenchmarkParseAccessLog(b *testing.B) {
	lines := benchLines(b)
	p := NewParser(NewShapes(1000), ParserOptions{})
	var ev Event
	for i := 0; b.Loop(); i++ {
		if _, err := p.Parse(lines[i%len(lines)], now, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLines returns the sample lines and reports allocations and bytes
// per line.
func benchLines(b *testing.B) []string {
	lines := sampleLines(b)
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l))
	}
	b.SetBytes(bytes / int64(len(lines)))
	b.ReportAllocs()
	return lines
}

func sampleLines(tb testing.TB) []string {
	data, err := os.ReadFile("testdata/access.ndjson")
	require.NoError(tb, err)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestAppendFloatMatchesDuckDB(t *testing.T) {
	// Pairs taken from DuckDB: SELECT to_json(x::DOUBLE).
	cases := map[float64]string{
		1795132800.5: "1795132800.5", 1e20: "100000000000000000000.0", 1e21: "1e21",
		1e-7: "1e-7", 0.0001: "0.0001", 100: "100.0", 12.5: "12.5", 1e-5: "0.00001",
		1e-6: "0.000001", 1.5e-7: "1.5e-7", 1.5e21: "1.5e21", -1.5e-7: "-1.5e-7", 0: "0.0",
		2.5e-308: "2.5e-308", 1.7976931348623157e308: "1.7976931348623157e308",
		123456789012345678901: "123456789012345680000.0",
	}
	for f, want := range cases {
		require.Equal(t, want, string(AppendFloat(nil, f)), "%v", f)
	}
}

func TestInvalidUTF8InJSONValues(t *testing.T) {
	ev, _ := parse(t, "{\"a\":\"x\xffy\",\"b\":1}")
	v, ok := ev.Get("a")
	require.True(t, ok)
	require.Equal(t, "x\uFFFDy", v.Str, "values are repaired too")
	require.Nil(t, ev.Shape, "the repaired line is kept as text")
	require.Equal(t, "{\"a\":\"x\uFFFDy\",\"b\":1}", ev.Message)
}

// FuzzParseDecimal checks the fast path against strconv.ParseFloat.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"492.62", "-0.0", "0.001", "123456789012345", "1234567890.12345", "9007199254740993", "1.", ".5", "1e5", "-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDecimal(s)
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%q: fast path gives %v, strconv fails: %v", s, got, err)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: fast path gives %v, strconv %v", s, got, want)
		}
	})
}
