package mock

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// valueMatcher is a compiled ValuePattern. present is false when the value
// is missing (no such header, parameter or cookie); body is non-nil only
// when the value is the request body, so that JSON matchers parse it once
// per request however many stubs look at it.
type valueMatcher interface {
	match(v string, present bool, body *bodyCache) bool
	// String describes the pattern for the "Request was not matched"
	// report, e.g. "[contains] json".
	String() string
}

// compilePattern checks p and prepares it for matching. hasExactly and
// includes are refused here: compileMulti handles them where values repeat.
func compilePattern(p ValuePattern) (valueMatcher, error) {
	ops := p.operators()
	switch len(ops) {
	case 0:
		return nil, errors.New("match operation has no operator (want one of equalTo, contains, matches, ...)")
	case 1:
	default:
		return nil, fmt.Errorf("match operation has several operators %v; use \"and\" or \"or\" to combine them", ops)
	}
	switch {
	case p.EqualTo != nil:
		return equalTo{want: *p.EqualTo, fold: p.CaseInsensitive}, nil
	case p.BinaryEqualTo != nil:
		b, err := base64.StdEncoding.DecodeString(*p.BinaryEqualTo)
		if err != nil {
			return nil, fmt.Errorf("binaryEqualTo: %w", err)
		}
		return binaryEqualTo{want: string(b), text: *p.BinaryEqualTo}, nil
	case p.Contains != nil:
		return contains{sub: *p.Contains}, nil
	case p.DoesNotContain != nil:
		return notMatcher{contains{sub: *p.DoesNotContain}, "doesNotContain"}, nil
	case p.Matches != nil:
		return compileRegex(*p.Matches, "matches")
	case p.DoesNotMatch != nil:
		m, err := compileRegex(*p.DoesNotMatch, "doesNotMatch")
		if err != nil {
			return nil, err
		}
		return notMatcher{m, "doesNotMatch"}, nil
	case p.Absent != nil:
		return absent{}, nil
	case p.Anything != nil:
		return anything{}, nil
	case p.EqualToJSON != nil:
		return compileEqualToJSON(p.EqualToJSON, p.IgnoreArrayOrder != nil && *p.IgnoreArrayOrder,
			p.IgnoreExtraElements != nil && *p.IgnoreExtraElements)
	case p.MatchesJSONPath != nil:
		return compileJSONPathMatch(*p.MatchesJSONPath)
	case p.And != nil, p.Or != nil:
		list, isAnd := p.Or, false
		if p.And != nil {
			list, isAnd = p.And, true
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("%s needs at least one operand", ops[0])
		}
		subs := make([]valueMatcher, len(list))
		for i, sp := range list {
			m, err := compilePattern(sp)
			if err != nil {
				return nil, err
			}
			subs[i] = m
		}
		return logical{subs: subs, and: isAnd}, nil
	case p.Not != nil:
		m, err := compilePattern(*p.Not)
		if err != nil {
			return nil, err
		}
		return notMatcher{m, "not"}, nil
	}
	return nil, fmt.Errorf("%s is only valid for headers, query and form parameters", ops[0])
}

// operators lists the operator fields that are set.
func (p ValuePattern) operators() []string {
	var ops []string
	add := func(set bool, name string) {
		if set {
			ops = append(ops, name)
		}
	}
	add(p.EqualTo != nil, "equalTo")
	add(p.BinaryEqualTo != nil, "binaryEqualTo")
	add(p.Contains != nil, "contains")
	add(p.DoesNotContain != nil, "doesNotContain")
	add(p.Matches != nil, "matches")
	add(p.DoesNotMatch != nil, "doesNotMatch")
	add(p.Absent != nil, "absent")
	add(p.Anything != nil, "anything")
	add(p.EqualToJSON != nil, "equalToJson")
	add(p.MatchesJSONPath != nil, "matchesJsonPath")
	add(p.And != nil, "and")
	add(p.Or != nil, "or")
	add(p.Not != nil, "not")
	add(p.HasExactly != nil, "hasExactly")
	add(p.Includes != nil, "includes")
	return ops
}

type equalTo struct {
	want string
	fold bool
}

func (m equalTo) match(v string, present bool, _ *bodyCache) bool {
	if !present {
		return false
	}
	if m.fold {
		return strings.EqualFold(v, m.want)
	}
	return v == m.want
}

func (m equalTo) String() string {
	if m.fold {
		return "[equalToIgnoreCase] " + m.want
	}
	return m.want
}

type binaryEqualTo struct{ want, text string }

func (m binaryEqualTo) match(v string, present bool, _ *bodyCache) bool {
	return present && v == m.want
}

func (m binaryEqualTo) String() string { return "[binaryEqualTo] " + m.text }

type contains struct{ sub string }

func (m contains) match(v string, present bool, _ *bodyCache) bool {
	return present && strings.Contains(v, m.sub)
}

func (m contains) String() string { return "[contains] " + m.sub }

// regexMatcher must match the whole value, like Java's Matcher.matches.
type regexMatcher struct {
	re   *regexp.Regexp
	expr string
}

func compileRegex(expr, op string) (regexMatcher, error) {
	// Compile the expression alone first, so that an error quotes what the
	// user wrote rather than the anchored form.
	if _, err := regexp.Compile(expr); err != nil {
		return regexMatcher{}, fmt.Errorf("%s %q: %w (sonde uses Go's RE2 syntax: no look-around or back-references)", op, expr, err)
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return regexMatcher{}, fmt.Errorf("%s %q: %w", op, expr, err)
	}
	return regexMatcher{re: re, expr: expr}, nil
}

func (m regexMatcher) match(v string, present bool, _ *bodyCache) bool {
	return present && m.re.MatchString(v)
}

func (m regexMatcher) String() string { return "[matches] " + m.expr }

// notMatcher inverts its operand; a missing value therefore matches
// doesNotContain and doesNotMatch, as in WireMock 3.
type notMatcher struct {
	m  valueMatcher
	op string
}

func (m notMatcher) match(v string, present bool, body *bodyCache) bool {
	return !m.m.match(v, present, body)
}

func (m notMatcher) String() string {
	s := m.m.String()
	if i := strings.Index(s, "] "); strings.HasPrefix(s, "[") && i > 0 {
		s = s[i+2:]
	}
	return "[" + m.op + "] " + s
}

type absent struct{}

func (absent) match(_ string, present bool, _ *bodyCache) bool { return !present }
func (absent) String() string                                  { return "[absent]" }

type anything struct{}

func (anything) match(string, bool, *bodyCache) bool { return true }
func (anything) String() string                      { return "[anything]" }

type logical struct {
	subs []valueMatcher
	and  bool
}

func (m logical) match(v string, present bool, body *bodyCache) bool {
	for _, s := range m.subs {
		if s.match(v, present, body) != m.and {
			return !m.and
		}
	}
	return m.and
}

func (m logical) String() string {
	parts := make([]string, len(m.subs))
	for i, s := range m.subs {
		parts[i] = s.String()
	}
	if m.and {
		return strings.Join(parts, " AND ")
	}
	return strings.Join(parts, " OR ")
}

// multiMatcher matches a value that may be given several times (a header,
// a query or form parameter). A plain pattern matches when any value does
// (or, for a missing value, when the pattern accepts a missing value);
// hasExactly needs every pattern to match a value and every value to be
// matched, includes needs every pattern to match some value.
type multiMatcher struct {
	single   valueMatcher
	list     []valueMatcher
	exactly  bool
	describe string
}

func compileMulti(p ValuePattern) (*multiMatcher, error) {
	if p.HasExactly == nil && p.Includes == nil {
		m, err := compilePattern(p)
		if err != nil {
			return nil, err
		}
		return &multiMatcher{single: m, describe: m.String()}, nil
	}
	if ops := p.operators(); len(ops) != 1 {
		return nil, fmt.Errorf("match operation has several operators %v", ops)
	}
	src, name := p.Includes, "includes"
	if p.HasExactly != nil {
		src, name = p.HasExactly, "hasExactly"
	}
	mm := &multiMatcher{exactly: p.HasExactly != nil}
	parts := make([]string, len(src))
	for i, sp := range src {
		m, err := compilePattern(sp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		mm.list = append(mm.list, m)
		parts[i] = m.String()
	}
	mm.describe = "[" + name + "] " + strings.Join(parts, ", ")
	return mm, nil
}

func (m *multiMatcher) matchValues(vals []string) bool {
	if m.single != nil {
		if len(vals) == 0 {
			return m.single.match("", false, nil)
		}
		for _, v := range vals {
			if m.single.match(v, true, nil) {
				return true
			}
		}
		return false
	}
	if m.exactly && len(vals) != len(m.list) {
		return false
	}
	for _, p := range m.list {
		found := false
		for _, v := range vals {
			if p.match(v, true, nil) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if m.exactly {
		for _, v := range vals {
			found := false
			for _, p := range m.list {
				if p.match(v, true, nil) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
}

// bodyCache holds what matchers derive from the request body, computed at
// most once per match of one request.
type bodyCache struct {
	raw       []byte
	jsonDone  bool
	jsonOK    bool
	jsonValue any
	textDone  bool
	textValue string
}

// text returns the body as a string, converting it once.
func (c *bodyCache) text() string {
	if !c.textDone {
		c.textDone = true
		c.textValue = string(c.raw)
	}
	return c.textValue
}

// json returns the body parsed as JSON, or false if it is not JSON.
func (c *bodyCache) json() (any, bool) {
	if !c.jsonDone {
		c.jsonDone = true
		c.jsonValue, c.jsonOK = parseJSON(c.raw)
	}
	return c.jsonValue, c.jsonOK
}

// parseJSON decodes one JSON value, keeping numbers as json.Number so that
// integers and decimals keep their type (JsonUnit, which WireMock uses,
// treats 1 and 1.0 as different).
func parseJSON(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data
	}
	return v, true
}

// jsonFor returns v parsed as JSON, through the body cache when v is the
// body.
func jsonFor(v string, body *bodyCache) (any, bool) {
	if body != nil {
		return body.json()
	}
	return parseJSON([]byte(v))
}

// Pattern constructors for stubs built in Go rather than JSON.

// EqualTo returns a pattern that matches exactly s.
func EqualTo(s string) ValuePattern { return ValuePattern{EqualTo: &s} }

// Contains returns a pattern that matches values containing s.
func Contains(s string) ValuePattern { return ValuePattern{Contains: &s} }

// Matches returns a pattern that matches values that the regular
// expression re matches in full.
func Matches(re string) ValuePattern { return ValuePattern{Matches: &re} }

// Absent returns a pattern that matches a missing value.
func Absent() ValuePattern { t := true; return ValuePattern{Absent: &t} }

// EqualToJSON returns a pattern that matches JSON equal to the JSON text
// doc, allowing extra object fields when ignoreExtraElements is set.
func EqualToJSON(doc string, ignoreExtraElements bool) ValuePattern {
	raw, _ := json.Marshal(doc)
	p := ValuePattern{EqualToJSON: raw}
	if ignoreExtraElements {
		p.IgnoreExtraElements = &ignoreExtraElements
	}
	return p
}
