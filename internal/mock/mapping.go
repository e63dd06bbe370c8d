package mock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// DefaultPriority is the priority of a stub that does not set one; WireMock
// uses the same value, so mixed files order the same way in both.
const DefaultPriority = 5

// StubMapping is one WireMock stub: a request pattern and the response to
// send when a request matches it. Its JSON form is WireMock's, so mapping
// files and admin API bodies written for WireMock decode unchanged.
type StubMapping struct {
	// ID identifies the stub in the admin API. It is assigned when the stub
	// is added if it is empty.
	ID string `json:"id,omitempty"`
	// UUID is the same id under the other name WireMock accepts and
	// returns.
	UUID string `json:"uuid,omitempty"`
	// Name is shown in logs and in the "not matched" report.
	Name string `json:"name,omitempty"`
	// Priority orders stubs: a lower number wins. Nil means DefaultPriority.
	Priority *int               `json:"priority,omitempty"`
	Request  RequestPattern     `json:"request"`
	Response ResponseDefinition `json:"response"`
	// Persistent is kept for WireMock compatibility; sonde never writes
	// stubs back to files.
	Persistent *bool `json:"persistent,omitempty"`
	// ScenarioName, RequiredScenarioState and NewScenarioState make the stub
	// part of a WireMock scenario: a state machine that starts in "Started".
	ScenarioName          string `json:"scenarioName,omitempty"`
	RequiredScenarioState string `json:"requiredScenarioState,omitempty"`
	NewScenarioState      string `json:"newScenarioState,omitempty"`
	// Metadata is free-form data that WireMock tools attach; it is kept and
	// returned as it was given.
	Metadata json.RawMessage `json:"metadata,omitempty"`

	// ignored names the fields of the JSON that sonde does not implement
	// (such as serveEventListeners); they are logged when the stub is added.
	ignored []string
}

// UnmarshalJSON decodes WireMock's stub JSON. Fields outside the request
// pattern that sonde does not know (webhooks, extensions) are dropped and
// remembered, so that adding the stub can warn about them.
func (m *StubMapping) UnmarshalJSON(data []byte) error {
	type plain StubMapping
	if err := json.Unmarshal(data, (*plain)(m)); err != nil {
		return err
	}
	var fields struct {
		Top      map[string]json.RawMessage
		Response map[string]json.RawMessage `json:"response"`
	}
	_ = json.Unmarshal(data, &fields.Top)
	_ = json.Unmarshal(fields.Top["response"], &fields.Response)
	m.ignored = append(unknownKeys(fields.Top, stubKeys, ""), unknownKeys(fields.Response, responseKeys, "response.")...)
	return nil
}

// WireMock fields that carry no behaviour, so ignoring them needs no warning.
var harmlessKeys = map[string]bool{"insertionIndex": true, "fromConfiguredStub": true}

var (
	stubKeys     = jsonKeys(reflect.TypeFor[StubMapping]())
	responseKeys = jsonKeys(reflect.TypeFor[ResponseDefinition]())
)

// jsonKeys returns the JSON field names of a struct type.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

func unknownKeys(fields map[string]json.RawMessage, known map[string]bool, prefix string) []string {
	var out []string
	for k := range fields {
		if !known[k] && !harmlessKeys[k] {
			out = append(out, prefix+k)
		}
	}
	sort.Strings(out)
	return out
}

// RequestPattern describes the requests a stub answers. Every field that is
// set must match. At most one of the URL fields may be set; none matches any
// URL. The same JSON is the body of /__admin/requests/count and /find.
type RequestPattern struct {
	// Method is an HTTP method, or "ANY" (or empty) for every method.
	Method string `json:"method,omitempty"`
	// URL must equal the path and query string exactly.
	URL string `json:"url,omitempty"`
	// URLPattern is a regular expression for the path and query string.
	URLPattern string `json:"urlPattern,omitempty"`
	// URLPath must equal the path; the query string is ignored.
	URLPath string `json:"urlPath,omitempty"`
	// URLPathPattern is a regular expression for the path.
	URLPathPattern string `json:"urlPathPattern,omitempty"`
	// URLPathTemplate is a path such as "/users/{id}"; PathParameters
	// match the values that the template's variables take.
	URLPathTemplate string                  `json:"urlPathTemplate,omitempty"`
	PathParameters  map[string]ValuePattern `json:"pathParameters,omitempty"`
	QueryParameters map[string]ValuePattern `json:"queryParameters,omitempty"`
	// FormParameters match the fields of an
	// application/x-www-form-urlencoded body.
	FormParameters map[string]ValuePattern `json:"formParameters,omitempty"`
	// Headers match request headers; names are case-insensitive.
	Headers              map[string]ValuePattern `json:"headers,omitempty"`
	Cookies              map[string]ValuePattern `json:"cookies,omitempty"`
	BasicAuthCredentials *BasicAuthCredentials   `json:"basicAuthCredentials,omitempty"`
	// BodyPatterns must all match the request body.
	BodyPatterns []ValuePattern `json:"bodyPatterns,omitempty"`
}

// BasicAuthCredentials matches an HTTP Basic Authorization header.
type BasicAuthCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// UnmarshalJSON rejects unknown fields, because a misspelt matcher such as
// "urlPathPatern" would otherwise make a stub match every request. WireMock
// rejects them too.
func (p *RequestPattern) UnmarshalJSON(data []byte) error {
	type plain RequestPattern
	return decodeStrict(data, (*plain)(p))
}

// ValuePattern matches one string value: a header, a query parameter, a
// cookie, a path parameter or the request body. Exactly one operator must be
// set; CaseInsensitive, IgnoreArrayOrder and IgnoreExtraElements qualify
// EqualTo and EqualToJSON. HasExactly and Includes are only valid for values
// that may repeat (headers, query and form parameters).
type ValuePattern struct {
	EqualTo         *string `json:"equalTo,omitempty"`
	CaseInsensitive bool    `json:"caseInsensitive,omitempty"`
	// BinaryEqualTo is the base64 encoding of the exact bytes expected.
	BinaryEqualTo  *string `json:"binaryEqualTo,omitempty"`
	Contains       *string `json:"contains,omitempty"`
	DoesNotContain *string `json:"doesNotContain,omitempty"`
	// Matches and DoesNotMatch are regular expressions that must match (or
	// not match) the whole value, as Java's Matcher.matches does. The syntax
	// is Go's RE2, which lacks look-around and back-references; such an
	// expression is rejected when the stub is added.
	Matches      *string `json:"matches,omitempty"`
	DoesNotMatch *string `json:"doesNotMatch,omitempty"`
	// Absent, when set, requires the value to be missing.
	Absent *bool `json:"absent,omitempty"`
	// Anything matches any value, present or not.
	Anything *string `json:"anything,omitempty"`
	// EqualToJSON is a JSON value, or a JSON string that holds JSON text.
	EqualToJSON         json.RawMessage `json:"equalToJson,omitempty"`
	IgnoreArrayOrder    *bool           `json:"ignoreArrayOrder,omitempty"`
	IgnoreExtraElements *bool           `json:"ignoreExtraElements,omitempty"`
	MatchesJSONPath     *JSONPathMatch  `json:"matchesJsonPath,omitempty"`
	And                 []ValuePattern  `json:"and,omitempty"`
	Or                  []ValuePattern  `json:"or,omitempty"`
	Not                 *ValuePattern   `json:"not,omitempty"`
	HasExactly          []ValuePattern  `json:"hasExactly,omitempty"`
	Includes            []ValuePattern  `json:"includes,omitempty"`
}

// UnmarshalJSON rejects operators that sonde does not implement (such as
// equalToXml) instead of ignoring them, so a stub never matches more than its
// author meant.
func (p *ValuePattern) UnmarshalJSON(data []byte) error {
	type plain ValuePattern
	if err := decodeStrict(data, (*plain)(p)); err != nil {
		return fmt.Errorf("unsupported or invalid match operation %s: %w", bytes.TrimSpace(data), err)
	}
	return nil
}

// JSONPathMatch is the operand of matchesJsonPath: either a bare expression
// (the path must select something) or an expression with a ValuePattern that
// the selected value must match.
type JSONPathMatch struct {
	Expression string
	Pattern    *ValuePattern
}

// MarshalJSON writes the WireMock form: a string, or an object holding
// "expression" beside the sub-pattern's operator.
func (m JSONPathMatch) MarshalJSON() ([]byte, error) {
	if m.Pattern == nil {
		return json.Marshal(m.Expression)
	}
	sub, err := json.Marshal(m.Pattern)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(sub, &fields); err != nil {
		return nil, err
	}
	fields["expression"], _ = json.Marshal(m.Expression)
	return json.Marshal(fields)
}

// UnmarshalJSON reads both WireMock forms of matchesJsonPath.
func (m *JSONPathMatch) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &m.Expression); err == nil {
		m.Pattern = nil
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return errors.New("matchesJsonPath must be a string or an object")
	}
	expr, ok := fields["expression"]
	if !ok {
		return errors.New("expression is required in the advanced matchesJsonPath form")
	}
	if err := json.Unmarshal(expr, &m.Expression); err != nil {
		return fmt.Errorf("matchesJsonPath expression: %w", err)
	}
	delete(fields, "expression")
	rest, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	m.Pattern = new(ValuePattern)
	return json.Unmarshal(rest, m.Pattern)
}

// ResponseDefinition is what a stub sends back.
type ResponseDefinition struct {
	// Status defaults to 200.
	Status int `json:"status"`
	// StatusMessage replaces the reason phrase of the status line. Go's
	// HTTP server cannot do that, so such responses are written on the raw
	// HTTP/1.1 connection, which is then closed.
	StatusMessage string  `json:"statusMessage,omitempty"`
	Headers       Headers `json:"headers,omitempty"`
	// At most one of Body, Base64Body, JSONBody and BodyFileName is used,
	// in that order of preference (WireMock's).
	Body       string          `json:"body,omitempty"`
	Base64Body string          `json:"base64Body,omitempty"`
	JSONBody   json.RawMessage `json:"jsonBody,omitempty"`
	// BodyFileName is relative to the __files directory.
	BodyFileName string `json:"bodyFileName,omitempty"`
	// FixedDelayMilliseconds, when set, replaces the global fixed delay;
	// DelayDistribution, when set, replaces the global random delay. The
	// fixed and the random delay add up.
	FixedDelayMilliseconds *int                 `json:"fixedDelayMilliseconds,omitempty"`
	DelayDistribution      *DelayDistribution   `json:"delayDistribution,omitempty"`
	ChunkedDribbleDelay    *ChunkedDribbleDelay `json:"chunkedDribbleDelay,omitempty"`
	// Fault breaks the connection instead of answering; see the Fault
	// constants.
	Fault Fault `json:"fault,omitempty"`
	// ProxyBaseURL forwards the request to another server instead.
	ProxyBaseURL                  string  `json:"proxyBaseUrl,omitempty"`
	ProxyURLPrefixToRemove        string  `json:"proxyUrlPrefixToRemove,omitempty"`
	AdditionalProxyRequestHeaders Headers `json:"additionalProxyRequestHeaders,omitempty"`
	// Transformers and TransformerParameters are kept so that mappings
	// round-trip, but response templating is not implemented: a templated
	// body is sent as written.
	Transformers          []string        `json:"transformers,omitempty"`
	TransformerParameters json.RawMessage `json:"transformerParameters,omitempty"`
}

// Fault is a way of breaking an HTTP exchange, as WireMock names them.
type Fault string

// The faults WireMock defines.
const (
	// FaultEmptyResponse closes the connection without sending anything.
	FaultEmptyResponse Fault = "EMPTY_RESPONSE"
	// FaultMalformedResponseChunk sends a status line and headers for a
	// chunked body, then garbage, then closes the connection.
	FaultMalformedResponseChunk Fault = "MALFORMED_RESPONSE_CHUNK"
	// FaultRandomDataThenClose sends bytes that are not HTTP and closes.
	FaultRandomDataThenClose Fault = "RANDOM_DATA_THEN_CLOSE"
	// FaultConnectionResetByPeer closes the TCP connection with a reset.
	FaultConnectionResetByPeer Fault = "CONNECTION_RESET_BY_PEER"
)

// DelayDistribution is a random delay. Type "lognormal" uses Median and
// Sigma (and caps samples at MaxValue when it is set), "uniform" uses Lower
// and Upper (inclusive), "fixed" uses Milliseconds.
type DelayDistribution struct {
	Type         string   `json:"type"`
	Median       float64  `json:"median,omitempty"`
	Sigma        float64  `json:"sigma,omitempty"`
	MaxValue     *float64 `json:"maxValue,omitempty"`
	Lower        int      `json:"lower,omitempty"`
	Upper        int      `json:"upper,omitempty"`
	Milliseconds int      `json:"milliseconds,omitempty"`
}

// ChunkedDribbleDelay sends the body in NumberOfChunks pieces spread evenly
// over TotalDuration milliseconds, to imitate a slow network.
type ChunkedDribbleDelay struct {
	NumberOfChunks int `json:"numberOfChunks"`
	TotalDuration  int `json:"totalDuration"`
}

// Headers is a multi-valued header map whose JSON form is WireMock's: a
// string for a single value, an array of strings for several.
type Headers map[string][]string

// MarshalJSON writes single values as strings, in sorted key order.
func (h Headers) MarshalJSON() ([]byte, error) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		var vj []byte
		if vs := h[k]; len(vs) == 1 {
			vj, _ = json.Marshal(vs[0])
		} else {
			vj, _ = json.Marshal(vs)
		}
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON accepts a string, a number, a boolean or an array of them for
// each header, as WireMock does.
func (h *Headers) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(Headers, len(raw))
	for k, v := range raw {
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			list = []json.RawMessage{v}
		}
		for _, item := range list {
			s, err := scalarString(item)
			if err != nil {
				return fmt.Errorf("header %q: %w", k, err)
			}
			out[k] = append(out[k], s)
		}
	}
	*h = out
	return nil
}

// scalarString returns a JSON string's value, or a number's or boolean's
// text.
func scalarString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch v.(type) {
	case float64, bool:
		return string(bytes.TrimSpace(raw)), nil
	}
	return "", fmt.Errorf("want a string, got %s", raw)
}

// decodeStrict decodes JSON into v and fails on fields v does not have.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ParseMappings decodes WireMock mapping JSON: a single stub mapping object,
// or an object with a "mappings" array. Stubs are returned in file order, so
// when they are added in that order the later ones win ties, as in WireMock.
func ParseMappings(data []byte) ([]StubMapping, error) {
	var probe struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("parse mappings: %w", err)
	}
	if probe.Mappings != nil {
		var list []StubMapping
		if err := json.Unmarshal(probe.Mappings, &list); err != nil {
			return nil, fmt.Errorf("parse mappings: %w", err)
		}
		return list, nil
	}
	var m StubMapping
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("parse mapping: %w", err)
	}
	return []StubMapping{m}, nil
}

// clone returns a copy of m that shares no maps or slices with it, so that
// a caller may go on changing what it passed in. The JSON round trip also
// proves that the stub has a WireMock JSON form.
func (m StubMapping) clone() (StubMapping, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return StubMapping{}, err
	}
	var c StubMapping
	if err := json.Unmarshal(data, &c); err != nil {
		return StubMapping{}, err
	}
	return c, nil
}
