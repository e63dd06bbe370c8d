package mock

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// mustPattern decodes a WireMock match operation from JSON and compiles it.
func mustPattern(t *testing.T, js string) valueMatcher {
	t.Helper()
	var p ValuePattern
	require.NoError(t, json.Unmarshal([]byte(js), &p), js)
	m, err := compilePattern(p)
	require.NoError(t, err, js)
	return m
}

func TestStringMatchers(t *testing.T) {
	const missing = "\x00missing"
	tests := []struct {
		pattern string
		value   string // missing means the value is absent
		want    bool
	}{
		{`{"equalTo": "abc"}`, "abc", true},
		{`{"equalTo": "abc"}`, "ABC", false},
		{`{"equalTo": "abc"}`, missing, false},
		{`{"equalTo": "abc", "caseInsensitive": true}`, "aBc", true},
		{`{"equalTo": "abc", "caseInsensitive": true}`, "abd", false},
		{`{"equalTo": ""}`, "", true},
		{`{"contains": "json"}`, "application/json; charset=utf-8", true},
		{`{"contains": "json"}`, "text/plain", false},
		{`{"contains": "json"}`, missing, false},
		{`{"doesNotContain": "json"}`, "text/plain", true},
		{`{"doesNotContain": "json"}`, "application/json", false},
		{`{"doesNotContain": "json"}`, missing, true},
		{`{"matches": "[a-z]+-[0-9]+"}`, "abc-123", true},
		{`{"matches": "[a-z]+-[0-9]+"}`, "abc-123x", false}, // whole value, like Java's matches()
		{`{"matches": "[a-z]+"}`, "x abc", false},
		{`{"matches": "a|b"}`, "b", true}, // alternation stays inside the anchors
		{`{"matches": "a|b"}`, "ab", false},
		{`{"matches": ".*"}`, missing, false},
		{`{"doesNotMatch": "[0-9]+"}`, "abc", true},
		{`{"doesNotMatch": "[0-9]+"}`, "123", false},
		{`{"doesNotMatch": "[0-9]+"}`, missing, true},
		{`{"absent": true}`, missing, true},
		{`{"absent": true}`, "", false},
		{`{"anything": "anything"}`, missing, true},
		{`{"anything": "anything"}`, "x", true},
		{`{"binaryEqualTo": "AQID"}`, "\x01\x02\x03", true},
		{`{"binaryEqualTo": "AQID"}`, "\x01\x02", false},
		{`{"and": [{"contains": "a"}, {"contains": "b"}]}`, "ab", true},
		{`{"and": [{"contains": "a"}, {"contains": "b"}]}`, "a", false},
		{`{"or": [{"equalTo": "a"}, {"equalTo": "b"}]}`, "b", true},
		{`{"or": [{"equalTo": "a"}, {"equalTo": "b"}]}`, "c", false},
		{`{"not": {"equalTo": "a"}}`, "b", true},
		{`{"not": {"equalTo": "a"}}`, "a", false},
		{`{"equalToJson": "{\"a\": 1}"}`, `{"a":1}`, true},
		{`{"equalToJson": {"a": 1}}`, `{ "a" : 1 }`, true},
		{`{"matchesJsonPath": "$.a"}`, `{"a": 1}`, true},
		{`{"matchesJsonPath": "$.a"}`, `{"b": 1}`, false},
	}
	for _, tt := range tests {
		m := mustPattern(t, tt.pattern)
		present := tt.value != missing
		v := tt.value
		if !present {
			v = ""
		}
		require.Equal(t, tt.want, m.match(v, present, nil), "%s against %q", tt.pattern, tt.value)
	}
}

func TestBadPatterns(t *testing.T) {
	tests := []struct{ pattern, errPart string }{
		{`{"equalToXml": "<a/>"}`, "unsupported or invalid match operation"},
		{`{"equalTo": "a", "contains": "b"}`, "several operators"},
		{`{}`, "no operator"},
		{`{"matches": "(?=x)"}`, "RE2"},
		{`{"and": []}`, "at least one operand"},
		{`{"equalToJson": "{not json"}`, "not valid JSON"},
		{`{"matchesJsonPath": "$.a[?(@.b >)]"}`, "matchesJsonPath"},
		{`{"hasExactly": [{"equalTo": "a"}]}`, "only valid for headers"},
	}
	for _, tt := range tests {
		var p ValuePattern
		err := json.Unmarshal([]byte(tt.pattern), &p)
		if err == nil {
			_, err = compilePattern(p)
		}
		require.Error(t, err, tt.pattern)
		require.Contains(t, err.Error(), tt.errPart, tt.pattern)
	}
}

func TestMultiValueMatchers(t *testing.T) {
	tests := []struct {
		pattern string
		values  []string
		want    bool
	}{
		{`{"equalTo": "b"}`, []string{"a", "b"}, true}, // any value may match
		{`{"equalTo": "c"}`, []string{"a", "b"}, false},
		{`{"absent": true}`, nil, true},
		{`{"absent": true}`, []string{"a"}, false},
		{`{"doesNotMatch": "x"}`, nil, true},
		{`{"hasExactly": [{"equalTo": "a"}, {"equalTo": "b"}]}`, []string{"b", "a"}, true},
		{`{"hasExactly": [{"equalTo": "a"}, {"equalTo": "b"}]}`, []string{"a", "b", "c"}, false},
		{`{"hasExactly": [{"equalTo": "a"}, {"equalTo": "b"}]}`, []string{"a", "c"}, false},
		{`{"includes": [{"equalTo": "a"}, {"contains": "z"}]}`, []string{"a", "xyz", "q"}, true},
		{`{"includes": [{"equalTo": "a"}, {"contains": "z"}]}`, []string{"a", "q"}, false},
	}
	for _, tt := range tests {
		var p ValuePattern
		require.NoError(t, json.Unmarshal([]byte(tt.pattern), &p))
		m, err := compileMulti(p)
		require.NoError(t, err)
		require.Equal(t, tt.want, m.matchValues(tt.values), "%s against %q", tt.pattern, tt.values)
	}
}

func TestEqualToJSON(t *testing.T) {
	tests := []struct {
		name             string
		expected, actual string
		ignoreOrder      bool
		ignoreExtra      bool
		want             bool
	}{
		{"key order ignored", `{"a":1,"b":"x"}`, `{"b":"x","a":1}`, false, false, true},
		{"different value", `{"a":1}`, `{"a":2}`, false, false, false},
		{"extra field", `{"a":1}`, `{"a":1,"b":2}`, false, false, false},
		{"extra field ignored", `{"a":1}`, `{"a":1,"b":2}`, false, true, true},
		{"missing field", `{"a":1,"b":2}`, `{"a":1}`, false, true, false},
		{"array order", `[1,2,3]`, `[3,2,1]`, false, false, false},
		{"array order ignored", `[1,2,3]`, `[3,2,1]`, true, false, true},
		{"array order ignored, duplicates", `[1,1,2]`, `[1,2,2]`, true, false, false},
		{"extra items", `[1,2]`, `[1,2,3]`, false, false, false},
		{"extra items ignored", `[1,2]`, `[1,2,3]`, false, true, true},
		{"extra items ignored is a prefix", `[2,3]`, `[1,2,3]`, false, true, false},
		{"extra items, any order", `[{"id":2}]`, `[{"id":1,"x":0},{"id":2,"y":0}]`, true, true, true},
		{"nested", `{"a":{"b":[{"c":true}]}}`, `{"a":{"b":[{"c":true}]}}`, false, false, true},
		{"null", `{"a":null}`, `{"a":null}`, false, false, true},
		{"null is not missing", `{"a":null}`, `{}`, false, false, false},
		{"int vs decimal", `{"a":1}`, `{"a":1.0}`, false, false, false},
		{"decimal by value", `{"a":1.50}`, `{"a":1.5}`, false, false, true},
		{"big ints", `{"a":12345678901234567890}`, `{"a":12345678901234567890}`, false, false, true},
		{"type mismatch", `{"a":"1"}`, `{"a":1}`, false, false, false},
		{"not json", `{"a":1}`, `a=1`, false, false, false},
		{"trailing garbage", `{"a":1}`, `{"a":1} x`, false, false, false},
		{"any-string", `{"id":"${json-unit.any-string}"}`, `{"id":"u-1"}`, false, false, true},
		{"any-string on number", `{"id":"${json-unit.any-string}"}`, `{"id":1}`, false, false, false},
		{"any-number", `{"n":"${json-unit.any-number}"}`, `{"n":2.5}`, false, false, true},
		{"any-boolean", `{"b":"${json-unit.any-boolean}"}`, `{"b":false}`, false, false, true},
		{"ignore", `{"t":"${json-unit.ignore}"}`, `{"t":{"deep":[1]}}`, false, false, true},
		{"ignore needs the key", `{"t":"${json-unit.ignore}"}`, `{}`, false, false, false},
		{"ignore-element allows missing", `{"t":"${json-unit.ignore-element}"}`, `{}`, false, false, true},
		{"regex", `{"d":"${json-unit.regex}[0-9]{4}-[0-9]{2}"}`, `{"d":"2024-05"}`, false, false, true},
		{"regex fails", `{"d":"${json-unit.regex}[0-9]{4}"}`, `{"d":"2024-05"}`, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(tt.expected)
			m, err := compileEqualToJSON(raw, tt.ignoreOrder, tt.ignoreExtra)
			require.NoError(t, err)
			require.Equal(t, tt.want, m.match(tt.actual, true, nil))
			// The body path parses through the cache and must agree.
			require.Equal(t, tt.want, m.match(tt.actual, true, &bodyCache{raw: []byte(tt.actual)}))
		})
	}
}

func TestMatchesJSONPath(t *testing.T) {
	const doc = `{
		"name": "order-1",
		"total": 42.5,
		"paid": true,
		"empty": {},
		"none": null,
		"items": [
			{"sku": "A1", "qty": 2, "price": 5},
			{"sku": "B2", "qty": 1, "price": 30, "tags": ["gift"]}
		],
		"customer": {"address": {"city": "Lyon"}}
	}`
	tests := []struct {
		pattern string
		want    bool
	}{
		{`{"matchesJsonPath": "$.name"}`, true},
		{`{"matchesJsonPath": "$.missing"}`, false},
		{`{"matchesJsonPath": "$.none"}`, false},
		{`{"matchesJsonPath": "$.empty"}`, false},
		{`{"matchesJsonPath": "$.customer.address.city"}`, true},
		{`{"matchesJsonPath": "$['customer']['address']"}`, true},
		{`{"matchesJsonPath": "$.items[1].tags[0]"}`, true},
		{`{"matchesJsonPath": "$.items[2]"}`, false},
		{`{"matchesJsonPath": "$.items[-1].sku"}`, true},
		{`{"matchesJsonPath": "$.items[*].sku"}`, true},
		{`{"matchesJsonPath": "$..city"}`, true},
		{`{"matchesJsonPath": "$..country"}`, false},
		{`{"matchesJsonPath": "$.items[?(@.qty > 1)]"}`, true},
		{`{"matchesJsonPath": "$.items[?(@.qty > 5)]"}`, false},
		{`{"matchesJsonPath": "$.items[?(@.sku == 'B2' && @.price >= 30)]"}`, true},
		{`{"matchesJsonPath": "$.items[?(@.sku == 'B2' && @.price < 30)]"}`, false},
		{`{"matchesJsonPath": "$.items[?(@.sku == 'Z' || @.qty == 2)]"}`, true},
		{`{"matchesJsonPath": "$.items[?(@.tags)]"}`, true},
		{`{"matchesJsonPath": "$.items[?(@.sku =~ /a.*/i)]"}`, true},
		{`{"matchesJsonPath": "$.items[?(!(@.qty > 0))]"}`, false},
		{`{"matchesJsonPath": "$.items[0:1]"}`, true},
		{`{"matchesJsonPath": {"expression": "$.name", "equalTo": "order-1"}}`, true},
		{`{"matchesJsonPath": {"expression": "$.name", "equalTo": "order-2"}}`, false},
		{`{"matchesJsonPath": {"expression": "$.total", "equalTo": "42.5"}}`, true},
		{`{"matchesJsonPath": {"expression": "$.paid", "equalTo": "true"}}`, true},
		{`{"matchesJsonPath": {"expression": "$.items.length()", "equalTo": "2"}}`, true},
		{`{"matchesJsonPath": {"expression": "$.items[*].sku", "contains": "B"}}`, true},
		{`{"matchesJsonPath": {"expression": "$.items[*].sku", "equalTo": "C3"}}`, false},
		{`{"matchesJsonPath": {"expression": "$.missing", "absent": true}}`, true},
		{`{"matchesJsonPath": {"expression": "$.name", "absent": true}}`, false},
		{`{"matchesJsonPath": {"expression": "$.customer", "equalToJson": {"address": {"city": "Lyon"}}}}`, true},
		{`{"matchesJsonPath": {"expression": "$.items[*].qty", "equalToJson": "[1, 2]", "ignoreArrayOrder": true}}`, true},
	}
	body := &bodyCache{raw: []byte(doc)}
	for _, tt := range tests {
		m := mustPattern(t, tt.pattern)
		require.Equal(t, tt.want, m.match(body.text(), true, body), tt.pattern)
	}
	m := mustPattern(t, `{"matchesJsonPath": "$.a"}`)
	require.False(t, m.match("not json", true, nil))
}

func TestPatternJSONRoundTrip(t *testing.T) {
	for _, js := range []string{
		`{"equalTo":"a","caseInsensitive":true}`,
		`{"equalToJson":{"a":1},"ignoreArrayOrder":true,"ignoreExtraElements":true}`,
		`{"matchesJsonPath":"$.a"}`,
		`{"matchesJsonPath":{"contains":"x","expression":"$.a"}}`,
		`{"and":[{"contains":"a"},{"not":{"matches":"b.*"}}]}`,
		`{"hasExactly":[{"equalTo":"a"}]}`,
	} {
		var p ValuePattern
		require.NoError(t, json.Unmarshal([]byte(js), &p))
		out, err := json.Marshal(p)
		require.NoError(t, err)
		require.JSONEq(t, js, string(out))
	}
}

func TestPatternConstructors(t *testing.T) {
	require.True(t, mustCompile(t, EqualTo("a")).match("a", true, nil))
	require.True(t, mustCompile(t, Contains("b")).match("abc", true, nil))
	require.False(t, mustCompile(t, Matches("b")).match("abc", true, nil))
	require.True(t, mustCompile(t, Absent()).match("", false, nil))
	require.True(t, mustCompile(t, EqualToJSON(`{"a":1}`, true)).match(`{"a":1,"b":2}`, true, nil))
	require.False(t, mustCompile(t, EqualToJSON(`{"a":1}`, false)).match(`{"a":1,"b":2}`, true, nil))
}

func mustCompile(t *testing.T, p ValuePattern) valueMatcher {
	t.Helper()
	m, err := compilePattern(p)
	require.NoError(t, err)
	return m
}
