package load

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func testVars() *Vars {
	v := newVars(map[string]any{
		"name":   "Ada",
		"n":      int64(20),
		"f":      2.5,
		"obj":    map[string]any{"a": []any{"x", map[string]any{"b": "deep"}}},
		"$env":   map[string]any{"HOME": "/home/ada"},
		"quoted": `say "hi"`,
	})
	v.rng = rand.New(rand.NewPCG(1, 2))
	return v
}

func TestTemplateRendering(t *testing.T) {
	v := testVars()
	for src, want := range map[string]string{
		"plain":                    "plain",
		"hello {{ name }}!":        "hello Ada!",
		"{{name}}-{{ n }}-{{f}}":   "Ada-20-2.5",
		"{{ obj.a[1].b }}":         "deep",
		"{{ obj.a.0 }}":            "x",
		"{{ obj.a }}":              `["x",{"b":"deep"}]`,
		"home={{ $env.HOME }}":     "home=/home/ada",
		"{{ missing }}/x":          "undefined/x",
		"{{{ name }}}":             "Ada",
		"unclosed {{ name":         "unclosed {{ name",
		"{{ obj.a.length }} items": "2 items",
	} {
		tm, err := CompileTemplate(src)
		require.NoError(t, err, src)
		require.Equal(t, want, tm.String(v), src)
	}
	_, err := CompileTemplate("{{ $nope(1) }}")
	require.Error(t, err)
}

func TestTemplateWholePlaceholderKeepsType(t *testing.T) {
	v := testVars()
	tm := MustCompileTemplate("{{ n }}")
	x, ok := tm.Raw(v)
	require.True(t, ok)
	require.Equal(t, int64(20), x)
	tm = MustCompileTemplate("n={{ n }}")
	x, _ = tm.Raw(v)
	require.Equal(t, "n=20", x)
	_, ok = MustCompileTemplate("{{ missing }}").Raw(v)
	require.False(t, ok)
}

func TestTemplateFunctions(t *testing.T) {
	v := testVars()
	num := MustCompileTemplate("{{ $randomNumber(3, 5) }}")
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s := num.String(v)
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		require.True(t, n >= 3 && n <= 5, s)
		seen[s] = true
	}
	require.Len(t, seen, 3, "inclusive bounds")
	str := MustCompileTemplate("{{ $randomString(12) }}")
	require.Regexp(t, regexp.MustCompile(`^[A-Za-z0-9]{12}$`), str.String(v))
	require.Len(t, MustCompileTemplate("{{ $randomString() }}").String(v), 10)
	id := MustCompileTemplate("{{ $uuid }}")
	first := id.String(v)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), first)
	require.Equal(t, first, id.String(v), "$uuid is constant for a virtual user")
	other := testVars()
	other.rng = rand.New(rand.NewPCG(3, 4))
	require.NotEqual(t, first, id.String(other))
}

func TestValueJSON(t *testing.T) {
	v := testVars()
	val, err := CompileValue(map[string]any{
		"subject":  "{{ name }}",
		"duration": 20,
		"count":    "{{ n }}",
		"text":     "{{ quoted }}\n",
		"list":     []any{"{{ f }}", true, nil},
		"nested":   map[string]any{"x": "{{ obj.a[1] }}", "{{ name }}": "key templated"},
		"missing":  "{{ nothing }}",
	})
	require.NoError(t, err)
	raw := val.AppendJSON(nil, v)
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got), string(raw))
	require.Equal(t, map[string]any{
		"subject":  "Ada",
		"duration": float64(20),
		"count":    float64(20),
		"text":     "say \"hi\"\n",
		"list":     []any{2.5, true, nil},
		"nested":   map[string]any{"x": map[string]any{"b": "deep"}, "Ada": "key templated"},
		"missing":  nil,
	}, got)
	ev := val.Eval(v).(map[string]any)
	require.Equal(t, int64(20), ev["count"])
}

func TestCSVCast(t *testing.T) {
	require.Equal(t, int64(42), castCSV("42", true))
	require.Equal(t, 4.5, castCSV("4.5", true))
	require.Equal(t, int64(42), castCSV("042", true))
	require.Equal(t, "0x10", castCSV("0x10", true))
	require.Equal(t, "42", castCSV("42", false))
	require.Equal(t, "Paris", castCSV("Paris", true))
	require.Equal(t, "", castCSV("", true))
}

func TestJSONPath(t *testing.T) {
	var doc any
	require.NoError(t, json.Unmarshal([]byte(`{"items":[{"id":7,"tags":["a"]},{"id":8}],"token":"abc","a b":{"c":1}}`), &doc))
	for path, want := range map[string]any{
		"$.token":         "abc",
		"$.items[0].id":   float64(7),
		"$.items[-1].id":  float64(8),
		"$['a b'].c":      float64(1),
		"$.items[*].id":   float64(7),
		"$..id":           float64(7),
		"$.items.length":  float64(2),
		"token":           "abc",
		"$.items[0].tags": []any{"a"},
	} {
		p, err := compileJSONPath(path)
		require.NoError(t, err, path)
		got, ok := p.first(doc)
		require.True(t, ok, path)
		require.Equal(t, want, got, path)
	}
	p, _ := compileJSONPath("$.nope")
	_, ok := p.first(doc)
	require.False(t, ok)
}

func TestExpressions(t *testing.T) {
	vars := map[string]any{"vusers.failed": 0.0, "http.request_rate": 12.0, "http.response_time.p99": 180.0, "name": "x", "n": int64(3)}
	lookup := func(k string) (any, bool) { x, ok := vars[k]; return x, ok }
	for src, want := range map[string]bool{
		"vusers.failed == 0 and http.request_rate >= 10": true,
		"http.response_time.p99 < 150":                   false,
		"not (http.response_time.p99 < 150)":             true,
		"http.request_rate * 2 + 1 > 24":                 true,
		"missing.metric < 5":                             false,
		"missing.metric != 5":                            true,
		`name == "x"`:                                    true,
		"n in (1, 2, 3)":                                 true,
		"n not in (1, 2)":                                true,
		"n > 5 ? 0 : 1":                                  true,
		"2 ^ 3 == 8 or 0":                                true,
		"n % 2 == 1":                                     true,
	} {
		x, err := parseExpr(src)
		require.NoError(t, err, src)
		require.Equal(t, want, isTruthy(x.eval(lookup)), src)
	}
	for _, bad := range []string{"(a", "a ==", "a ! b", `"open`} {
		_, err := parseExpr(bad)
		require.Error(t, err, bad)
	}
}
