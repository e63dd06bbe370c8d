package condition

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func sample() *Response {
	return &Response{
		Status:       200,
		ResponseTime: 250 * time.Millisecond,
		IP:           "127.0.0.1",
		Connected:    true,
		Header:       http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"abc-123"}},
		Body: []byte(`{"status":"UP","count":3,"ratio":1.0,"name":"Zoë","ok":true,"none":null,
			"data":[{"id":7,"tags":["a","b"]},{"id":8}],"nested":{"a":{"b":"deep"}},"matrix":[[1,2],[3,4]]}`),
		TLS:                   true,
		CertificateExpiration: 10 * time.Hour,
		Context:               map[string]string{"token": "t0k", "user_id": "7"},
	}
}

func TestEval(t *testing.T) {
	tests := []struct {
		cond string
		want bool
		show string // expected Result.Condition, when given
	}{
		{cond: "[STATUS] == 200", want: true, show: "[STATUS] (200) == 200"},
		{cond: "[status] == 200", want: true},
		{cond: "[STATUS] != 200", want: false},
		{cond: "[STATUS] == 201", want: false, show: "[STATUS] (200) == 201"},
		{cond: "[STATUS] < 300", want: true},
		{cond: "[STATUS] <= 200", want: true},
		{cond: "[STATUS] >= 201", want: false},
		{cond: "[STATUS] > 199", want: true},
		{cond: "[STATUS] == any(200, 429)", want: true},
		{cond: "[STATUS] == any(201, 429)", want: false},
		{cond: "any(200, 429) == [STATUS]", want: true},
		{cond: "[STATUS] != any(500, 503)", want: true},
		{cond: "[STATUS] == pat(2*)", want: true},
		{cond: "[STATUS] == pat(3*)", want: false},
		{cond: "[IP] == pat(127.0.*.*)", want: true},
		{cond: "[IP] == pat(10.*)", want: false},
		{cond: "[RESPONSE_TIME] < 300", want: true, show: "[RESPONSE_TIME] (250) < 300"},
		{cond: "[RESPONSE_TIME] < 200", want: false},
		{cond: "[RESPONSE_TIME] < 1s", want: true},
		{cond: "[RESPONSE_TIME] > 250ms", want: false},
		{cond: "[CONNECTED] == true", want: true},
		{cond: "[CERTIFICATE_EXPIRATION] > 48h", want: false, show: "[CERTIFICATE_EXPIRATION] (10h0m0s) > 48h"},
		{cond: "[CERTIFICATE_EXPIRATION] > 1h", want: true},
		{cond: "[BODY].status == UP", want: true, show: "[BODY].status (UP) == UP"},
		{cond: "[BODY].status == DOWN", want: false},
		{cond: "[BODY].status == pat(U*)", want: true},
		{cond: "[BODY].count == 3", want: true},
		{cond: "[BODY].count > 2", want: true},
		{cond: "[BODY].ratio == 1", want: true},
		{cond: "[BODY].ok == true", want: true},
		{cond: "[BODY].none == null", want: true},
		{cond: "[BODY].data[0].id == 7", want: true},
		{cond: "[BODY].data[1].id == 8", want: true},
		{cond: "[BODY].data[0].tags[1] == b", want: true},
		{cond: "[BODY].matrix[1][0] == 3", want: true},
		{cond: "[BODY].nested.a.b == deep", want: true},
		{cond: "[BODY].nested.a == {\"b\":\"deep\"}", want: true},
		{cond: "[BODY].data[5].id == 7", want: false, show: `[BODY].data[5].id (INVALID: [5]: index out of range (length 2)) == 7`},
		{cond: "[BODY].missing != x", want: false},
		{cond: "[BODY].status.x == 1", want: false},
		{cond: "len([BODY].data) == 2", want: true},
		{cond: "len([BODY].data) > 2", want: false},
		{cond: "len([BODY].name) == 3", want: true},
		{cond: "len([BODY].nested) == 1", want: true},
		{cond: "len([BODY].missing) == 0", want: false},
		{cond: "len([STATUS]) == 3", want: true},
		{cond: "has([BODY].errors) == false", want: true},
		{cond: "has([BODY].status) == true", want: true},
		{cond: "has([BODY].none) == true", want: true},
		{cond: "has([HEADER].X-Request-Id) == true", want: true},
		{cond: "has([CONTEXT].nope) == false", want: true},
		{cond: "[HEADER].content-type == application/json", want: true},
		{cond: "[HEADER].X-Missing == x", want: false},
		{cond: "[CONTEXT].user_id == [BODY].data[0].id", want: true},
		{cond: "[CONTEXT].token == t0k", want: true},
		{cond: "[BODY].status == UP == DOWN", want: false}, // parse error, checked below
		{cond: "[BODY].name == Zoë", want: true},
		{cond: "[BODY].name < 5", want: false},
		{cond: "1 < 2", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			c, err := Parse(tt.cond)
			if tt.cond == "[BODY].status == UP == DOWN" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.cond, c.String())
			res := c.Eval(sample())
			require.Equal(t, tt.want, res.Success, res.Condition)
			if tt.show != "" {
				require.Equal(t, tt.show, res.Condition)
			}
		})
	}
}

func TestEvalWithoutResponse(t *testing.T) {
	r := &Response{Body: []byte("<html>not json</html>")}
	for cond, want := range map[string]bool{
		"[CONNECTED] == false":           true,
		"[STATUS] == 0":                  true,
		"[CERTIFICATE_EXPIRATION] > 1h":  false,
		"[CERTIFICATE_EXPIRATION] < 48h": false, // no certificate fails both ways
		"[BODY].status == UP":            false,
		"has([BODY].status) == false":    true,
		"[BODY] == pat(*not json*)":      true,
		"len([BODY]) == 21":              true,
	} {
		c, err := Parse(cond)
		require.NoError(t, err, cond)
		require.Equal(t, want, c.Eval(r).Success, cond+": "+c.Eval(r).Condition)
	}
	c, err := Parse("[BODY].status == UP")
	require.NoError(t, err)
	require.Contains(t, c.Eval(r).Condition, "body is not JSON")
}

func TestLenOfJSONRoot(t *testing.T) {
	c, err := Parse("len([BODY]) == 3")
	require.NoError(t, err)
	require.True(t, c.Eval(&Response{Body: []byte(`[1, 2, 3]`)}).Success)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		cond string
		pos  int // expected SyntaxError.Pos
		msg  string
	}{
		{"[STATUS]", 0, "missing operator"},
		{"[STATUS]==200", 8, "operator == must have a space on each side"},
		{"[STATUS] == ", 12, "missing operand"},
		{" == 200", 0, "missing operand"},
		{"[STATU] == 200", 0, "unknown placeholder [STATU]"},
		{"[STATUS].x == 200", 8, `unexpected ".x" after [STATUS]`},
		{"[BODY]..a == 1", 7, "empty field name"},
		{"[BODY].a[x] == 1", 9, `array index "x" is not a number`},
		{"[BODY].a[*] == 1", 9, `array index "*" is not a number`},
		{"[BODY].a[1 == 1", 8, "missing ] in [BODY] path"},
		{"[BODY]x == 1", 6, "unexpected \"x\" in [BODY] path"},
		{"[STATUS == 1", 7, "missing ] after [STATUS"},
		{"len([BODY].a == 1", 12, "missing ) to close len("},
		{"len(abc) == 1", 4, "len() takes a placeholder"},
		{"has( x ) == true", 5, "has() takes a placeholder"},
		{"[STATUS] < any(1, 2)", 11, "any() only compares with == or !="},
		{"pat(2*) > [STATUS]", 0, "pat() only compares with == or !="},
		{"[STATUS] == any()", 16, "any() needs at least one value"},
		{"any(1) == pat(1)", 10, "compare with a value, not with each other"},
		{"[HEADER] == x", 8, "[HEADER] needs a name"},
		{"[CONTEXT]. == x", 9, "[CONTEXT] needs a name"},
		{"[DOMAIN_EXPIRATION] > 720h", 0, "not supported"},
		{"[DNS_RCODE] == NOERROR", 0, "not supported"},
		{"[BODY].a == 1 == 2", 14, "more than one == operator"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			_, err := Parse(tt.cond)
			var se *SyntaxError
			require.True(t, errors.As(err, &se), "%v", err)
			require.Contains(t, se.Msg, tt.msg)
			require.Equal(t, tt.pos, se.Pos, se.Error())
			require.True(t, strings.HasPrefix(err.Error(), "column "))
		})
	}
}

func TestLiteralBrackets(t *testing.T) {
	// Text in brackets that is not a placeholder name stays a literal, as in Gatus.
	c, err := Parse("[BODY].data[0].tags == [\"a\",\"b\"]")
	require.NoError(t, err)
	require.True(t, c.Eval(sample()).Success)
}

func TestOperand(t *testing.T) {
	o, err := ParseOperand("[BODY].data[1].id")
	require.NoError(t, err)
	v, err := o.Resolve(sample())
	require.NoError(t, err)
	require.Equal(t, "8", v)
	o, err = ParseOperand(" [HEADER].X-Request-Id ")
	require.NoError(t, err)
	require.False(t, o.IsLiteral())
	v, err = o.Resolve(sample())
	require.NoError(t, err)
	require.Equal(t, "abc-123", v)
	o, err = ParseOperand("[BODY].nope")
	require.NoError(t, err)
	_, err = o.Resolve(sample())
	require.ErrorContains(t, err, `no field "nope"`)

	c, err := Parse("[CONTEXT].a == [CONTEXT].b")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, c.ContextNames())
	require.True(t, c.Uses(Context))
	require.False(t, c.Uses(Status))
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "abc", true}, {"a*c", "ab", false}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false}, {"ab*ba", "aba", false}, {"abc", "abc", true}, {"abc", "abd", false},
		{"*.*.*", "1.2.3", true}, {"1.*", "1x2", false},
	} {
		require.Equal(t, tt.want, globMatch(tt.pat, tt.s), "%q %q", tt.pat, tt.s)
	}
}

// FuzzParse checks that parsing never panics, that errors point inside the
// text, and that whatever parses also evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[STATUS] == 200", "[RESPONSE_TIME] < 300", "[BODY].status == UP", "[CERTIFICATE_EXPIRATION] > 48h",
		"[STATUS] == any(200, 429)", "[BODY].name == pat(j*n)", "len([BODY].items) > 0", "has([BODY].errors) == false",
		"[BODY].data[0].id == 1", "[HEADER].Location == /x", "[CONTEXT].id != 0", "[BODY][0][1] >= 2", "len(",
		"[", "[BODY].a[", "any() == ", " == ", "[BODY].. == 1",
	} {
		f.Add(s, `{"status":"UP","items":[1],"data":[{"id":1}]}`)
	}
	f.Fuzz(func(t *testing.T, cond, body string) {
		c, err := Parse(cond)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if se.Pos < 0 || se.Pos > len(cond) {
				t.Fatalf("position %d outside %q", se.Pos, cond)
			}
			return
		}
		r := sample()
		r.Body = []byte(body)
		c.Eval(r)
		if c.String() != strings.TrimSpace(cond) {
			t.Fatalf("String() = %q", c.String())
		}
	})
}
