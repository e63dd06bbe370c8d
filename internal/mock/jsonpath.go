package mock

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// jsonPath is the subset of Jayway JsonPath (which WireMock uses) that stubs
// use in practice: $.a.b, $['a'], $.a[0], $.a[-1], $.a[1:3], $.a[*], $.*,
// $..a, $.a.length(), and filters such as
// $.items[?(@.price > 10 && @.name =~ /ab.*/i)].
type jsonPath struct {
	text  string
	steps []pathStep
	// definite paths select at most one value; a missing value is then "not
	// found" rather than an empty list.
	definite bool
}

type stepKind int

const (
	stepChild stepKind = iota
	stepIndex
	stepWildcard
	stepSlice
	stepFilter
	stepLength
	stepUnion
)

type pathStep struct {
	kind      stepKind
	recursive bool // ".." before the selector
	name      string
	names     []string
	indexes   []int
	index     int
	lo, hi    *int
	filter    filterExpr
}

func parseJSONPath(text string) (*jsonPath, error) {
	s := strings.TrimSpace(text)
	switch {
	case strings.HasPrefix(s, "$"), strings.HasPrefix(s, "@"):
		s = s[1:]
	case s == "":
		return nil, errors.New("empty path")
	default:
		if s[0] != '.' && s[0] != '[' {
			s = "." + s
		}
	}
	p := &jsonPath{text: text, definite: true}
	for len(s) > 0 {
		var st pathStep
		switch {
		case strings.HasPrefix(s, ".."):
			st.recursive = true
			s = s[2:]
			if s == "" {
				return nil, errors.New("path ends with ..")
			}
			if strings.HasPrefix(s, "[") {
				break
			}
			fallthrough
		case s[0] == '.':
			if s[0] == '.' {
				s = s[1:]
			}
			if strings.HasPrefix(s, "*") {
				st.kind, s = stepWildcard, s[1:]
				break
			}
			n := strings.IndexAny(s, ".[")
			if n < 0 {
				n = len(s)
			}
			name := s[:n]
			if name == "" {
				return nil, errors.New("empty property name")
			}
			s = s[n:]
			if (name == "length()" || name == "size()") && s == "" && !st.recursive {
				st.kind = stepLength
			} else {
				st.kind, st.name = stepChild, name
			}
		case s[0] == '[':
		default:
			return nil, fmt.Errorf("unexpected %q", s)
		}
		if len(s) > 0 && s[0] == '[' && st.kind == stepChild && st.name == "" {
			end := closingBracket(s)
			if end < 0 {
				return nil, errors.New("missing ]")
			}
			if err := parseBracket(strings.TrimSpace(s[1:end]), &st); err != nil {
				return nil, err
			}
			s = s[end+1:]
		}
		if st.recursive || st.kind == stepWildcard || st.kind == stepSlice || st.kind == stepFilter ||
			st.kind == stepUnion {
			p.definite = false
		}
		p.steps = append(p.steps, st)
	}
	return p, nil
}

// closingBracket returns the index of the "]" that closes s[0], skipping
// quoted strings and nested brackets.
func closingBracket(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func parseBracket(in string, st *pathStep) error {
	switch {
	case in == "*":
		st.kind = stepWildcard
	case strings.HasPrefix(in, "?(") && strings.HasSuffix(in, ")"):
		f, err := parseFilter(in[2 : len(in)-1])
		if err != nil {
			return err
		}
		st.kind, st.filter = stepFilter, f
	case strings.HasPrefix(in, "'") || strings.HasPrefix(in, `"`):
		for part := range strings.SplitSeq(in, ",") {
			name, err := unquote(strings.TrimSpace(part))
			if err != nil {
				return err
			}
			st.names = append(st.names, name)
		}
		if len(st.names) == 1 {
			st.kind, st.name, st.names = stepChild, st.names[0], nil
		} else {
			st.kind = stepUnion
		}
	case strings.Contains(in, ":"):
		lo, hi, _ := strings.Cut(in, ":")
		st.kind = stepSlice
		for _, b := range []struct {
			s   string
			dst **int
		}{{lo, &st.lo}, {hi, &st.hi}} {
			if t := strings.TrimSpace(b.s); t != "" {
				n, err := strconv.Atoi(t)
				if err != nil {
					return fmt.Errorf("bad slice %q", in)
				}
				*b.dst = &n
			}
		}
	default:
		for part := range strings.SplitSeq(in, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return fmt.Errorf("bad index %q", in)
			}
			st.indexes = append(st.indexes, n)
		}
		if len(st.indexes) == 1 {
			st.kind, st.index, st.indexes = stepIndex, st.indexes[0], nil
		} else {
			st.kind = stepUnion
		}
	}
	return nil
}

func unquote(s string) (string, error) {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return strings.ReplaceAll(s[1:len(s)-1], `\`+s[:1], s[:1]), nil
	}
	return "", fmt.Errorf("bad quoted name %s", s)
}

// eval returns the values the path selects from doc.
func (p *jsonPath) eval(doc any) []any {
	nodes := []any{doc}
	for i := range p.steps {
		st := &p.steps[i]
		var next []any
		for _, n := range nodes {
			if st.recursive {
				walk(n, func(d any) { next = st.apply(d, next) })
			} else {
				next = st.apply(n, next)
			}
		}
		nodes = next
		if len(nodes) == 0 {
			break
		}
	}
	return nodes
}

// walk calls fn for v and every value nested in it, in document order
// (object keys sorted, since Go maps have no order).
func walk(v any, fn func(any)) {
	fn(v)
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			walk(t[k], fn)
		}
	case []any:
		for _, e := range t {
			walk(e, fn)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (st *pathStep) apply(n any, out []any) []any {
	switch st.kind {
	case stepChild:
		if m, ok := n.(map[string]any); ok {
			if v, ok := m[st.name]; ok {
				out = append(out, v)
			}
		}
	case stepIndex:
		if a, ok := n.([]any); ok {
			i := st.index
			if i < 0 {
				i += len(a)
			}
			if i >= 0 && i < len(a) {
				out = append(out, a[i])
			}
		}
	case stepUnion:
		if m, ok := n.(map[string]any); ok {
			for _, name := range st.names {
				if v, ok := m[name]; ok {
					out = append(out, v)
				}
			}
		}
		if a, ok := n.([]any); ok {
			for _, i := range st.indexes {
				if i < 0 {
					i += len(a)
				}
				if i >= 0 && i < len(a) {
					out = append(out, a[i])
				}
			}
		}
	case stepWildcard:
		switch t := n.(type) {
		case map[string]any:
			for _, k := range sortedKeys(t) {
				out = append(out, t[k])
			}
		case []any:
			out = append(out, t...)
		}
	case stepSlice:
		if a, ok := n.([]any); ok {
			lo, hi := 0, len(a)
			if st.lo != nil {
				lo = clampIndex(*st.lo, len(a))
			}
			if st.hi != nil {
				hi = clampIndex(*st.hi, len(a))
			}
			if lo < hi {
				out = append(out, a[lo:hi]...)
			}
		}
	case stepFilter:
		switch t := n.(type) {
		case []any:
			for _, e := range t {
				if st.filter.test(e) {
					out = append(out, e)
				}
			}
		case map[string]any:
			if st.filter.test(t) {
				out = append(out, t)
			}
		}
	case stepLength:
		switch t := n.(type) {
		case []any:
			out = append(out, json.Number(strconv.Itoa(len(t))))
		case map[string]any:
			out = append(out, json.Number(strconv.Itoa(len(t))))
		case string:
			out = append(out, json.Number(strconv.Itoa(len(t))))
		}
	}
	return out
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

// filterExpr is a compiled [?(...)] expression, evaluated with @ bound to
// one array item.
type filterExpr interface {
	test(item any) bool
}

type filterOr []filterExpr

func (f filterOr) test(item any) bool {
	for _, e := range f {
		if e.test(item) {
			return true
		}
	}
	return false
}

type filterAnd []filterExpr

func (f filterAnd) test(item any) bool {
	for _, e := range f {
		if !e.test(item) {
			return false
		}
	}
	return true
}

type filterNot struct{ e filterExpr }

func (f filterNot) test(item any) bool { return !f.e.test(item) }

// operand is a path relative to the item (@...), or a literal.
type operand struct {
	path    *jsonPath
	literal any
}

func (o operand) value(item any) (any, bool) {
	if o.path == nil {
		return o.literal, true
	}
	r := o.path.eval(item)
	if len(r) != 1 {
		return nil, false
	}
	return r[0], true
}

type filterExists struct{ o operand }

func (f filterExists) test(item any) bool {
	v, ok := f.o.value(item)
	return ok && v != nil
}

type filterCmp struct {
	left, right operand
	op          string
	re          *regexp.Regexp
}

func (f filterCmp) test(item any) bool {
	l, ok := f.left.value(item)
	if !ok {
		return false
	}
	if f.re != nil {
		s, ok := l.(string)
		return ok && f.re.MatchString(s)
	}
	r, ok := f.right.value(item)
	if !ok {
		return false
	}
	c, comparable := compareJSON(l, r)
	switch f.op {
	case "==":
		return comparable && c == 0
	case "!=":
		return !comparable || c != 0
	case "<":
		return comparable && c < 0
	case "<=":
		return comparable && c <= 0
	case ">":
		return comparable && c > 0
	case ">=":
		return comparable && c >= 0
	}
	return false
}

// compareJSON orders two scalars of the same kind; numbers compare by value.
func compareJSON(a, b any) (int, bool) {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return 0, false
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		if err1 != nil || err2 != nil {
			return 0, false
		}
		switch {
		case fx < fy:
			return -1, true
		case fx > fy:
			return 1, true
		}
		return 0, true
	case string:
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(x, y), true
	case bool:
		y, ok := b.(bool)
		if !ok || x != y {
			return 1, ok
		}
		return 0, true
	case nil:
		if b == nil {
			return 0, true
		}
	}
	return 0, false
}

// filterParser is a recursive-descent parser for filter expressions.
type filterParser struct {
	s   string
	pos int
}

func parseFilter(s string) (filterExpr, error) {
	p := &filterParser{s: s}
	e, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", s, err)
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("filter %q: unexpected %q", s, p.s[p.pos:])
	}
	return e, nil
}

func (p *filterParser) space() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *filterParser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *filterParser) or() (filterExpr, error) {
	var list filterOr
	for {
		e, err := p.and()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if !p.eat("||") {
			break
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

func (p *filterParser) and() (filterExpr, error) {
	var list filterAnd
	for {
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if !p.eat("&&") {
			break
		}
	}
	if len(list) == 1 {
		return list[0], nil
	}
	return list, nil
}

func (p *filterParser) unary() (filterExpr, error) {
	if p.eat("!") {
		e, err := p.unary()
		return filterNot{e}, err
	}
	if p.eat("(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, errors.New("missing )")
		}
		return e, nil
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	for _, op := range []string{"==", "!=", "<=", ">=", "=~", "<", ">"} {
		if !p.eat(op) {
			continue
		}
		if op == "=~" {
			re, err := p.regex()
			if err != nil {
				return nil, err
			}
			return filterCmp{left: left, op: op, re: re}, nil
		}
		right, err := p.operand()
		if err != nil {
			return nil, err
		}
		return filterCmp{left: left, right: right, op: op}, nil
	}
	if left.path == nil {
		return nil, errors.New("a literal alone is not a condition")
	}
	return filterExists{left}, nil
}

func (p *filterParser) operand() (operand, error) {
	p.space()
	if p.pos >= len(p.s) {
		return operand{}, errors.New("missing operand")
	}
	rest := p.s[p.pos:]
	switch c := rest[0]; {
	case c == '@':
		n := pathExtent(rest)
		path, err := parseJSONPath(rest[:n])
		if err != nil {
			return operand{}, err
		}
		p.pos += n
		return operand{path: path}, nil
	case c == '\'' || c == '"':
		end := 1
		for end < len(rest) && rest[end] != c {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			return operand{}, errors.New("unterminated string")
		}
		s, err := unquote(rest[:end+1])
		p.pos += end + 1
		return operand{literal: s}, err
	}
	n := 0
	for n < len(rest) && strings.IndexByte(" )&|=!<>", rest[n]) < 0 {
		n++
	}
	word := rest[:n]
	p.pos += n
	switch word {
	case "true":
		return operand{literal: true}, nil
	case "false":
		return operand{literal: false}, nil
	case "null":
		return operand{literal: nil}, nil
	}
	if _, err := strconv.ParseFloat(word, 64); err != nil {
		return operand{}, fmt.Errorf("bad literal %q", word)
	}
	return operand{literal: json.Number(word)}, nil
}

// pathExtent returns the length of the relative path at the start of s.
func pathExtent(s string) int {
	i := 1
	for i < len(s) {
		switch c := s[i]; {
		case c == '[':
			end := closingBracket(s[i:])
			if end < 0 {
				return len(s)
			}
			i += end + 1
		case c == '.' || c == '_' || c == '-' || c == '$' || c == '(' && strings.HasPrefix(s[i:], "()") ||
			c == ')' && i > 0 && s[i-1] == '(' ||
			'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9':
			i++
		default:
			return i
		}
	}
	return i
}

func (p *filterParser) regex() (*regexp.Regexp, error) {
	p.space()
	rest := p.s[p.pos:]
	if !strings.HasPrefix(rest, "/") {
		return nil, errors.New("=~ needs a /regex/")
	}
	end := 1
	for end < len(rest) && rest[end] != '/' {
		if rest[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(rest) {
		return nil, errors.New("unterminated /regex/")
	}
	expr := rest[1:end]
	p.pos += end + 1
	if p.pos < len(p.s) && p.s[p.pos] == 'i' {
		expr = "(?i)" + expr
		p.pos++
	}
	m, err := compileRegex(expr, "=~")
	return m.re, err
}
