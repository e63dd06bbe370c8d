package condition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Response is what conditions and capture expressions are evaluated
// against: one HTTP exchange. It caches the decoded JSON body, so it is not
// safe for concurrent use.
type Response struct {
	// Status is the HTTP status code (0 without a response).
	Status int
	// ResponseTime is [RESPONSE_TIME]: from sending the request to the
	// response headers, as Gatus measures it (it excludes the body).
	ResponseTime time.Duration
	// IP is the address of the server that answered.
	IP string
	// Connected tells whether a response was received.
	Connected bool
	Header    http.Header
	Body      []byte
	// TLS tells whether the response came over TLS; then
	// CertificateExpiration is the time left before the server's
	// certificate expires.
	TLS                   bool
	CertificateExpiration time.Duration
	// Context holds the values captured by earlier steps ([CONTEXT].name).
	Context map[string]string

	decoded bool
	json    any
	jsonErr error
}

// Result is the outcome of one condition.
type Result struct {
	// Condition is the condition with its resolved values in parentheses,
	// as Gatus shows it: "[STATUS] (503) == 200".
	Condition string `json:"condition"`
	Success   bool   `json:"success"`
}

// Eval evaluates the condition. A placeholder that cannot be resolved (a
// missing JSON field, no TLS certificate...) fails the condition whatever
// the operator.
func (c *Condition) Eval(r *Response) Result {
	lv, lerr := c.left.value(r)
	rv, rerr := c.right.value(r)
	show := c.left.display(lv, lerr) + " " + c.op.String() + " " + c.right.display(rv, rerr)
	if lerr != nil || rerr != nil {
		return Result{Condition: show, Success: false}
	}
	var ok bool
	switch c.op {
	case Eq, Ne:
		switch {
		case c.left.matcher():
			ok = c.left.match(rv)
		case c.right.matcher():
			ok = c.right.match(lv)
		default:
			ok = equal(lv, rv)
		}
		if c.op == Ne {
			ok = !ok
		}
	default:
		a, aerr := number(lv)
		b, berr := number(rv)
		if aerr != nil || berr != nil {
			return Result{Condition: show + " (" + errors.Join(aerr, berr).Error() + ")", Success: false}
		}
		switch c.op {
		case Lt:
			ok = a < b
		case Le:
			ok = a <= b
		case Gt:
			ok = a > b
		case Ge:
			ok = a >= b
		}
	}
	return Result{Condition: show, Success: ok}
}

// Resolve returns the operand's value for r: the text of a literal, the
// resolved value of a placeholder, len or has.
func (o *Operand) Resolve(r *Response) (string, error) { return o.value(r) }

func (o *Operand) value(r *Response) (string, error) {
	switch o.kind {
	case kindPlaceholder:
		return o.ph.resolve(r)
	case kindLen:
		return o.ph.length(r)
	case kindHas:
		return strconv.FormatBool(o.ph.has(r)), nil
	}
	return o.text, nil
}

// display writes the operand for a Result: resolved values follow
// placeholders in parentheses.
func (o *Operand) display(v string, err error) string {
	switch {
	case err != nil:
		return o.text + " (INVALID: " + err.Error() + ")"
	case o.kind == kindLiteral || o.matcher():
		return o.text
	case o.kind == kindPlaceholder && o.ph.name == CertificateExpiration:
		ms, _ := strconv.ParseInt(v, 10, 64)
		return o.text + " (" + (time.Duration(ms) * time.Millisecond).Truncate(time.Second).String() + ")"
	}
	if len(v) > 100 {
		v = v[:100] + "...(truncated)"
	}
	return o.text + " (" + v + ")"
}

// match applies any() or pat() to v.
func (o *Operand) match(v string) bool {
	if o.kind == kindPat {
		return globMatch(o.pattern, v)
	}
	for _, opt := range o.options {
		if equal(opt, v) {
			return true
		}
	}
	return false
}

// equal compares as text, and as numbers when both sides are numbers.
func equal(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && x == y
}

// number reads a number for <, <=, > and >=. A Go duration ("48h", "300ms")
// is its milliseconds, as in Gatus.
func number(s string) (float64, error) {
	if d, err := time.ParseDuration(s); err == nil && d != 0 {
		return float64(d) / float64(time.Millisecond), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return f, nil
}

// globMatch matches s against a pattern in which * stands for any text.
func globMatch(pattern, s string) bool {
	first, rest, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	parts := strings.Split(rest, "*")
	last := parts[len(parts)-1]
	for _, p := range parts[:len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// resolve returns the placeholder's value as text.
func (p *placeholder) resolve(r *Response) (string, error) {
	switch p.name {
	case Status:
		return strconv.Itoa(r.Status), nil
	case ResponseTime:
		return strconv.FormatInt(r.ResponseTime.Milliseconds(), 10), nil
	case IP:
		return r.IP, nil
	case Connected:
		return strconv.FormatBool(r.Connected), nil
	case CertificateExpiration:
		if !r.TLS {
			return "", errors.New("not a TLS connection")
		}
		return strconv.FormatInt(r.CertificateExpiration.Milliseconds(), 10), nil
	case Header:
		if vs := r.Header.Values(p.key); len(vs) > 0 {
			return vs[0], nil
		}
		return "", fmt.Errorf("no header %q", p.key)
	case Context:
		if v, ok := r.Context[p.key]; ok {
			return v, nil
		}
		return "", fmt.Errorf("no captured value %q", p.key)
	case Body:
		if len(p.path) == 0 {
			return string(bytes.TrimSpace(r.Body)), nil
		}
		v, err := p.walk(r)
		if err != nil {
			return "", err
		}
		return jsonText(v), nil
	}
	return "", fmt.Errorf("BUG: unhandled placeholder %s", p.name)
}

// length is len(): the elements of a JSON array, the keys of an object,
// the characters of anything else.
func (p *placeholder) length(r *Response) (string, error) {
	if p.name == Body {
		v, err := p.walk(r)
		if err != nil && len(p.path) > 0 {
			return "", err
		}
		switch x := v.(type) {
		case []any:
			return strconv.Itoa(len(x)), nil
		case map[string]any:
			return strconv.Itoa(len(x)), nil
		case string:
			return strconv.Itoa(utf8.RuneCountInString(x)), nil
		}
		if err == nil {
			return strconv.Itoa(utf8.RuneCountInString(jsonText(v))), nil
		}
	}
	s, err := p.resolve(r)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(utf8.RuneCountInString(s)), nil
}

// has is has(): whether the value exists (and, for text, is not empty).
func (p *placeholder) has(r *Response) bool {
	if p.name == Body && len(p.path) > 0 {
		_, err := p.walk(r)
		return err == nil
	}
	s, err := p.resolve(r)
	return err == nil && s != ""
}

// walk follows the [BODY] path through the decoded body.
func (p *placeholder) walk(r *Response) (any, error) {
	if !r.decoded {
		r.decoded = true
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.UseNumber()
		if r.jsonErr = dec.Decode(&r.json); r.jsonErr == nil && dec.More() {
			r.jsonErr = errors.New("trailing data")
		}
		if r.jsonErr != nil {
			r.jsonErr = fmt.Errorf("body is not JSON: %w", r.jsonErr)
		}
	}
	if r.jsonErr != nil {
		return nil, r.jsonErr
	}
	v := r.json
	for _, st := range p.path {
		if st.isIndex {
			a, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("[%d]: not an array", st.index)
			}
			if st.index >= len(a) {
				return nil, fmt.Errorf("[%d]: index out of range (length %d)", st.index, len(a))
			}
			v = a[st.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(".%s: not an object", st.key)
		}
		if v, ok = m[st.key]; !ok {
			return nil, fmt.Errorf("no field %q", st.key)
		}
	}
	return v, nil
}

// jsonText writes a decoded JSON value: strings unquoted, numbers as
// written, objects and arrays as compact JSON.
func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
