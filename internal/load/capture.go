package load

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// responseCtx is a response with its body, parsed as JSON at most once.
type responseCtx struct {
	resp   *http.Response
	body   []byte
	parsed any
	done   bool
	ok     bool
}

func (rc *responseCtx) json() (any, bool) {
	if !rc.done {
		rc.done = true
		rc.ok = json.Unmarshal(rc.body, &rc.parsed) == nil
	}
	return rc.parsed, rc.ok
}

type captureKind int

const (
	captureJSON captureKind = iota
	captureRegexp
	captureHeader
)

// capture is one compiled capture spec.
type capture struct {
	kind   captureKind
	path   *jsonPath
	re     *regexp.Regexp
	group  string
	header string
	as     string
	strict bool
}

func compileCaptures(v any) ([]capture, error) {
	var list []any
	switch x := v.(type) {
	case map[string]any:
		list = []any{x}
	case []any:
		list = x
	default:
		return nil, fmt.Errorf("must be a mapping or a list")
	}
	var out []capture
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("[%d]: must be a mapping", i)
		}
		c := capture{strict: true}
		c.as, _ = m["as"].(string)
		if c.as == "" {
			return nil, fmt.Errorf("[%d]: as: missing", i)
		}
		if s, ok := m["strict"]; ok {
			c.strict = truthy(s)
		}
		switch {
		case m["json"] != nil:
			p, err := compileJSONPath(fmt.Sprint(m["json"]))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			c.kind, c.path = captureJSON, p
		case m["regexp"] != nil:
			expr := fmt.Sprint(m["regexp"])
			if f, ok := m["flags"].(string); ok && f != "" {
				flags := strings.Map(func(r rune) rune {
					if strings.ContainsRune("imsU", r) {
						return r
					}
					return -1
				}, f)
				if flags != "" {
					expr = "(?" + flags + ")" + expr
				}
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("[%d]: regexp: %w", i, err)
			}
			c.kind, c.re = captureRegexp, re
			if g, ok := m["group"]; ok {
				c.group = fmt.Sprint(g)
			}
		case m["header"] != nil:
			c.kind, c.header = captureHeader, fmt.Sprint(m["header"])
		default:
			return nil, fmt.Errorf("[%d]: only json, regexp and header captures are supported", i)
		}
		out = append(out, c)
	}
	return out, nil
}

// apply runs the capture and sets its variable. A strict capture that
// matches nothing fails the virtual user ("Failed capture or match").
func (c *capture) apply(rc *responseCtx, vars *Vars) error {
	var val any
	found := false
	switch c.kind {
	case captureJSON:
		if doc, ok := rc.json(); ok {
			val, found = c.path.first(doc)
		}
	case captureRegexp:
		m := c.re.FindSubmatch(rc.body)
		if m != nil {
			idx := 0
			if c.group != "" {
				if n, err := strconv.Atoi(c.group); err == nil {
					idx = n
				} else {
					idx = c.re.SubexpIndex(c.group)
				}
			}
			if idx >= 0 && idx < len(m) {
				val, found = string(m[idx]), true
			}
		}
	case captureHeader:
		if vals := rc.resp.Header.Values(c.header); len(vals) > 0 {
			val, found = vals[0], true
		}
	}
	if !found {
		if c.strict {
			return errCapture
		}
		return nil
	}
	vars.set(c.as, val)
	return nil
}

// jsonPath is the JSONPath subset captures and expectations use: $, .key,
// ['key'], [n], [*], .* and ..key (recursive descent).
type jsonPath struct {
	src   string
	steps []jpStep
}

type jpStep struct {
	key       string
	index     int
	isIndex   bool
	wildcard  bool
	recursive bool
}

func compileJSONPath(s string) (*jsonPath, error) {
	p := &jsonPath{src: s}
	rest := strings.TrimSpace(s)
	rest = strings.TrimPrefix(rest, "$")
	for len(rest) > 0 {
		switch {
		case strings.HasPrefix(rest, ".."):
			rest = rest[2:]
			j := strings.IndexAny(rest, ".[")
			if j < 0 {
				j = len(rest)
			}
			p.steps = append(p.steps, jpStep{key: rest[:j], recursive: true})
			rest = rest[j:]
		case rest[0] == '.':
			rest = rest[1:]
			j := strings.IndexAny(rest, ".[")
			if j < 0 {
				j = len(rest)
			}
			key := rest[:j]
			if key == "*" {
				p.steps = append(p.steps, jpStep{wildcard: true})
			} else {
				p.steps = append(p.steps, jpStep{key: key})
			}
			rest = rest[j:]
		case rest[0] == '[':
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				return nil, fmt.Errorf("jsonpath %q: unclosed [", s)
			}
			inner := strings.TrimSpace(rest[1:j])
			switch {
			case inner == "*":
				p.steps = append(p.steps, jpStep{wildcard: true})
			case strings.HasPrefix(inner, "'") || strings.HasPrefix(inner, `"`):
				p.steps = append(p.steps, jpStep{key: strings.Trim(inner, `'"`)})
			default:
				n, err := strconv.Atoi(inner)
				if err != nil {
					return nil, fmt.Errorf("jsonpath %q: unsupported selector [%s]", s, inner)
				}
				p.steps = append(p.steps, jpStep{index: n, isIndex: true})
			}
			rest = rest[j+1:]
		default:
			// A path without a leading $ or dot: a plain key.
			j := strings.IndexAny(rest, ".[")
			if j < 0 {
				j = len(rest)
			}
			p.steps = append(p.steps, jpStep{key: rest[:j]})
			rest = rest[j:]
		}
	}
	return p, nil
}

// all returns every match, in document order.
func (p *jsonPath) all(doc any) []any {
	cur := []any{doc}
	for _, st := range p.steps {
		var next []any
		for _, x := range cur {
			next = st.apply(x, next)
		}
		cur = next
		if len(cur) == 0 {
			return nil
		}
	}
	return cur
}

// first returns the first match.
func (p *jsonPath) first(doc any) (any, bool) {
	m := p.all(doc)
	if len(m) == 0 {
		return nil, false
	}
	return m[0], true
}

func (st jpStep) apply(x any, out []any) []any {
	if st.recursive {
		return descend(x, st.key, out)
	}
	switch c := x.(type) {
	case map[string]any:
		if st.wildcard {
			keys := make([]string, 0, len(c))
			for k := range c {
				keys = append(keys, k)
			}
			sortStrings(keys)
			for _, k := range keys {
				out = append(out, c[k])
			}
			return out
		}
		if v, ok := c[st.key]; ok && !st.isIndex {
			out = append(out, v)
		}
	case []any:
		switch {
		case st.wildcard:
			out = append(out, c...)
		case st.isIndex:
			i := st.index
			if i < 0 {
				i += len(c)
			}
			if i >= 0 && i < len(c) {
				out = append(out, c[i])
			}
		case st.key == "length":
			out = append(out, float64(len(c)))
		}
	}
	return out
}

func descend(x any, key string, out []any) []any {
	switch c := x.(type) {
	case map[string]any:
		if v, ok := c[key]; ok {
			out = append(out, v)
		}
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			out = descend(c[k], key, out)
		}
	case []any:
		for _, e := range c {
			out = descend(e, key, out)
		}
	}
	return out
}
