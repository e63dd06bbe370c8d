package insights

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sonde-dev/sonde/internal/event"
)

// This file evaluates filter expressions on single events in Go, for the
// places that see events before the store does (metric filters in
// internal/derive). The answers are the SQL compiler's for a filter that
// opens a query ("filter COND | ..."), which is pushed down to the group's
// table (compiler.predicate) and falls back to compiler.expr:
//
//   - matching is case-sensitive; like "text" is a substring test, like
//     /re/ and =~ /re/ an unanchored RE2 match;
//   - a field the event lacks is absent (SQL NULL), never zero or "": every
//     comparison with it is unknown, "not unknown" is unknown, and unknown
//     does not match (so status != 500 is false without a status);
//   - comparisons of a stored field with a literal work in the field's kind
//     (compiler.kindCompare): numbers numerically (a numeric string literal
//     counts as a number), strings as strings, trace ids, span ids and IPv4
//     addresses by their value for = and !=;
//   - other comparisons follow compiler.binary: a number against a string
//     that is not a number compares text, against any other string numbers;
//     @timestamp against a date string compares instants;
//   - numbers become text as DuckDB writes them ("10.0", "1e-05"), text
//     becomes a number as DuckDB's TRY_CAST reads it.
//
// A field seen with several kinds in one group is where the evaluator and
// SQL can part: SQL reads each kind's column (the others are NULL for an
// event), the evaluator reads the one value the event has, so "not (v = 1)"
// is true here for v = 2.5 but unknown in SQL when v also has string
// values. Everything else is the same; eval_test.go checks it against the
// SQL engine on the golden dataset.

// ParseFilter parses and checks a filter expression (what follows
// "filter"), such as `status >= 500 and route like "/checkout"`. Errors are
// *Error values whose position is in src.
func ParseFilter(src string) (Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	if p.peek().kind == tEOF {
		return nil, errorf(p.peek().pos, "expected a filter expression, found end of query")
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, errorf(t.pos, "unexpected %s after the filter expression", t.describe())
	}
	if err := checkScalar(e, "filter"); err != nil {
		return nil, err
	}
	return e, nil
}

// Predicate is a filter expression compiled for evaluation on events. It
// holds no state: it is safe for concurrent use.
type Predicate struct {
	root   evalNode
	fields []string
	text   string
}

// CompilePredicate compiles a filter condition (from ParseFilter, or the
// Cond of a parsed Filter command). It fails on what the evaluator cannot
// compute outside the store: @ingestionTime, which the store assigns, and
// the functions that are not listed in evalFunctions.
func CompilePredicate(e Expr) (*Predicate, error) {
	c := &evalCompiler{fields: map[string]bool{}}
	root, err := c.cond(e)
	if err != nil {
		return nil, err
	}
	return &Predicate{root: root, fields: c.order, text: ExprString(e)}, nil
}

// Match reports whether ev passes the filter: the condition is true (false
// and unknown do not pass). ev must not be modified during the call.
func (p *Predicate) Match(ev *event.Event) bool { return p.root.cond(ev) == triTrue }

// Fields lists the event fields the expression reads, in order of first
// use, system fields (@message...) included.
func (p *Predicate) Fields() []string { return p.fields }

// String returns the expression in canonical form.
func (p *Predicate) String() string { return p.text }

// tri is SQL's three-valued logic.
type tri uint8

const (
	triNull tri = iota
	triFalse
	triTrue
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

func (t tri) not() tri {
	switch t {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triNull
}

func triAnd(a, b tri) tri {
	switch {
	case a == triFalse || b == triFalse:
		return triFalse
	case a == triNull || b == triNull:
		return triNull
	}
	return triTrue
}

func triOr(a, b tri) tri {
	switch {
	case a == triTrue || b == triTrue:
		return triTrue
	case a == triNull || b == triNull:
		return triNull
	}
	return triFalse
}

// value is what an expression computes for one event, typed as the SQL
// compiler types it. Numbers remember whether SQL holds them as BIGINT, for
// their text.
type value struct {
	t     Type
	num   float64
	isInt bool
	i     int64
	str   string
	b     bool
}

var null = value{t: TNull}

func numValue(f float64) value { return value{t: TNumber, num: f} }

func intValue(i int64) value { return value{t: TNumber, num: float64(i), isInt: true, i: i} }

func textValue(s string) value { return value{t: TString, str: s} }

func boolValue(b bool) value { return value{t: TBool, b: b} }

func (v value) null() bool { return v.t == TNull }

// text is the dialect's ToText: how SQL writes the value as text.
func (v value) text() (string, bool) {
	switch v.t {
	case TNull:
		return "", false
	case TString, TAny, TJSON:
		return v.str, true
	case TTime:
		return event.LayoutSpaceMilli.Format(int64(v.num)), true
	case TBool:
		return strconv.FormatBool(v.b), true
	}
	if v.isInt {
		return strconv.FormatInt(v.i, 10), true
	}
	return duckFloatText(v.num), true
}

// number is the compiler's num: the value as a number, if it is one.
func (v value) number() (float64, bool) {
	switch v.t {
	case TNumber, TTime:
		return v.num, true
	case TNull:
		return 0, false
	case TBool:
		if v.b {
			return 1, true
		}
		return 0, true
	}
	s, _ := v.text()
	return duckToNumber(s)
}

// truth is the compiler's boolean: the value as a condition.
func (v value) truth() tri {
	switch v.t {
	case TBool:
		return triOf(v.b)
	case TNull:
		return triNull
	case TNumber, TTime:
		return triOf(v.num != 0)
	}
	s, _ := v.text()
	return triOf(s != "")
}

// evalNode is a compiled expression. cond evaluates it as a filter
// condition, val as a scalar.
type evalNode interface {
	cond(ev *event.Event) tri
	val(ev *event.Event) value
}

type evalCompiler struct {
	fields map[string]bool
	order  []string
}

func (c *evalCompiler) use(name string) {
	if !c.fields[name] {
		c.fields[name] = true
		c.order = append(c.order, name)
	}
}

// literal is a string or number literal, with what the compiler derives
// from it when it compiles a comparison.
type literal struct {
	isString bool
	text     string // the string, or the number as written
	num      float64
	isNum    bool // a number, or a string that Go's ParseFloat reads after trimming
	ms       int64
	isTime   bool // a string that is a date (event.ParseTimeText)
}

func newLiteral(e Expr) (literal, bool) {
	switch l := e.(type) {
	case *StringLit:
		lit := literal{isString: true, text: l.Value}
		if f, err := strconv.ParseFloat(strings.TrimSpace(l.Value), 64); err == nil {
			lit.num, lit.isNum = f, true
		}
		lit.ms, _, lit.isTime = event.ParseTimeText(l.Value)
		return lit, true
	case *NumberLit:
		return literal{text: l.Text, num: l.Value, isNum: true}, true
	}
	return literal{}, false
}

func (l literal) value() value {
	if l.isString {
		return textValue(l.text)
	}
	return numValue(l.num)
}

// cond compiles e as a filter on a group's table (compiler.predicate).
func (c *evalCompiler) cond(e Expr) (evalNode, error) {
	switch x := e.(type) {
	case *Binary:
		switch x.Op {
		case "and", "or":
			l, err := c.cond(x.L)
			if err != nil {
				return nil, err
			}
			r, err := c.cond(x.R)
			if err != nil {
				return nil, err
			}
			return &logicNode{or: x.Op == "or", l: l, r: r}, nil
		case "=", "!=", "<", "<=", ">", ">=":
			if f, litExpr, op, ok := fieldVsLiteral(x); ok && !event.IsSystemField(f.Name) {
				lit, _ := newLiteral(litExpr)
				c.use(f.Name)
				// As a scalar the comparison is compiler.binary's.
				scalar, err := c.val(e)
				if err != nil {
					return nil, err
				}
				return &kindCmpNode{field: f.Name, op: op, lit: lit, scalar: scalar}, nil
			}
		}
	case *Unary:
		if x.Op == "not" {
			inner, err := c.cond(x.X)
			if err != nil {
				return nil, err
			}
			return &notNode{x: inner}, nil
		}
	case *Like:
		if f, ok := x.X.(*FieldRef); ok && !event.IsSystemField(f.Name) {
			c.use(f.Name)
			m, err := newMatcher(x.Pattern)
			if err != nil {
				return nil, err
			}
			return &likeNode{x: &fieldNode{name: f.Name}, m: m, not: x.Not}, nil
		}
	case *In:
		if f, ok := x.X.(*FieldRef); ok && !event.IsSystemField(f.Name) {
			c.use(f.Name)
			n := &kindInNode{field: f.Name, not: x.Not}
			for _, el := range x.List.Elems {
				lit, ok := newLiteral(el)
				if !ok {
					return nil, errorf(el.Position(), "in [...] takes quoted strings and numbers")
				}
				n.lits = append(n.lits, lit)
			}
			return n, nil
		}
	}
	return c.val(e)
}

// val compiles e as a scalar (compiler.expr).
func (c *evalCompiler) val(e Expr) (evalNode, error) {
	switch x := e.(type) {
	case *FieldRef:
		c.use(x.Name)
		switch x.Name {
		case "@timestamp", "@log", "@logStream", "@message":
			return &sysNode{name: x.Name}, nil
		case "@ingestionTime":
			return nil, errorf(x.P, "@ingestionTime is set by the store: it cannot be read before the event is stored")
		}
		return &fieldNode{name: x.Name}, nil
	case *StringLit, *NumberLit:
		lit, _ := newLiteral(e)
		return &litNode{v: lit.value()}, nil
	case *Unary:
		inner, err := c.val(x.X)
		if err != nil {
			return nil, err
		}
		if x.Op == "not" {
			return &notNode{x: inner}, nil
		}
		return &negNode{x: inner}, nil
	case *Binary:
		l, err := c.val(x.L)
		if err != nil {
			return nil, err
		}
		r, err := c.val(x.R)
		if err != nil {
			return nil, err
		}
		switch x.Op {
		case "and", "or":
			return &logicNode{or: x.Op == "or", l: l, r: r}, nil
		case "+", "-", "*", "/", "^", "%":
			return &arithNode{op: x.Op, l: l, r: r}, nil
		}
		n := &cmpNode{op: x.Op, l: l, r: r}
		n.llit, n.lIsLit = stringLiteral(x.L)
		n.rlit, n.rIsLit = stringLiteral(x.R)
		return n, nil
	case *Like:
		inner, err := c.val(x.X)
		if err != nil {
			return nil, err
		}
		m, err := newMatcher(x.Pattern)
		if err != nil {
			return nil, err
		}
		return &likeNode{x: inner, m: m, not: x.Not}, nil
	case *In:
		inner, err := c.val(x.X)
		if err != nil {
			return nil, err
		}
		n := &inNode{x: inner, not: x.Not}
		for _, el := range x.List.Elems {
			lit, ok := newLiteral(el)
			if !ok {
				return nil, errorf(el.Position(), "in [...] takes quoted strings and numbers")
			}
			n.lits = append(n.lits, lit)
		}
		return n, nil
	case *Call:
		return c.call(x)
	}
	return nil, errorf(e.Position(), "unexpected %s in a filter", ExprString(e))
}

// stringLiteral returns the literal if e is a quoted string (the compiler
// treats those specially in comparisons).
func stringLiteral(e Expr) (literal, bool) {
	if _, ok := e.(*StringLit); ok {
		return newLiteral(e)
	}
	return literal{}, false
}

// evalFunctions are the scalar functions the evaluator computes. The
// others (dates, IP addresses, JSON, trims with characters...) need the
// store's SQL.
var evalFunctions = map[string]bool{
	"ispresent": true, "isempty": true, "isblank": true, "strlen": true, "toupper": true, "tolower": true,
	"strcontains": true, "concat": true, "abs": true, "ceil": true, "floor": true, "greatest": true, "least": true,
}

func (c *evalCompiler) call(x *Call) (evalNode, error) {
	if spec, _ := lookupFunc(x.Name); spec.kind == aggregate {
		return nil, errorf(x.P, "aggregate function %s is only allowed in stats", x.Name)
	}
	if !evalFunctions[x.Name] {
		return nil, errorf(x.P, "%s cannot be evaluated outside the store (filters on single events support %s)", x.Name, evalFunctionList())
	}
	if (x.Name == "isblank" || x.Name == "isempty" || x.Name == "strlen" || x.Name == "toupper" || x.Name == "tolower") && len(x.Args) != 1 {
		return nil, errorf(x.P, "%s takes 1 argument", x.Name)
	}
	n := &callNode{name: x.Name}
	for _, a := range x.Args {
		arg, err := c.val(a)
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, arg)
	}
	return n, nil
}

func evalFunctionList() string {
	return "ispresent, isempty, isblank, strlen, toupper, tolower, strcontains, concat, abs, ceil, floor, greatest and least"
}

// fieldValue returns the event's (first) value of a field.
func fieldValue(ev *event.Event, name string) (event.Value, bool) {
	for i := range ev.Fields {
		if ev.Fields[i].Name == name {
			return ev.Fields[i].Value, true
		}
	}
	return event.Value{}, false
}

// typedValue is how a stored field reads in SQL (dialect Column): numbers
// and bools as such, ids, addresses and times as their text.
func typedValue(v event.Value, eventTime int64) value {
	switch v.Kind {
	case event.KindString:
		return textValue(v.Str)
	case event.KindInt:
		return intValue(v.Int())
	case event.KindFloat:
		return numValue(v.Float())
	case event.KindBool:
		return boolValue(v.Bool())
	case event.KindTime:
		return value{t: TAny, str: v.Text(eventTime)}
	}
	return textValue(v.Text(eventTime))
}

// fieldNode reads a stored field.
type fieldNode struct{ name string }

func (n *fieldNode) val(ev *event.Event) value {
	v, ok := fieldValue(ev, n.name)
	if !ok {
		return null
	}
	return typedValue(v, ev.Time)
}

func (n *fieldNode) cond(ev *event.Event) tri { return n.val(ev).truth() }

// sysNode reads a system field.
type sysNode struct{ name string }

func (n *sysNode) val(ev *event.Event) value {
	switch n.name {
	case "@timestamp":
		return value{t: TTime, num: float64(ev.Time), isInt: true, i: ev.Time}
	case "@log":
		return textValue(ev.Group)
	case "@logStream":
		return textValue(ev.Stream)
	}
	// @message as the store shows it: rebuilt from the fields for JSON
	// events, the text as received for the others.
	return textValue(ev.Rebuild())
}

func (n *sysNode) cond(ev *event.Event) tri { return n.val(ev).truth() }

type litNode struct{ v value }

func (n *litNode) val(*event.Event) value      { return n.v }
func (n *litNode) cond(ev *event.Event) tri    { return n.v.truth() }
func (n *notNode) val(ev *event.Event) value   { return triValue(n.cond(ev)) }
func (n *notNode) cond(ev *event.Event) tri    { return n.x.cond(ev).not() }
func (n *logicNode) val(ev *event.Event) value { return triValue(n.cond(ev)) }

type notNode struct{ x evalNode }

type logicNode struct {
	or   bool
	l, r evalNode
}

func (n *logicNode) cond(ev *event.Event) tri {
	l := n.l.cond(ev)
	// Short cuts that SQL's three-valued logic allows.
	if n.or && l == triTrue {
		return triTrue
	}
	if !n.or && l == triFalse {
		return triFalse
	}
	r := n.r.cond(ev)
	if n.or {
		return triOr(l, r)
	}
	return triAnd(l, r)
}

func triValue(t tri) value {
	if t == triNull {
		return null
	}
	return boolValue(t == triTrue)
}

type negNode struct{ x evalNode }

func (n *negNode) val(ev *event.Event) value {
	v := n.x.val(ev)
	f, ok := v.number()
	if !ok {
		return null
	}
	if v.isInt && v.t == TNumber && v.i != math.MinInt64 {
		return intValue(-v.i)
	}
	return numValue(-f)
}

func (n *negNode) cond(ev *event.Event) tri { return n.val(ev).truth() }

type arithNode struct {
	op   string
	l, r evalNode
}

func (n *arithNode) val(ev *event.Event) value {
	lv, rv := n.l.val(ev), n.r.val(ev)
	l, lok := lv.number()
	r, rok := rv.number()
	if !lok || !rok {
		return null
	}
	bothInt := lv.isInt && rv.isInt && lv.t == TNumber && rv.t == TNumber
	switch n.op {
	case "+":
		if bothInt {
			if s := lv.i + rv.i; (s > lv.i) == (rv.i > 0) {
				return intValue(s)
			}
		}
		return numValue(l + r)
	case "-":
		if bothInt {
			if s := lv.i - rv.i; (s < lv.i) == (rv.i > 0) {
				return intValue(s)
			}
		}
		return numValue(l - r)
	case "*":
		if bothInt && math.Abs(l*r) < 1<<62 {
			return intValue(lv.i * rv.i)
		}
		return numValue(l * r)
	case "/":
		return numValue(l / r)
	case "^":
		return numValue(math.Pow(l, r))
	}
	return numValue(math.Mod(l, r))
}

func (n *arithNode) cond(ev *event.Event) tri { return n.val(ev).truth() }

// cmpNode is compiler.binary's comparison of two scalars.
type cmpNode struct {
	op             string
	l, r           evalNode
	llit, rlit     literal
	lIsLit, rIsLit bool // the operand is a quoted string literal
}

func (n *cmpNode) cond(ev *event.Event) tri {
	return compareValues(n.op, n.l.val(ev), n.r.val(ev), n.llit, n.lIsLit, n.rlit, n.rIsLit)
}
func (n *cmpNode) val(ev *event.Event) value { return triValue(n.cond(ev)) }

// compareValues is compiler.binary for comparisons. l and r are the
// operands' values; llit/rlit describe an operand that is a quoted string.
func compareValues(op string, l, r value, llit literal, lIsLit bool, rlit literal, rIsLit bool) tri {
	if l.t == TTime && rIsLit && rlit.isTime {
		return compareNumbers(op, l.num, float64(rlit.ms))
	}
	if r.t == TTime && lIsLit && llit.isTime {
		return compareNumbers(op, float64(llit.ms), r.num)
	}
	numeric := func(t Type) bool { return t == TNumber || t == TTime }
	textual := func(t Type) bool { return t == TString || t == TAny }
	switch {
	case l.null() || r.null():
		return triNull
	case numeric(l.t) && numeric(r.t):
		return compareNumbers(op, l.num, r.num)
	case numeric(l.t) && textual(r.t):
		if rIsLit && !rlit.isNum {
			ls, _ := l.text()
			return compareOrdered(op, ls, r.str)
		}
		rn, ok := duckToNumber(r.str)
		if !ok {
			return triNull
		}
		return compareNumbers(op, l.num, rn)
	case textual(l.t) && numeric(r.t):
		if lIsLit && !llit.isNum {
			rs, _ := r.text()
			return compareOrdered(op, l.str, rs)
		}
		ln, ok := duckToNumber(l.str)
		if !ok {
			return triNull
		}
		return compareNumbers(op, ln, r.num)
	case l.t == TBool && r.t == TBool:
		return compareBools(op, l.b, r.b)
	}
	ls, _ := l.text()
	rs, _ := r.text()
	return compareOrdered(op, ls, rs)
}

func compareNumbers(op string, l, r float64) tri {
	// DuckDB orders NaN above every number and equal to itself.
	if math.IsNaN(l) || math.IsNaN(r) {
		switch {
		case math.IsNaN(l) && math.IsNaN(r):
			l, r = 0, 0
		case math.IsNaN(l):
			l, r = 1, 0
		default:
			l, r = 0, 1
		}
	}
	return compareOrdered(op, l, r)
}

// compareOrdered applies a comparison operator to integers, or to strings
// byte by byte as DuckDB's default collation does.
func compareOrdered[T int64 | float64 | string](op string, l, r T) tri {
	switch op {
	case "=":
		return triOf(l == r)
	case "!=":
		return triOf(l != r)
	case "<":
		return triOf(l < r)
	case "<=":
		return triOf(l <= r)
	case ">":
		return triOf(l > r)
	}
	return triOf(l >= r)
}

func compareBools(op string, l, r bool) tri {
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	return compareNumbers(op, b(l), b(r))
}

// kindCmpNode is compiler.kindCompare: a stored field against a literal,
// in the domain of the value's kind.
type kindCmpNode struct {
	field  string
	op     string // as seen from the field
	lit    literal
	scalar evalNode
}

func (n *kindCmpNode) val(ev *event.Event) value { return n.scalar.val(ev) }

func (n *kindCmpNode) cond(ev *event.Event) tri {
	v, ok := fieldValue(ev, n.field)
	if !ok {
		return triNull
	}
	return kindCompare(v, ev.Time, n.op, n.lit)
}

func kindCompare(v event.Value, eventTime int64, op string, lit literal) tri {
	switch v.Kind {
	case event.KindString:
		if lit.isString {
			return compareOrdered(op, v.Str, lit.text)
		}
		f, ok := duckToNumber(v.Str)
		if !ok {
			return triNull
		}
		return compareNumbers(op, f, lit.num)
	case event.KindInt, event.KindFloat:
		if lit.isNum && v.Kind == event.KindInt && lit.num == math.Trunc(lit.num) && math.Abs(lit.num) < 1<<62 {
			return compareOrdered(op, v.Int(), int64(lit.num))
		}
		if lit.isNum {
			x := float64(v.Int())
			if v.Kind == event.KindFloat {
				x = v.Float()
			}
			return compareNumbers(op, x, lit.num)
		}
		return compareOrdered(op, typedValue(v, eventTime).mustText(), lit.text)
	case event.KindID128, event.KindID64, event.KindIPv4:
		if op == "=" || op == "!=" {
			lv := event.TypedString(lit.text)
			if lv.Kind == v.Kind {
				eq := lv.X == v.X && lv.Y == v.Y
				return triOf(eq == (op == "="))
			}
			return triOf(op == "!=")
		}
	case event.KindBool:
		if (op == "=" || op == "!=") && (lit.text == "true" || lit.text == "false") {
			return compareBools(op, v.Bool(), lit.text == "true")
		}
	}
	text := v.Text(eventTime)
	if lit.isNum && !lit.isString {
		f, ok := duckToNumber(text)
		if !ok {
			return triNull
		}
		return compareNumbers(op, f, lit.num)
	}
	return compareOrdered(op, text, lit.text)
}

func (v value) mustText() string {
	s, _ := v.text()
	return s
}

// kindInNode is x in [...] on a stored field: = with each literal in the
// field's kind.
type kindInNode struct {
	field string
	lits  []literal
	not   bool
}

func (n *kindInNode) cond(ev *event.Event) tri {
	v, ok := fieldValue(ev, n.field)
	if !ok {
		return triNull
	}
	res := triFalse
	for _, l := range n.lits {
		res = triOr(res, kindCompare(v, ev.Time, "=", l))
	}
	if n.not {
		return res.not()
	}
	return res
}

func (n *kindInNode) val(ev *event.Event) value { return triValue(n.cond(ev)) }

// inNode is x in [...] on any scalar: compiler.binary's = with each literal.
type inNode struct {
	x    evalNode
	lits []literal
	not  bool
}

func (n *inNode) cond(ev *event.Event) tri {
	x := n.x.val(ev)
	res := triFalse
	for _, l := range n.lits {
		res = triOr(res, compareValues("=", x, l.value(), literal{}, false, l, l.isString))
	}
	if n.not {
		return res.not()
	}
	return res
}

func (n *inNode) val(ev *event.Event) value { return triValue(n.cond(ev)) }

// matcher is the pattern of like or =~.
type matcher struct {
	needle string
	re     *regexp.Regexp
}

func newMatcher(p Expr) (matcher, error) {
	switch x := p.(type) {
	case *StringLit:
		return matcher{needle: x.Value}, nil
	case *RegexLit:
		re, err := regexp.Compile(toRE2(x.Pattern))
		if err != nil {
			return matcher{}, errorf(x.P, "invalid regex: %v", err)
		}
		return matcher{re: re}, nil
	}
	return matcher{}, errorf(p.Position(), "expected a quoted string or a /regex/")
}

func (m matcher) match(s string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	return strings.Contains(s, m.needle)
}

// likeNode is x like pattern: a substring or regex test on x's text.
type likeNode struct {
	x   evalNode
	m   matcher
	not bool
}

func (n *likeNode) cond(ev *event.Event) tri {
	s, ok := n.x.val(ev).text()
	if !ok {
		return triNull
	}
	res := triOf(n.m.match(s))
	if n.not {
		return res.not()
	}
	return res
}

func (n *likeNode) val(ev *event.Event) value { return triValue(n.cond(ev)) }

// callNode is a scalar function, with the compiler's argument coercions
// (scalarCall) and DuckDB's results.
type callNode struct {
	name string
	args []evalNode
}

func (n *callNode) cond(ev *event.Event) tri { return n.val(ev).truth() }

func (n *callNode) val(ev *event.Event) value {
	switch n.name {
	case "ispresent":
		return boolValue(!n.args[0].val(ev).null())
	case "isempty", "isblank":
		s, ok := n.args[0].val(ev).text()
		if !ok {
			return boolValue(true)
		}
		if n.name == "isblank" {
			s = strings.Trim(s, " ")
		}
		return boolValue(s == "")
	case "strlen":
		s, ok := n.args[0].val(ev).text()
		if !ok {
			return null
		}
		return intValue(int64(utf8.RuneCountInString(s)))
	case "toupper", "tolower":
		s, ok := n.args[0].val(ev).text()
		if !ok {
			return null
		}
		if n.name == "toupper" {
			return textValue(strings.ToUpper(s))
		}
		return textValue(strings.ToLower(s))
	case "strcontains":
		a, aok := n.args[0].val(ev).text()
		b, bok := n.args[1].val(ev).text()
		if !aok || !bok {
			return null
		}
		if strings.Contains(a, b) {
			return intValue(1)
		}
		return intValue(0)
	case "concat":
		var sb strings.Builder
		for _, a := range n.args {
			s, _ := a.val(ev).text()
			sb.WriteString(s)
		}
		return textValue(sb.String())
	case "abs", "ceil", "floor":
		v := n.args[0].val(ev)
		f, ok := v.number()
		if !ok {
			return null
		}
		if v.isInt && v.t == TNumber {
			if n.name == "abs" && v.i < 0 && v.i != math.MinInt64 {
				return intValue(-v.i)
			}
			return v
		}
		switch n.name {
		case "abs":
			return numValue(math.Abs(f))
		case "ceil":
			return numValue(math.Ceil(f))
		}
		return numValue(math.Floor(f))
	case "greatest", "least":
		res, found := 0.0, false
		for _, a := range n.args {
			f, ok := a.val(ev).number()
			if !ok {
				continue // DuckDB skips NULL arguments
			}
			if !found || (n.name == "greatest" && f > res) || (n.name == "least" && f < res) {
				res, found = f, true
			}
		}
		if !found {
			return null
		}
		return numValue(res)
	}
	panic(fmt.Sprintf("BUG: function %s passed CompilePredicate", n.name))
}

// duckFloatText writes a DOUBLE as DuckDB's CAST(x AS VARCHAR) does: the
// shortest digits that read back the same, in plain notation (with ".0"
// for whole numbers) from 1e-4 up to 1e16, else in scientific notation
// with a two-digit exponent at least ("1e-05", "1.5e+20").
func duckFloatText(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-4 && a < 1e16) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[:1]
	digits := strings.TrimLeft(exp[1:], "0")
	for len(digits) < 2 {
		digits = "0" + digits
	}
	return mant + "e" + sign + digits
}

// duckToNumber reads text as DuckDB's TRY_CAST(x AS DOUBLE): surrounding
// whitespace is ignored, digits may be grouped with '_', "inf" and "nan"
// are numbers, hexadecimal is not; anything else is NULL.
func duckToNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if strings.ContainsAny(s, "xXpP") {
		return 0, false
	}
	if strings.IndexByte(s, '_') >= 0 {
		for i := 0; i < len(s); i++ {
			if s[i] == '_' && (i == 0 || i == len(s)-1 || !isDigit(s[i-1]) || !isDigit(s[i+1])) {
				return 0, false
			}
		}
		s = strings.ReplaceAll(s, "_", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}
