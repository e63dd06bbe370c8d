package filter

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParsePrintsBack(t *testing.T) {
	tests := []struct{ in, want string }{
		{`responsetime > 3`, `responsetime > 3`},
		{`fault`, `fault`},
		{`!fault`, `!fault`},
		{`NOT fault`, `!fault`},
		{`fault = false`, `fault = false`},
		{`ERROR != TRUE`, `error != true`},
		{`duration >= 5 AND duration <= 8`, `(duration >= 5 AND duration <= 8)`},
		{`duration >= 5 && duration <= 8 || ok`, `((duration >= 5 AND duration <= 8) OR ok)`},
		{`a.b`, ``},
		{`service("sessions-api") { fault }`, `service("sessions-api") { fault }`},
		{`service() { fault }`, `service() { fault }`},
		{`service("api")`, `service("api")`},
		{`edge("api", "dynamodb") { responsetime > 1 }`, `edge("api", "dynamodb") { responsetime > 1 }`},
		{`annotation.PaymentStatus = "FAILED"`, `annotation.PaymentStatus = "FAILED"`},
		{`annotation.count >= 3`, `annotation.count >= 3`},
		{`annotation.flag = true`, `annotation.flag = true`},
		{`annotation.gameid`, `annotation.gameid`},
		{`!annotation.gameid`, `!annotation.gameid`},
		{`http.status = 500`, `http.status = 500`},
		{`http.url CONTAINS "/sessions"`, `http.url CONTAINS "/sessions"`},
		{`http.url contains "/a\"b\\c"`, `http.url CONTAINS "/a\"b\\c"`},
		{`http.method BEGINSWITH "PO" and user endswith "x"`, `(http.method BEGINSWITH "PO" AND user ENDSWITH "x")`},
		{`http.url CONTAINS "/api/game/" AND !service("api")`, `(http.url CONTAINS "/api/game/" AND !service("api"))`},
		{`id(name: "svc", type: "AWS::EC2::Instance") { fault }`, `id(name: "svc", type: "AWS::EC2::Instance") { fault }`},
		{`id(type: "t", name: "svc")`, `id(name: "svc", type: "t")`},
		{`group.name = "slow"`, `group.name = "slow"`},
		{"responsetime > 0.5\n AND\n (fault OR error)", `(responsetime > 0.5 AND (fault OR error))`},
		{`responsetime > -1e3`, `responsetime > -1e3`},
		{`user CONTAINS ""`, `user CONTAINS ""`},
	}
	for _, tc := range tests {
		if tc.want == "" {
			continue
		}
		e, err := Parse(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, e.String(), tc.in)
		again, err := Parse(e.String())
		require.NoError(t, err, e.String())
		require.Equal(t, e.String(), again.String())
	}
}

func TestParseErrorsPointAtThePosition(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, `1:1: empty filter expression`},
		{`responsetime >`, `1:15: responsetime compares with a number, not end of expression`},
		{`responsetime CONTAINS 3`, `1:14: responsetime needs a comparison (=, !=, <, <=, >, >=), found "CONTAINS"`},
		{`http.url = 3`, `1:12: http.url compares with a quoted string, not number 3`},
		{`service("api") { fault `, `1:24: expected "}", found end of expression`},
		{`fault AND`, `1:10: expected a keyword, found end of expression`},
		{`fault fault`, `1:7: unexpected "fault"`},
		{`colour = "red"`, `1:1: unknown keyword "colour"`},
		{"fault AND\n  speed > 3", `2:3: unknown keyword "speed"`},
		{`http.url = "abc`, `1:12: unterminated string`},
		{`fault = maybe`, `1:9: fault compares with true or false, not "maybe"`},
		{`rootcause.fault.service { name = "x" }`, `1:1: rootcause.fault.service is not supported by sonde`},
		{`account.id("1")`, `1:1: account.id is not supported by sonde`},
		{`annotation.x < "a"`, `1:1: < compares numbers, not "a"`},
		{`annotation.x CONTAINS 3`, `1:1: CONTAINS compares strings, not 3`},
		{`annotation. = 1`, `1:1: annotation needs a key (annotation.key)`},
		{`edge("a") { fault }`, `1:9: expected ",", found ")"`},
		{`service("") { fault }`, `1:1: service name must not be empty (write service() for any service)`},
		{`id(type: "x")`, `1:1: id() needs a name: id(name: "service")`},
		{`id(colour: "x")`, `1:4: id() takes name: and type:, not colour:`},
		{`fault # x`, `1:7: unexpected character '#'`},
		{`responsetime > 1.2.3`, `1:16: invalid number "1.2.3"`},
		{`service("a") { }`, `1:16: empty filter in braces`},
		{`http.url = "\q"`, `1:13: unknown escape \q`},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		require.Error(t, err, tc.in)
		require.Equal(t, tc.want, err.Error(), tc.in)
	}
}

func TestParseLimitsNesting(t *testing.T) {
	deep := ""
	for i := 0; i < 1000; i++ {
		deep += "("
	}
	_, err := Parse(deep + "fault")
	require.ErrorContains(t, err, "nested deeper than 100 levels")
	nots := ""
	for i := 0; i < 1000; i++ {
		nots += "!"
	}
	_, err = Parse(nots + "fault")
	require.ErrorContains(t, err, "nested deeper than 100 levels")
}

func TestWalkVisitsEveryNode(t *testing.T) {
	e, err := Parse(`service("a") { fault OR annotation.x = 1 } AND !edge("a", "b")`)
	require.NoError(t, err)
	var kinds []string
	Walk(e, func(x Expr) {
		switch x.(type) {
		case *Binary:
			kinds = append(kinds, "binary")
		case *Not:
			kinds = append(kinds, "not")
		case *Service:
			kinds = append(kinds, "service")
		case *Edge:
			kinds = append(kinds, "edge")
		case *Keyword:
			kinds = append(kinds, "keyword")
		case *Annotation:
			kinds = append(kinds, "annotation")
		}
	})
	require.Equal(t, []string{"binary", "service", "binary", "keyword", "annotation", "not", "edge"}, kinds)
}

// FuzzParse checks that Parse never panics and that what it accepts prints
// back to text that parses to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`responsetime > 3`, `service("sessions-api") { fault }`, `edge("api", "dynamodb") { responsetime > 1 }`,
		`annotation.PaymentStatus = "FAILED"`, `http.status = 500`, `http.url CONTAINS "/sessions"`,
		`!(fault OR error) AND ok = false`, `id(name: "x", type: "y") { root }`, `group.name != "g"`,
		"duration >= 5 &&\n duration <= 8", `user CONTAINS "\"\\"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var pe *Error
			if !asError(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		text := e.String()
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("%q printed as %q, which does not parse: %v", s, text, err)
		}
		if again.String() != text {
			t.Fatalf("%q printed as %q, then as %q", s, text, again.String())
		}
	})
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}
