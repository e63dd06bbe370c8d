package load

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Vars are the variables of one virtual user: its own values (payload row,
// captures, processor changes) over a read-only layer shared by all users
// (config.variables constants, $env, target, before-flow captures). A Vars
// must only be used by the goroutine running its virtual user.
type Vars struct {
	own    map[string]any
	shared map[string]any
	rng    *rand.Rand
	uuid   string
	// loop holds $loopElement and $loopCount of the innermost loop.
	loopElement any
	loopCount   int
	inLoop      bool
}

func newVars(shared map[string]any) *Vars {
	return &Vars{shared: shared}
}

// get returns the value of a variable and whether it is defined.
func (v *Vars) get(name string) (any, bool) {
	if x, ok := v.own[name]; ok {
		return x, true
	}
	switch name {
	case "$uuid":
		if v.uuid == "" {
			v.uuid = newUUID(v.rng)
		}
		return v.uuid, true
	case "$loopElement":
		return v.loopElement, v.inLoop
	case "$loopCount":
		return v.loopCount, v.inLoop
	}
	x, ok := v.shared[name]
	return x, ok
}

func (v *Vars) set(name string, x any) {
	if v.own == nil {
		v.own = make(map[string]any, 8)
	}
	v.own[name] = x
}

// all returns every visible variable, own values over shared ones.
func (v *Vars) all() map[string]any {
	m := make(map[string]any, len(v.shared)+len(v.own)+3)
	for k, x := range v.shared {
		m[k] = x
	}
	for k, x := range v.own {
		m[k] = x
	}
	if u, ok := v.get("$uuid"); ok {
		m["$uuid"] = u
	}
	if v.inLoop {
		m["$loopElement"], m["$loopCount"] = v.loopElement, v.loopCount
	}
	return m
}

func (v *Vars) random() *rand.Rand {
	if v.rng == nil {
		v.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return v.rng
}

const hexDigits = "0123456789abcdef"

// newUUID returns a random (version 4) UUID.
func newUUID(r *rand.Rand) string {
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	var b [16]byte
	a, c := r.Uint64(), r.Uint64()
	for i := 0; i < 8; i++ {
		b[i], b[8+i] = byte(a>>(8*i)), byte(c>>(8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	j := 0
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[x>>4], hexDigits[x&15]
		j += 2
	}
	return string(out[:])
}

// Template is a compiled Artillery template string: literal text with
// {{ name }}, {{ a.b[0] }}, {{ $env.X }}, {{ $randomNumber(1,10) }} and
// {{ $randomString(8) }} placeholders. It is compiled once and rendered per
// request without parsing.
type Template struct {
	src   string
	parts []tmplPart
	// whole is set when the string is exactly one placeholder: rendering it
	// as a value keeps the variable's type (number, object), as Artillery
	// does.
	whole *tmplExpr
}

type tmplPart struct {
	lit  string
	expr *tmplExpr
}

type exprKind int

const (
	exprLookup exprKind = iota
	exprRandomNumber
	exprRandomString
)

type tmplExpr struct {
	kind exprKind
	path []pathElem
	a, b int
}

// pathElem is one step of a lookup path: a key or an index.
type pathElem struct {
	key   string
	index int
	isIdx bool
}

// CompileTemplate compiles a template string.
func CompileTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, tmplPart{lit: rest})
			}
			break
		}
		open, closeTok := "{{", "}}"
		if strings.HasPrefix(rest[i:], "{{{") {
			open, closeTok = "{{{", "}}}"
		}
		j := strings.Index(rest[i+len(open):], closeTok)
		if j < 0 {
			// An unclosed placeholder is literal text, as in Artillery.
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		inner := strings.TrimSpace(rest[i+len(open) : i+len(open)+j])
		e, err := compileExpr(inner)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", s, err)
		}
		t.parts = append(t.parts, tmplPart{expr: e})
		rest = rest[i+len(open)+j+len(closeTok):]
	}
	if len(t.parts) == 1 && t.parts[0].expr != nil {
		t.whole = t.parts[0].expr
	}
	return t, nil
}

// MustCompileTemplate is CompileTemplate that panics on error, for
// constants.
func MustCompileTemplate(s string) *Template {
	t, err := CompileTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

func compileExpr(s string) (*tmplExpr, error) {
	if strings.HasPrefix(s, "$") {
		if name, args, ok := strings.Cut(s, "("); ok && strings.HasSuffix(args, ")") {
			args = strings.TrimSuffix(args, ")")
			var nums []int
			for _, a := range strings.Split(args, ",") {
				a = strings.TrimSpace(a)
				if a == "" {
					continue
				}
				n, err := strconv.Atoi(a)
				if err != nil {
					return nil, fmt.Errorf("%s: invalid argument %q", name, a)
				}
				nums = append(nums, n)
			}
			switch strings.TrimSpace(name) {
			case "$randomNumber":
				e := &tmplExpr{kind: exprRandomNumber, a: 0, b: 100}
				if len(nums) > 0 {
					e.a = nums[0]
				}
				if len(nums) > 1 {
					e.b = nums[1]
				}
				if e.b < e.a {
					e.a, e.b = e.b, e.a
				}
				return e, nil
			case "$randomString":
				e := &tmplExpr{kind: exprRandomString, a: 10}
				if len(nums) > 0 {
					e.a = nums[0]
				}
				return e, nil
			default:
				return nil, fmt.Errorf("unknown function %s", name)
			}
		}
	}
	path, err := parsePath(s)
	if err != nil {
		return nil, err
	}
	return &tmplExpr{kind: exprLookup, path: path}, nil
}

// parsePath parses a lodash-style path: a.b[0].c, a["b"].
func parsePath(s string) ([]pathElem, error) {
	var out []pathElem
	i := 0
	for i < len(s) {
		switch s[i] {
		case '.':
			i++
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [ in %q", s)
			}
			inner := strings.TrimSpace(s[i+1 : i+j])
			if n, err := strconv.Atoi(inner); err == nil {
				out = append(out, pathElem{index: n, isIdx: true})
			} else {
				out = append(out, pathElem{key: strings.Trim(inner, `"'`)})
			}
			i += j + 1
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			out = append(out, pathElem{key: strings.TrimSpace(s[i:j])})
			i = j
		}
	}
	if len(out) == 0 || out[0].isIdx {
		return nil, fmt.Errorf("invalid variable %q", s)
	}
	return out, nil
}

// lookupPath follows a path into nested maps and lists.
func lookupPath(x any, path []pathElem) (any, bool) {
	for _, p := range path {
		switch c := x.(type) {
		case map[string]any:
			key := p.key
			if p.isIdx {
				key = strconv.Itoa(p.index)
			}
			v, ok := c[key]
			if !ok {
				return nil, false
			}
			x = v
		case []any:
			idx := p.index
			if !p.isIdx {
				if p.key == "length" {
					x = len(c)
					continue
				}
				n, err := strconv.Atoi(p.key)
				if err != nil {
					return nil, false
				}
				idx = n
			}
			if idx < 0 || idx >= len(c) {
				return nil, false
			}
			x = c[idx]
		case string:
			if p.key == "length" {
				x = len(c)
				continue
			}
			return nil, false
		default:
			return nil, false
		}
	}
	return x, true
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// eval returns the raw value of a placeholder and whether it is defined.
func (e *tmplExpr) eval(v *Vars) (any, bool) {
	switch e.kind {
	case exprRandomNumber:
		return e.a + v.random().IntN(e.b-e.a+1), true
	case exprRandomString:
		b := make([]byte, e.a)
		r := v.random()
		for i := range b {
			b[i] = alnum[r.IntN(len(alnum))]
		}
		return string(b), true
	}
	x, ok := v.get(e.path[0].key)
	if !ok {
		return nil, false
	}
	if len(e.path) == 1 {
		return x, true
	}
	return lookupPath(x, e.path[1:])
}

// appendText appends the template rendering of a value: strings as they
// are, numbers like JavaScript prints them, objects as JSON, undefined as
// "undefined".
func appendText(dst []byte, x any, ok bool) []byte {
	if !ok {
		return append(dst, "undefined"...)
	}
	switch c := x.(type) {
	case string:
		return append(dst, c...)
	case int:
		return strconv.AppendInt(dst, int64(c), 10)
	case int64:
		return strconv.AppendInt(dst, c, 10)
	case float64:
		return appendNumber(dst, c)
	case bool:
		return strconv.AppendBool(dst, c)
	case nil:
		return append(dst, "null"...)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return append(dst, fmt.Sprint(x)...)
	}
	return append(dst, b...)
}

func appendNumber(dst []byte, f float64) []byte {
	if f == float64(int64(f)) && f < 1e21 && f > -1e21 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// AppendTo appends the rendered template to dst.
func (t *Template) AppendTo(dst []byte, v *Vars) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		if p.expr == nil {
			dst = append(dst, p.lit...)
			continue
		}
		x, ok := p.expr.eval(v)
		dst = appendText(dst, x, ok)
	}
	return dst
}

// String renders the template as a string.
func (t *Template) String(v *Vars) string {
	if len(t.parts) == 1 && t.parts[0].expr == nil {
		return t.parts[0].lit
	}
	if len(t.parts) == 0 {
		return ""
	}
	if t.whole != nil {
		if x, ok := t.whole.eval(v); ok {
			if s, isStr := x.(string); isStr {
				return s
			}
		}
	}
	return string(t.AppendTo(nil, v))
}

// Raw renders the template as a value: a whole-string placeholder keeps its
// type, anything else is a string. The boolean is false when a whole-string
// placeholder is undefined.
func (t *Template) Raw(v *Vars) (any, bool) {
	if t.whole != nil {
		return t.whole.eval(v)
	}
	return t.String(v), true
}

// IsStatic reports whether the template has no placeholder.
func (t *Template) IsStatic() bool {
	for _, p := range t.parts {
		if p.expr != nil {
			return false
		}
	}
	return true
}

// Source returns the template text as written.
func (t *Template) Source() string { return t.src }

// Value is a compiled YAML value whose strings (and object keys) are
// templates: a json body, a form field, a loop's over list.
type Value struct {
	tmpl *Template
	lit  any // a non-string scalar
	list []*Value
	keys []*Template
	vals []*Value
	obj  bool
}

// CompileValue compiles a decoded YAML value.
func CompileValue(x any) (*Value, error) {
	switch c := x.(type) {
	case string:
		t, err := CompileTemplate(c)
		if err != nil {
			return nil, err
		}
		return &Value{tmpl: t}, nil
	case []any:
		v := &Value{list: make([]*Value, 0, len(c))}
		for _, e := range c {
			ev, err := CompileValue(e)
			if err != nil {
				return nil, err
			}
			v.list = append(v.list, ev)
		}
		if v.list == nil {
			v.list = []*Value{}
		}
		return v, nil
	case map[string]any:
		v := &Value{obj: true}
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			kt, err := CompileTemplate(k)
			if err != nil {
				return nil, err
			}
			ev, err := CompileValue(c[k])
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, kt)
			v.vals = append(v.vals, ev)
		}
		return v, nil
	}
	return &Value{lit: x}, nil
}

// Eval renders the value into plain Go values.
func (v *Value) Eval(vars *Vars) any {
	switch {
	case v.tmpl != nil:
		x, _ := v.tmpl.Raw(vars)
		return x
	case v.obj:
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k.String(vars)] = v.vals[i].Eval(vars)
		}
		return m
	case v.list != nil:
		out := make([]any, len(v.list))
		for i, e := range v.list {
			out[i] = e.Eval(vars)
		}
		return out
	}
	return v.lit
}

// AppendJSON appends the value rendered as JSON. Strings are rendered
// straight into the buffer without building intermediate values.
func (v *Value) AppendJSON(dst []byte, vars *Vars) []byte {
	switch {
	case v.tmpl != nil:
		if v.tmpl.whole != nil {
			x, ok := v.tmpl.whole.eval(vars)
			if !ok {
				return append(dst, "null"...)
			}
			return appendJSONValue(dst, x)
		}
		start := len(dst)
		dst = append(dst, '"')
		dst = v.tmpl.AppendTo(dst, vars)
		return appendEscapedInPlace(dst, start+1)
	case v.obj:
		dst = append(dst, '{')
		for i, k := range v.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			start := len(dst)
			dst = append(dst, '"')
			dst = k.AppendTo(dst, vars)
			dst = appendEscapedInPlace(dst, start+1)
			dst = append(dst, ':')
			dst = v.vals[i].AppendJSON(dst, vars)
		}
		return append(dst, '}')
	case v.list != nil:
		dst = append(dst, '[')
		for i, e := range v.list {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.AppendJSON(dst, vars)
		}
		return append(dst, ']')
	}
	return appendJSONValue(dst, v.lit)
}

// appendEscapedInPlace JSON-escapes dst[from:] (raw text just appended) and
// closes the string with a quote. Text needing no escape is not copied.
func appendEscapedInPlace(dst []byte, from int) []byte {
	clean := true
	for _, c := range dst[from:] {
		if c < 0x20 || c == '"' || c == '\\' {
			clean = false
			break
		}
	}
	if clean {
		return append(dst, '"')
	}
	raw := string(dst[from:])
	dst = dst[:from-1]
	b, _ := json.Marshal(raw)
	return append(dst, b...)
}

func appendJSONValue(dst []byte, x any) []byte {
	switch c := x.(type) {
	case string:
		start := len(dst)
		dst = append(dst, '"')
		dst = append(dst, c...)
		return appendEscapedInPlace(dst, start+1)
	case int:
		return strconv.AppendInt(dst, int64(c), 10)
	case int64:
		return strconv.AppendInt(dst, c, 10)
	case float64:
		return appendNumber(dst, c)
	case bool:
		return strconv.AppendBool(dst, c)
	case nil:
		return append(dst, "null"...)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}

func sortStrings(s []string) {
	// insertion sort: object keys are few
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
