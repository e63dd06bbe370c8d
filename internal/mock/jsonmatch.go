package mock

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// JsonUnit placeholders that WireMock's equalToJson understands. A
// placeholder is a JSON string in the expected document.
const (
	placeholderIgnore        = "${json-unit.ignore}"
	placeholderIgnoreElement = "${json-unit.ignore-element}"
	placeholderAnyString     = "${json-unit.any-string}"
	placeholderAnyNumber     = "${json-unit.any-number}"
	placeholderAnyBoolean    = "${json-unit.any-boolean}"
	placeholderRegexPrefix   = "${json-unit.regex}"
)

// equalToJSON compares the value, parsed as JSON, with an expected document
// the way JsonUnit does for WireMock: object key order never matters; array
// order and extra fields or items matter unless the options say otherwise.
type equalToJSON struct {
	expected    any
	text        string
	ignoreOrder bool
	ignoreExtra bool
	// regexes holds the compiled ${json-unit.regex} placeholders, keyed by
	// the placeholder text.
	regexes map[string]*regexp.Regexp
}

func compileEqualToJSON(raw json.RawMessage, ignoreOrder, ignoreExtra bool) (*equalToJSON, error) {
	doc := []byte(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		doc = []byte(s) // the JSON text is given as a string
	}
	v, ok := parseJSON(doc)
	if !ok {
		return nil, fmt.Errorf("equalToJson: not valid JSON: %s", doc)
	}
	m := &equalToJSON{expected: v, text: string(doc), ignoreOrder: ignoreOrder, ignoreExtra: ignoreExtra}
	if err := m.compilePlaceholders(v); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *equalToJSON) compilePlaceholders(v any) error {
	switch t := v.(type) {
	case string:
		if expr, ok := strings.CutPrefix(t, placeholderRegexPrefix); ok {
			re, err := compileRegex(expr, "equalToJson regex placeholder")
			if err != nil {
				return err
			}
			if m.regexes == nil {
				m.regexes = map[string]*regexp.Regexp{}
			}
			m.regexes[t] = re.re
		}
	case map[string]any:
		for _, e := range t {
			if err := m.compilePlaceholders(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range t {
			if err := m.compilePlaceholders(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *equalToJSON) match(v string, present bool, body *bodyCache) bool {
	if !present {
		return false
	}
	actual, ok := jsonFor(v, body)
	return ok && m.equal(m.expected, actual)
}

func (m *equalToJSON) String() string { return "[equalToJson] " + m.text }

func (m *equalToJSON) equal(exp, act any) bool {
	switch e := exp.(type) {
	case string:
		if strings.HasPrefix(e, "${json-unit.") {
			return m.placeholder(e, act)
		}
		a, ok := act.(string)
		return ok && a == e
	case json.Number:
		a, ok := act.(json.Number)
		return ok && numbersEqual(e, a)
	case map[string]any:
		a, ok := act.(map[string]any)
		if !ok {
			return false
		}
		for k, ev := range e {
			av, present := a[k]
			if !present {
				if ev == placeholderIgnoreElement {
					continue
				}
				return false
			}
			if !m.equal(ev, av) {
				return false
			}
		}
		if !m.ignoreExtra {
			for k := range a {
				if _, ok := e[k]; !ok {
					return false
				}
			}
		}
		return true
	case []any:
		a, ok := act.([]any)
		if !ok {
			return false
		}
		if len(a) < len(e) || (len(a) > len(e) && !m.ignoreExtra) {
			return false
		}
		if m.ignoreOrder {
			return m.assign(e, a, make([]bool, len(a)))
		}
		for i := range e {
			if !m.equal(e[i], a[i]) {
				return false
			}
		}
		return true
	default: // bool, nil
		return exp == act
	}
}

// assign reports whether every expected item can be paired with a distinct
// actual item that equals it. It backtracks, which is exponential only for
// arrays of many items that are alike but not equal.
func (m *equalToJSON) assign(exp, act []any, used []bool) bool {
	if len(exp) == 0 {
		return true
	}
	for i, a := range act {
		if used[i] || !m.equal(exp[0], a) {
			continue
		}
		used[i] = true
		if m.assign(exp[1:], act, used) {
			return true
		}
		used[i] = false
	}
	return false
}

func (m *equalToJSON) placeholder(p string, act any) bool {
	switch p {
	case placeholderIgnore, placeholderIgnoreElement:
		return true
	case placeholderAnyString:
		_, ok := act.(string)
		return ok
	case placeholderAnyNumber:
		_, ok := act.(json.Number)
		return ok
	case placeholderAnyBoolean:
		_, ok := act.(bool)
		return ok
	}
	if re := m.regexes[p]; re != nil {
		a, ok := act.(string)
		return ok && re.MatchString(a)
	}
	a, ok := act.(string) // not a placeholder sonde knows: compare as text
	return ok && a == p
}

// numbersEqual compares JSON numbers as JsonUnit does: an integer never
// equals a decimal, values of the same kind compare by value (so 1.50 equals
// 1.5).
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	if isDecimal(a) != isDecimal(b) {
		return false
	}
	x, ok1 := new(big.Float).SetString(string(a))
	y, ok2 := new(big.Float).SetString(string(b))
	return ok1 && ok2 && x.Cmp(y) == 0
}

func isDecimal(n json.Number) bool { return strings.ContainsAny(string(n), ".eE") }

// jsonPathMatch is matchesJsonPath: the simple form needs the path to
// select something that is not null or empty; the advanced form matches the
// selected value, as text, against a pattern.
type jsonPathMatch struct {
	path *jsonPath
	sub  valueMatcher
	// subIsJSON is set when sub compares JSON documents, so a list result
	// is compared as one JSON array instead of item by item.
	subIsJSON bool
}

func compileJSONPathMatch(p JSONPathMatch) (*jsonPathMatch, error) {
	path, err := parseJSONPath(p.Expression)
	if err != nil {
		return nil, fmt.Errorf("matchesJsonPath %q: %w", p.Expression, err)
	}
	m := &jsonPathMatch{path: path}
	if p.Pattern != nil {
		if m.sub, err = compilePattern(*p.Pattern); err != nil {
			return nil, fmt.Errorf("matchesJsonPath %q: %w", p.Expression, err)
		}
		_, m.subIsJSON = m.sub.(*equalToJSON)
	}
	return m, nil
}

func (m *jsonPathMatch) match(v string, present bool, body *bodyCache) bool {
	if !present {
		return m.sub != nil && m.sub.match("", false, nil)
	}
	doc, ok := jsonFor(v, body)
	if !ok {
		return false
	}
	results := m.path.eval(doc)
	if m.sub == nil {
		if !m.path.definite {
			return len(results) > 0
		}
		return len(results) == 1 && !emptyJSON(results[0])
	}
	if m.path.definite || m.subIsJSON {
		var r any
		switch {
		case !m.path.definite:
			r = results
		case len(results) == 1:
			r = results[0]
		default:
			return m.sub.match("", false, nil)
		}
		s, ok := jsonText(r)
		return m.sub.match(s, ok, nil)
	}
	if len(results) == 0 {
		return m.sub.match("", false, nil)
	}
	for _, r := range results {
		if s, ok := jsonText(r); m.sub.match(s, ok, nil) {
			return true
		}
	}
	return false
}

func (m *jsonPathMatch) String() string {
	if m.sub == nil {
		return "[matchesJsonPath] " + m.path.text
	}
	return "[matchesJsonPath] " + m.path.text + " " + m.sub.String()
}

// emptyJSON reports null, {} and [], which a simple matchesJsonPath treats
// as not found.
func emptyJSON(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// jsonText renders a selected value for a sub-pattern: strings as they are,
// numbers and booleans as their JSON text, objects and arrays as JSON; null
// is a missing value.
func jsonText(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case json.Number:
		return string(t), true
	case bool:
		if t {
			return "true", true
		}
		return "false", true
	}
	b, err := json.Marshal(v)
	return string(b), err == nil
}
