package load

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Ensure is config.ensure (or config.plugins.ensure): checks evaluated
// against the aggregate report at the end of the run.
type Ensure struct {
	// Thresholds are "metric < value" checks, always strict.
	Thresholds []Threshold
	// Conditions are boolean expressions over the aggregate metrics.
	Conditions []Condition
	// MaxErrorRate, when set, checks
	// (vusers.created - vusers.completed) / vusers.created * 100 <= value.
	MaxErrorRate *float64
	// Legacy holds min/max/median/p95/p99 keys: http.response_time.<k> < v.
	Legacy []Threshold
}

// Threshold is one "metric < value" check.
type Threshold struct {
	Metric string
	Value  float64
}

// Condition is one expression check.
type Condition struct {
	Expression string
	// Strict conditions (the default) fail the run; others are printed as
	// optional.
	Strict bool
	expr   *expr
}

// Check is the result of one ensure check.
type Check struct {
	// Text is the check as printed ("http.response_time.p99 < 250").
	Text string `json:"text"`
	// OK tells whether the check passed.
	OK bool `json:"ok"`
	// Strict checks make the run fail.
	Strict bool `json:"strict"`
}

func (p *parser) ensure(e *Ensure, m map[string]any) error {
	for k, v := range m {
		switch k {
		case "thresholds":
			list, ok := v.([]any)
			if !ok {
				return fmt.Errorf("thresholds: must be a list")
			}
			for i, item := range list {
				tm, ok := item.(map[string]any)
				if !ok || len(tm) != 1 {
					return fmt.Errorf("thresholds[%d]: must be a mapping of one metric to a value", i)
				}
				for metric, val := range tm {
					f, err := p.number(val)
					if err != nil {
						return fmt.Errorf("thresholds[%d]: %w", i, err)
					}
					e.Thresholds = append(e.Thresholds, Threshold{Metric: metric, Value: f})
				}
			}
		case "conditions":
			list, ok := v.([]any)
			if !ok {
				return fmt.Errorf("conditions: must be a list")
			}
			for i, item := range list {
				cm, ok := item.(map[string]any)
				if !ok {
					return fmt.Errorf("conditions[%d]: must be a mapping", i)
				}
				src, _ := cm["expression"].(string)
				x, err := parseExpr(src)
				if err != nil {
					return fmt.Errorf("conditions[%d]: %w", i, err)
				}
				c := Condition{Expression: src, Strict: true, expr: x}
				if s, ok := cm["strict"]; ok {
					c.Strict = truthy(s)
				}
				e.Conditions = append(e.Conditions, c)
			}
		case "maxErrorRate":
			f, err := p.number(v)
			if err != nil {
				return fmt.Errorf("maxErrorRate: %w", err)
			}
			e.MaxErrorRate = &f
		case "min", "max", "median", "p95", "p99":
			f, err := p.number(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			e.Legacy = append(e.Legacy, Threshold{Metric: mHTTPResponseTime + "." + k, Value: f})
		default:
			return fmt.Errorf("unknown key %q", k)
		}
	}
	sort.Slice(e.Legacy, func(i, j int) bool { return e.Legacy[i].Metric < e.Legacy[j].Metric })
	return nil
}

// metricVars flattens an aggregate into the names ensure expressions use:
// counters and rates by name, summaries as name.min, name.p99, ...
func metricVars(p Period) map[string]any {
	m := make(map[string]any, len(p.Counters)+len(p.Rates)+len(p.Summaries)*11)
	for k, v := range p.Counters {
		m[k] = float64(v)
	}
	for k, v := range p.Rates {
		m[k] = v
	}
	for k, s := range p.Summaries {
		for stat, v := range map[string]float64{"min": s.Min, "max": s.Max, "count": float64(s.Count), "mean": s.Mean,
			"p50": s.P50, "median": s.Median, "p75": s.P75, "p90": s.P90, "p95": s.P95, "p99": s.P99, "p999": s.P999} {
			m[k+"."+stat] = v
		}
	}
	return m
}

// Evaluate runs the checks against an aggregate report.
func (e *Ensure) Evaluate(agg Period) []Check {
	vars := metricVars(agg)
	num := func(name string) (float64, bool) {
		v, ok := vars[name].(float64)
		return v, ok
	}
	var out []Check
	for _, t := range e.Thresholds {
		v, ok := num(t.Metric)
		out = append(out, Check{Text: fmt.Sprintf("%s < %s", t.Metric, formatNumber(t.Value)), OK: ok && v < t.Value, Strict: true})
	}
	for _, c := range e.Conditions {
		res := c.expr.eval(func(name string) (any, bool) { x, ok := vars[name]; return x, ok })
		text := c.Expression
		if !c.Strict {
			text += " (optional)"
		}
		out = append(out, Check{Text: text, OK: isTruthy(res), Strict: c.Strict})
	}
	if e.MaxErrorRate != nil {
		created, _ := num(mVusersCreated)
		completed, _ := num(mVusersCompleted)
		rate := 0.0
		if created > 0 {
			rate = (created - completed) / created * 100
		}
		out = append(out, Check{Text: fmt.Sprintf("maxErrorRate < %s", formatNumber(*e.MaxErrorRate)), OK: rate <= *e.MaxErrorRate, Strict: true})
	}
	for _, t := range e.Legacy {
		v, ok := num(t.Metric)
		out = append(out, Check{Text: fmt.Sprintf("%s < %s", t.Metric, formatNumber(t.Value)), OK: ok && v < t.Value, Strict: true})
	}
	return out
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// expr is a parsed filtrex-style expression: numbers, "strings", names
// (dotted, or 'quoted' for names with spaces), + - * / % ^, comparisons
// == != < <= > >=, and/or/not, x in (a, b), a ? b : c and parentheses.
// Booleans are 1 and 0, as in filtrex; undefined names compare false.
type expr struct {
	op   string
	num  float64
	str  string
	name string
	args []*expr
}

type exprParser struct {
	toks []string
	pos  int
}

func parseExpr(s string) (*expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	x, err := p.ternary()
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", s, err)
	}
	if p.pos != len(toks) {
		return nil, fmt.Errorf("expression %q: unexpected %q", s, toks[p.pos])
	}
	return x, nil
}

func tokenize(s string) ([]string, error) {
	var out []string
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case strings.ContainsRune("()+-*/%^?:,", rune(c)):
			out = append(out, string(c))
			i++
		case c == '<' || c == '>' || c == '=' || c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, s[i:i+2])
				i += 2
			} else if c == '!' {
				return nil, fmt.Errorf("unexpected !")
			} else {
				out = append(out, string(c))
				i++
			}
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unclosed quote")
			}
			out = append(out, s[i:i+j+2])
			i += j + 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case c == '_' || c == '$' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || s[j] == '.' || s[j] == '[' || s[j] == ']' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q", string(c))
		}
	}
	return out, nil
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *exprParser) ternary() (*expr, error) {
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.peek() != "?" {
		return c, nil
	}
	p.next()
	a, err := p.ternary()
	if err != nil {
		return nil, err
	}
	if p.next() != ":" {
		return nil, fmt.Errorf("missing : in ?:")
	}
	b, err := p.ternary()
	if err != nil {
		return nil, err
	}
	return &expr{op: "?", args: []*expr{c, a, b}}, nil
}

func (p *exprParser) or() (*expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "or" {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &expr{op: "or", args: []*expr{l, r}}
	}
	return l, nil
}

func (p *exprParser) and() (*expr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.peek() == "and" {
		p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &expr{op: "and", args: []*expr{l, r}}
	}
	return l, nil
}

func (p *exprParser) not() (*expr, error) {
	if p.peek() == "not" {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &expr{op: "not", args: []*expr{x}}, nil
	}
	return p.cmp()
}

func (p *exprParser) cmp() (*expr, error) {
	l, err := p.add()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); op {
	case "==", "!=", "<", "<=", ">", ">=":
		p.next()
		r, err := p.add()
		if err != nil {
			return nil, err
		}
		return &expr{op: op, args: []*expr{l, r}}, nil
	case "in", "not":
		p.next()
		if op == "not" {
			if p.next() != "in" {
				return nil, fmt.Errorf("expected in after not")
			}
			op = "not in"
		}
		r, err := p.primary()
		if err != nil {
			return nil, err
		}
		return &expr{op: op, args: []*expr{l, r}}, nil
	}
	return l, nil
}

func (p *exprParser) add() (*expr, error) {
	l, err := p.mul()
	if err != nil {
		return nil, err
	}
	for p.peek() == "+" || p.peek() == "-" {
		op := p.next()
		r, err := p.mul()
		if err != nil {
			return nil, err
		}
		l = &expr{op: op, args: []*expr{l, r}}
	}
	return l, nil
}

func (p *exprParser) mul() (*expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek() == "*" || p.peek() == "/" || p.peek() == "%" {
		op := p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &expr{op: op, args: []*expr{l, r}}
	}
	return l, nil
}

func (p *exprParser) unary() (*expr, error) {
	if p.peek() == "-" {
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &expr{op: "neg", args: []*expr{x}}, nil
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.peek() == "^" {
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &expr{op: "^", args: []*expr{x, r}}, nil
	}
	return x, nil
}

func (p *exprParser) primary() (*expr, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, fmt.Errorf("unexpected end")
	case t == "(":
		var items []*expr
		for {
			x, err := p.ternary()
			if err != nil {
				return nil, err
			}
			items = append(items, x)
			if p.peek() == "," {
				p.next()
				continue
			}
			break
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		if len(items) == 1 {
			return items[0], nil
		}
		return &expr{op: "list", args: items}, nil
	case t[0] == '"':
		return &expr{op: "str", str: t[1 : len(t)-1]}, nil
	case t[0] == '\'':
		return &expr{op: "name", name: t[1 : len(t)-1]}, nil
	case t[0] >= '0' && t[0] <= '9':
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return &expr{op: "num", num: f}, nil
	case t == "true":
		return &expr{op: "num", num: 1}, nil
	case t == "false":
		return &expr{op: "num", num: 0}, nil
	}
	if strings.ContainsAny(t, "()+-*/%^?:,<>=!") {
		return nil, fmt.Errorf("unexpected %q", t)
	}
	return &expr{op: "name", name: t}, nil
}

func boolNum(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func isTruthy(x any) bool {
	switch c := x.(type) {
	case float64:
		return c != 0 && !math.IsNaN(c)
	case string:
		return c != ""
	case bool:
		return c
	case nil:
		return false
	}
	return true
}

func toNum(x any) (float64, bool) {
	switch c := x.(type) {
	case float64:
		return c, true
	case int:
		return float64(c), true
	case int64:
		return float64(c), true
	case bool:
		return boolNum(c), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(c), 64)
		return f, err == nil
	}
	return 0, false
}

// eval evaluates the expression; lookup resolves names (dotted paths are
// tried whole first, then as a path into a variable).
func (e *expr) eval(lookup func(string) (any, bool)) any {
	switch e.op {
	case "num":
		return e.num
	case "str":
		return e.str
	case "name":
		if x, ok := lookup(e.name); ok {
			return x
		}
		if path, err := parsePath(e.name); err == nil && len(path) > 1 {
			if base, ok := lookup(path[0].key); ok {
				if x, ok := lookupPath(base, path[1:]); ok {
					return x
				}
			}
		}
		return nil
	case "list":
		out := make([]any, len(e.args))
		for i, a := range e.args {
			out[i] = a.eval(lookup)
		}
		return out
	case "not":
		return boolNum(!isTruthy(e.args[0].eval(lookup)))
	case "and":
		l := e.args[0].eval(lookup)
		if !isTruthy(l) {
			return l
		}
		return e.args[1].eval(lookup)
	case "or":
		l := e.args[0].eval(lookup)
		if isTruthy(l) {
			return l
		}
		return e.args[1].eval(lookup)
	case "?":
		if isTruthy(e.args[0].eval(lookup)) {
			return e.args[1].eval(lookup)
		}
		return e.args[2].eval(lookup)
	case "neg":
		if f, ok := toNum(e.args[0].eval(lookup)); ok {
			return -f
		}
		return math.NaN()
	case "in", "not in":
		l := e.args[0].eval(lookup)
		found := false
		r := e.args[1].eval(lookup)
		list, ok := r.([]any)
		if !ok {
			list = []any{r}
		}
		for _, x := range list {
			if equal(l, x) {
				found = true
			}
		}
		return boolNum(found == (e.op == "in"))
	}
	l, r := e.args[0].eval(lookup), e.args[1].eval(lookup)
	switch e.op {
	case "==":
		return boolNum(equal(l, r))
	case "!=":
		return boolNum(!equal(l, r))
	}
	if ls, ok := l.(string); ok {
		if rs, ok := r.(string); ok {
			switch e.op {
			case "<":
				return boolNum(ls < rs)
			case "<=":
				return boolNum(ls <= rs)
			case ">":
				return boolNum(ls > rs)
			case ">=":
				return boolNum(ls >= rs)
			case "+":
				return ls + rs
			}
		}
	}
	a, okA := toNum(l)
	b, okB := toNum(r)
	if !okA || !okB {
		if e.op == "<" || e.op == "<=" || e.op == ">" || e.op == ">=" {
			return float64(0)
		}
		return math.NaN()
	}
	switch e.op {
	case "<":
		return boolNum(a < b)
	case "<=":
		return boolNum(a <= b)
	case ">":
		return boolNum(a > b)
	case ">=":
		return boolNum(a >= b)
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	case "%":
		return math.Mod(a, b)
	case "^":
		return math.Pow(a, b)
	}
	return nil
}

func equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if fa, ok := toNum(a); ok {
		if fb, ok := toNum(b); ok {
			_, sa := a.(string)
			_, sb := b.(string)
			if sa == sb || !sa || !sb {
				return fa == fb
			}
		}
	}
	return text(a) == text(b)
}
