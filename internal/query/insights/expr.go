package insights

import (
	"math"
	"strconv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// expr compiles a scalar expression.
func (c *compiler) expr(e Expr, r resolver) (string, Type, error) {
	switch x := e.(type) {
	case *FieldRef:
		sql, t, _ := r.field(x.Name)
		return sql, t, nil
	case *StringLit:
		return c.d.Str(x.Value), TString, nil
	case *NumberLit:
		return c.d.Number(x.Text), TNumber, nil
	case *Unary:
		s, t, err := c.expr(x.X, r)
		if err != nil {
			return "", 0, err
		}
		if x.Op == "not" {
			return "(NOT " + c.boolean(s, t) + ")", TBool, nil
		}
		return "(-" + c.num(s, t) + ")", TNumber, nil
	case *Binary:
		if x.Op == "and" || x.Op == "or" {
			l, lt, err := c.expr(x.L, r)
			if err != nil {
				return "", 0, err
			}
			rr, rt, err := c.expr(x.R, r)
			if err != nil {
				return "", 0, err
			}
			return "(" + c.boolean(l, lt) + " " + strings.ToUpper(x.Op) + " " + c.boolean(rr, rt) + ")", TBool, nil
		}
		l, lt, err := c.expr(x.L, r)
		if err != nil {
			return "", 0, err
		}
		rr, rt, err := c.expr(x.R, r)
		if err != nil {
			return "", 0, err
		}
		return c.binary(x.Op, l, lt, rr, rt, x.L, x.R)
	case *Like:
		s, t, err := c.expr(x.X, r)
		if err != nil {
			return "", 0, err
		}
		sql := c.match(c.d.ToText(s, t), x.Pattern)
		if t == TString || t == TAny {
			sql = c.match(s, x.Pattern)
		}
		if x.Not {
			sql = "(NOT " + sql + ")"
		}
		return sql, TBool, nil
	case *In:
		s, t, err := c.expr(x.X, r)
		if err != nil {
			return "", 0, err
		}
		var alts []string
		for _, el := range x.List.Elems {
			lit, lt, _ := c.expr(el, r)
			cmp, _, _ := c.binary("=", s, t, lit, lt, x.X, el)
			alts = append(alts, cmp)
		}
		sql := "(" + strings.Join(alts, " OR ") + ")"
		if x.Not {
			sql = "(NOT " + sql + ")"
		}
		return sql, TBool, nil
	case *Call:
		if spec, _ := lookupFunc(x.Name); spec.kind == aggregate {
			return "", 0, errorf(x.P, "aggregate function %s is only allowed in stats", x.Name)
		}
		return c.call(x, r)
	case *DurationLit, *RegexLit, *ArrayLit:
		return "", 0, errorf(e.Position(), "unexpected %s here", ExprString(e))
	}
	return "", 0, errorf(e.Position(), "cannot compile %s", ExprString(e))
}

func (c *compiler) match(text string, pattern Expr) string {
	switch p := pattern.(type) {
	case *StringLit:
		return c.d.Contains(text, c.d.Str(p.Value))
	case *RegexLit:
		return c.d.RegexMatch(text, c.d.Str(toRE2(p.Pattern)))
	}
	return c.boolLit(false)
}

// binary compiles arithmetic and comparisons. le and re are the operands'
// expressions, to recognize literals.
func (c *compiler) binary(op, l string, lt Type, r string, rt Type, le, re Expr) (string, Type, error) {
	switch op {
	case "+", "-", "*", "/":
		return "(" + c.num(l, lt) + " " + op + " " + c.num(r, rt) + ")", TNumber, nil
	case "^":
		return c.d.Power(c.num(l, lt), c.num(r, rt)), TNumber, nil
	case "%":
		return c.d.Mod(c.num(l, lt), c.num(r, rt)), TNumber, nil
	}
	sqlOp := op
	if op == "!=" {
		sqlOp = "<>"
	}
	// A timestamp compared with a date string compares instants.
	if lt == TTime {
		if s, ok := re.(*StringLit); ok {
			if ms, _, ok := event.ParseTimeText(s.Value); ok {
				return "(" + l + " " + sqlOp + " " + strconv.FormatInt(ms, 10) + ")", TBool, nil
			}
		}
	}
	if rt == TTime {
		if s, ok := le.(*StringLit); ok {
			if ms, _, ok := event.ParseTimeText(s.Value); ok {
				return "(" + strconv.FormatInt(ms, 10) + " " + sqlOp + " " + r + ")", TBool, nil
			}
		}
	}
	numeric := func(t Type) bool { return t == TNumber || t == TTime }
	textual := func(t Type) bool { return t == TString || t == TAny }
	switch {
	case lt == TNull || rt == TNull:
		return "(NULL " + sqlOp + " NULL)", TBool, nil
	case numeric(lt) && numeric(rt):
		return "(" + l + " " + sqlOp + " " + r + ")", TBool, nil
	case numeric(lt) && textual(rt):
		if s, ok := re.(*StringLit); ok && !isNumberText(s.Value) {
			return "(" + c.d.ToText(l, lt) + " " + sqlOp + " " + r + ")", TBool, nil
		}
		return "(" + l + " " + sqlOp + " " + c.d.ToNumber(r) + ")", TBool, nil
	case textual(lt) && numeric(rt):
		if s, ok := le.(*StringLit); ok && !isNumberText(s.Value) {
			return "(" + l + " " + sqlOp + " " + c.d.ToText(r, rt) + ")", TBool, nil
		}
		return "(" + c.d.ToNumber(l) + " " + sqlOp + " " + r + ")", TBool, nil
	case lt == TBool && rt == TBool:
		return "(" + l + " " + sqlOp + " " + r + ")", TBool, nil
	}
	return "(" + c.d.ToText(l, lt) + " " + sqlOp + " " + c.d.ToText(r, rt) + ")", TBool, nil
}

func isNumberText(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// num, text and boolean coerce a value to a number, text or condition.
func (c *compiler) num(s string, t Type) string {
	switch t {
	case TNumber, TTime:
		return s
	case TNull:
		return "NULL"
	case TBool:
		return "(CASE WHEN " + s + " THEN 1 WHEN NOT " + s + " THEN 0 END)"
	}
	return c.d.ToNumber(c.d.ToText(s, t))
}

func (c *compiler) boolean(s string, t Type) string {
	switch t {
	case TBool:
		return s
	case TNull:
		return "NULL"
	case TNumber, TTime:
		return "(" + s + " <> 0)"
	}
	return "(" + c.d.ToText(s, t) + " <> '')"
}

// storedTimeNonNegative reports whether @timestamp, as r resolves it, is
// the stored event time and no group has an event before 1970: bins of it
// then need no correction for negative values.
func (c *compiler) storedTimeNonNegative(r resolver) bool {
	if r.group() == nil {
		if b, ok := c.lookup("@timestamp"); !ok || !b.source {
			return false
		}
	}
	for _, g := range c.t.Groups {
		if g.MinTime < 0 {
			return false
		}
	}
	return true
}

func (c *compiler) call(x *Call, r resolver) (string, Type, error) {
	switch x.Name {
	case "bin":
		d := x.Args[0].(*DurationLit)
		ts, t, _ := r.field("@timestamp")
		if t == TNull {
			return "", 0, errorf(x.P, "bin needs @timestamp, which a stats before it dropped")
		}
		return c.d.Bin(ts, d.N, d.Unit, c.storedTimeNonNegative(r)), TTime, nil
	case "datefloor", "dateceil":
		v, t, err := c.expr(x.Args[0], r)
		if err != nil {
			return "", 0, err
		}
		d := x.Args[1].(*DurationLit)
		if x.Name == "datefloor" {
			return c.d.Bin(c.num(v, t), d.N, d.Unit, false), TTime, nil
		}
		return c.d.Ceil(c.num(v, t), d.N, d.Unit), TTime, nil
	case "now":
		return strconv.FormatInt(c.t.Now/1000, 10), TNumber, nil
	}
	args := make([]string, len(x.Args))
	types := make([]Type, len(x.Args))
	for i, a := range x.Args {
		var err error
		if args[i], types[i], err = c.expr(a, r); err != nil {
			return "", 0, err
		}
	}
	return c.scalarCall(x, args, types)
}

// scalarCall applies the language's coercions, then the dialect's spelling.
func (c *compiler) scalarCall(x *Call, args []string, types []Type) (string, Type, error) {
	conv := make([]string, len(args))
	for i := range args {
		switch x.Name {
		case "abs", "ceil", "floor", "greatest", "least", "log", "sqrt", "pow", "mod", "fromMillis":
			conv[i] = c.num(args[i], types[i])
		case "ispresent", "coalesce", "jsonStringify", "toMillis":
			conv[i] = args[i]
		case "substr":
			if i == 0 {
				conv[i] = c.d.ToText(args[i], types[i])
			} else {
				conv[i] = c.num(args[i], types[i])
			}
		default:
			conv[i] = c.d.ToText(args[i], types[i])
		}
	}
	if x.Name == "coalesce" {
		t := TNull
		for _, ty := range types {
			t = unify(t, ty)
		}
		if t == TAny {
			for i := range conv {
				conv[i] = c.d.ToText(args[i], types[i])
			}
		}
		if t == TNumber && len(conv) > 1 {
			for i := range conv {
				conv[i] = c.unify(conv[i], TNumber)
			}
		}
		return "COALESCE(" + strings.Join(conv, ", ") + ")", t, nil
	}
	sql, t, ok := c.d.Func(x.Name, conv, types)
	if !ok {
		return "", 0, errorf(x.P, "%s is not available on the %s store", x.Name, c.d.Name())
	}
	return sql, t, nil
}

// predicate compiles a filter on a group's table. Comparisons of a stored
// field with literals become comparisons of each of its typed columns in
// their own domain (a trace id against 16 bytes, an address against a
// 32-bit number), so that the store can use them while scanning.
func (c *compiler) predicate(e Expr, r groupResolver) (string, error) {
	switch x := e.(type) {
	case *Binary:
		switch x.Op {
		case "and", "or":
			l, err := c.predicate(x.L, r)
			if err != nil {
				return "", err
			}
			rr, err := c.predicate(x.R, r)
			if err != nil {
				return "", err
			}
			return "(" + l + " " + strings.ToUpper(x.Op) + " " + rr + ")", nil
		case "=", "!=", "<", "<=", ">", ">=":
			if f, lit, op, ok := fieldVsLiteral(x); ok {
				if _, _, cols := r.field(f.Name); len(cols) > 0 {
					return byColumn(cols, func(col store.Column) string { return c.kindCompare(col, op, lit) }), nil
				}
			}
		}
	case *Unary:
		if x.Op == "not" {
			s, err := c.predicate(x.X, r)
			return "(NOT " + s + ")", err
		}
	case *Like:
		if f, ok := x.X.(*FieldRef); ok {
			if sql, ok := c.likeColumns(f.Name, x.Pattern, r); ok {
				if x.Not {
					sql = "(NOT " + sql + ")"
				}
				return sql, nil
			}
		}
	case *In:
		if f, ok := x.X.(*FieldRef); ok {
			if _, _, cols := r.field(f.Name); len(cols) > 0 {
				sql := byColumn(cols, func(col store.Column) string {
					alts := make([]string, len(x.List.Elems))
					for i, el := range x.List.Elems {
						alts[i] = c.kindCompare(col, "=", el)
					}
					return "(" + strings.Join(alts, " OR ") + ")"
				})
				if x.Not {
					sql = "(NOT " + sql + ")"
				}
				return sql, nil
			}
		}
	}
	sql, t, err := c.expr(e, r)
	if err != nil {
		return "", err
	}
	return c.boolean(sql, t), nil
}

// byColumn joins the conditions cond(col) on each typed column of a field.
// An event stores a field in exactly one of them, so the field's answer is
// that column's: with several, a CASE picks the one that is set. A plain
// OR would be NULL, not false, for "v = 1" when v is 2.5 and v also has
// string values (the string column is NULL), and so would its negation;
// the CASE keeps NULL for events without the field only, as with one
// column.
func byColumn(cols []store.Column, cond func(store.Column) string) string {
	if len(cols) == 1 {
		return cond(cols[0])
	}
	var b strings.Builder
	b.WriteString("(CASE")
	for _, col := range cols {
		b.WriteString(" WHEN " + col.Name + " IS NOT NULL THEN " + cond(col))
	}
	b.WriteString(" END)")
	return b.String()
}

// fieldVsLiteral recognizes "field op literal" and "literal op field",
// returning the operator as seen from the field.
func fieldVsLiteral(b *Binary) (*FieldRef, Expr, string, bool) {
	isLit := func(e Expr) bool {
		switch e.(type) {
		case *StringLit, *NumberLit:
			return true
		}
		return false
	}
	if f, ok := b.L.(*FieldRef); ok && isLit(b.R) {
		return f, b.R, b.Op, true
	}
	if f, ok := b.R.(*FieldRef); ok && isLit(b.L) {
		flip := map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
		return f, b.L, flip[b.Op], true
	}
	return nil, nil, "", false
}

// kindCompare compares one typed column with a literal.
func (c *compiler) kindCompare(col store.Column, op string, lit Expr) string {
	sqlOp := op
	if op == "!=" {
		sqlOp = "<>"
	}
	value, vt := c.d.Column(col, store.ColTime)
	var text string
	var num float64
	isNum := false
	switch l := lit.(type) {
	case *StringLit:
		text = l.Value
		if f, err := strconv.ParseFloat(strings.TrimSpace(l.Value), 64); err == nil {
			num, isNum = f, true
		}
	case *NumberLit:
		text, num, isNum = l.Text, l.Value, true
	}
	_, isStringLit := lit.(*StringLit)
	switch col.Kind {
	case event.KindString:
		if isStringLit {
			return "(" + col.Name + " " + sqlOp + " " + c.d.Str(text) + ")"
		}
		return "(" + c.d.ToNumber(col.Name) + " " + sqlOp + " " + c.d.Number(text) + ")"
	case event.KindInt, event.KindFloat:
		if isNum && col.Kind == event.KindInt && num == math.Trunc(num) && math.Abs(num) < 1<<62 {
			// An integer literal keeps the comparison in the column's type, so
			// that the store can use it while scanning (no cast per row).
			return "(" + col.Name + " " + sqlOp + " " + strconv.FormatInt(int64(num), 10) + ")"
		}
		if isNum {
			return "(" + col.Name + " " + sqlOp + " " + c.d.Number(strconv.FormatFloat(num, 'g', -1, 64)) + ")"
		}
		return "(" + c.d.ToText(col.Name, TNumber) + " " + sqlOp + " " + c.d.Str(text) + ")"
	case event.KindID128, event.KindID64, event.KindIPv4:
		if op == "=" || op == "!=" {
			if kl, ok := c.d.KindLiteral(col, text); ok {
				return "(" + col.Name + " " + sqlOp + " " + kl + ")"
			}
			if op == "=" {
				return c.boolLit(false)
			}
			return "(" + col.Name + " IS NOT NULL)"
		}
	case event.KindBool:
		if (op == "=" || op == "!=") && (text == "true" || text == "false") {
			return "(" + col.Name + " " + sqlOp + " " + c.boolLit(text == "true") + ")"
		}
	}
	if isNum && !isStringLit {
		return "(" + c.d.ToNumber(c.d.ToText(value, vt)) + " " + sqlOp + " " + c.d.Number(text) + ")"
	}
	return "(" + c.d.ToText(value, vt) + " " + sqlOp + " " + c.d.Str(text) + ")"
}

// likeColumns compiles "field like pattern" on the typed columns. For
// @message of JSON events it searches the columns instead of rebuilding
// every message, when the text searched cannot span JSON syntax.
func (c *compiler) likeColumns(name string, pattern Expr, r groupResolver) (string, bool) {
	if name == "@message" {
		s, ok := pattern.(*StringLit)
		if !ok || !plainNeedle(s.Value) || len(r.g.Shapes) == 0 {
			return "", false
		}
		return c.messageContains(r.g, s.Value), true
	}
	_, _, cols := r.field(name)
	if len(cols) == 0 {
		return "", false
	}
	return byColumn(cols, func(col store.Column) string {
		target := col.Name
		if col.Kind != event.KindString {
			v, t := c.d.Column(col, store.ColTime)
			target = c.d.ToText(v, t)
		}
		return c.match(target, pattern)
	}), true
}

// plainNeedle reports whether a search text can only occur inside one JSON
// token: it holds no JSON syntax, escapes or control characters.
func plainNeedle(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch < 0x20, ch == '"', ch == '\\', ch == ',', ch == ':', ch == '{', ch == '}', ch == '[', ch == ']':
			return false
		}
	}
	return true
}

// messageContains finds text in @message: in the raw text when it was
// kept; otherwise in the keys of the event's shape or in one of its values.
// A value's column is searched only if its kind can be written with the
// characters of text (numbers hold digits, ids hex digits...).
func (c *compiler) messageContains(g *store.Schema, text string) string {
	needle := c.d.Str(text)
	alts := []string{"(" + store.ColMessage + " IS NOT NULL AND " + c.d.Contains(store.ColMessage, needle) + ")"}
	var shapes []string
	for id, sh := range g.Shapes {
		for _, p := range sh.Pieces {
			if !p.Slot() && strings.Contains(p.Lit, text) {
				shapes = append(shapes, strconv.Itoa(int(id)))
				break
			}
		}
	}
	if len(shapes) > 0 {
		sortStrings(shapes)
		alts = append(alts, "("+store.ColShape+" IS NOT NULL AND "+store.ColShape+" IN ("+strings.Join(shapes, ", ")+"))")
	}
	var cols []store.Column
	for _, cs := range g.Fields {
		cols = append(cols, cs...)
	}
	sortColumns(cols)
	for _, col := range cols {
		if !kindCanHold(col.Kind, text) {
			continue
		}
		if col.Kind == event.KindString {
			alts = append(alts, c.d.Contains(col.Name, needle))
			continue
		}
		v, t := c.d.Column(col, store.ColTime)
		alts = append(alts, c.d.Contains(c.d.ToText(v, t), needle))
	}
	// Every event has a @message: the answer is never NULL (which NOT would
	// keep NULL), even when the columns searched are absent.
	return "COALESCE((" + strings.Join(alts, " OR ") + "), " + c.boolLit(false) + ")"
}

// kindCanHold reports whether text can occur in how a kind is written.
func kindCanHold(k event.Kind, text string) bool {
	allowed := ""
	switch k {
	case event.KindString:
		return true
	case event.KindInt:
		allowed = "0123456789-"
	case event.KindFloat:
		if strings.Contains("NaN", text) || strings.Contains("Infinity", text) || strings.Contains("-Infinity", text) {
			return true
		}
		allowed = "0123456789.-e"
	case event.KindBool:
		return strings.Contains("true", text) || strings.Contains("false", text)
	case event.KindID128, event.KindID64:
		allowed = "0123456789abcdef"
	case event.KindIPv4:
		allowed = "0123456789."
	case event.KindTime:
		allowed = "0123456789-:. TZ"
	}
	for i := 0; i < len(text); i++ {
		if strings.IndexByte(allowed, text[i]) < 0 {
			return false
		}
	}
	return true
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func sortColumns(cols []store.Column) {
	for i := 1; i < len(cols); i++ {
		for j := i; j > 0 && cols[j].Name < cols[j-1].Name; j-- {
			cols[j], cols[j-1] = cols[j-1], cols[j]
		}
	}
}
