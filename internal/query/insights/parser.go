package insights

import (
	"regexp"
	"strconv"
	"strings"
)

// MaxLimit is the largest limit a query may ask for.
const MaxLimit = 100_000

// Parse parses and checks a query. Errors are *Error values whose position
// points at the offending token.
func Parse(src string) (*Query, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	if err := check(q); err != nil {
		return nil, err
	}
	return q, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isWord reports whether the next token is the keyword w (any case).
func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, w)
}

func (p *parser) acceptWord(w string) bool {
	if p.isWord(w) {
		p.i++
		return true
	}
	return false
}

func (p *parser) accept(k tokKind) bool {
	if p.peek().kind == k {
		p.i++
		return true
	}
	return false
}

func (p *parser) acceptOp(op string) bool {
	t := p.peek()
	if t.kind == tOp && t.text == op {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(k tokKind, what string) (token, error) {
	t := p.peek()
	if t.kind != k {
		return t, errorf(t.pos, "expected %s, found %s", what, t.describe())
	}
	p.i++
	return t, nil
}

func (p *parser) query() (*Query, error) {
	q := &Query{}
	if p.peek().kind == tEOF {
		return nil, errorf(p.peek().pos, "empty query")
	}
	if p.isWord("source") {
		src, err := p.source()
		if err != nil {
			return nil, err
		}
		q.Source = src
		if p.peek().kind == tEOF {
			return nil, errorf(p.peek().pos, "expected '|' and a command after SOURCE")
		}
		if _, err := p.expect(tPipe, "'|'"); err != nil {
			return nil, err
		}
	}
	for {
		c, err := p.command()
		if err != nil {
			return nil, err
		}
		q.Commands = append(q.Commands, c)
		if p.peek().kind == tEOF {
			return q, nil
		}
		if _, err := p.expect(tPipe, "'|' between commands"); err != nil {
			return nil, err
		}
	}
}

// source parses SOURCE logGroups(namePrefix: [...]) or SOURCE "name", ...
func (p *parser) source() (*Source, error) {
	t := p.next()
	src := &Source{P: t.pos}
	if p.acceptWord("logGroups") {
		if _, err := p.expect(tLParen, "'(' after logGroups"); err != nil {
			return nil, err
		}
		for p.peek().kind != tRParen {
			key, err := p.expect(tIdent, "namePrefix or names")
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(tColon, "':'"); err != nil {
				return nil, err
			}
			list, err := p.stringList()
			if err != nil {
				return nil, err
			}
			switch strings.ToLower(key.text) {
			case "nameprefix":
				src.Prefixes = append(src.Prefixes, list...)
			case "names", "name", "loggroupnames":
				src.Names = append(src.Names, list...)
			case "class", "accountidentifiers":
				// Log classes and accounts do not exist here: every group matches.
			default:
				return nil, errorf(key.pos, "unknown logGroups option %q (want namePrefix)", key.text)
			}
			if !p.accept(tComma) {
				break
			}
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return src, nil
	}
	for {
		s, err := p.expect(tString, "logGroups(...) or a quoted log group name")
		if err != nil {
			return nil, err
		}
		src.Names = append(src.Names, s.text)
		if !p.accept(tComma) {
			return src, nil
		}
	}
}

func (p *parser) stringList() ([]string, error) {
	if _, err := p.expect(tLBracket, "'['"); err != nil {
		return nil, err
	}
	var out []string
	for p.peek().kind != tRBracket {
		s, err := p.expect(tString, "a quoted string")
		if err != nil {
			return nil, err
		}
		out = append(out, s.text)
		if !p.accept(tComma) {
			break
		}
	}
	_, err := p.expect(tRBracket, "']'")
	return out, err
}

var unsupported = map[string]string{
	"pattern":    "pattern (clustering) is not supported",
	"anomaly":    "anomaly is not supported",
	"diff":       "diff is not supported",
	"logcompare": "logcompare is not supported",
	"unmask":     "unmask is not supported: sonde does not mask data",
	"lookup":     "lookup tables are not supported",
	"join":       "join is not supported",
}

var commandNames = []string{"fields", "display", "filter", "filterIndex", "stats", "sort", "limit", "parse", "dedup", "unnest", "head"}

func (p *parser) command() (Command, error) {
	t := p.peek()
	if t.kind != tIdent {
		return nil, errorf(t.pos, "expected a command (fields, filter, stats, sort, limit, parse, display, dedup, unnest), found %s", t.describe())
	}
	p.i++
	switch name := strings.ToLower(t.text); name {
	case "fields":
		items, err := p.items(false)
		return &Fields{P: t.pos, Items: items}, err
	case "display":
		refs, err := p.fieldList()
		return &Display{P: t.pos, Fields: refs}, err
	case "filter", "filterindex":
		e, err := p.expr()
		return &Filter{P: t.pos, Cond: e, Index: name == "filterindex"}, err
	case "stats":
		return p.stats(t.pos)
	case "sort":
		return p.sort(t.pos)
	case "limit", "head":
		l := &Limit{P: t.pos}
		if p.acceptWord("any") {
			l.Any = true
		}
		n, err := p.expect(tNumber, "a number")
		if err != nil {
			return nil, err
		}
		v, err := strconv.Atoi(n.text)
		if err != nil || v < 1 {
			return nil, errorf(n.pos, "limit must be a whole number from 1 to %d", MaxLimit)
		}
		if v > MaxLimit {
			return nil, errorf(n.pos, "limit %d is above the maximum of %d", v, MaxLimit)
		}
		l.N = v
		return l, nil
	case "parse":
		return p.parse(t.pos)
	case "dedup":
		refs, err := p.fieldList()
		return &Dedup{P: t.pos, Fields: refs}, err
	case "unnest":
		f, err := p.fieldRef()
		if err != nil {
			return nil, err
		}
		if !p.acceptWord("into") {
			return nil, errorf(p.peek().pos, "expected 'into' after the unnested field, found %s", p.peek().describe())
		}
		into, err := p.name()
		return &Unnest{P: t.pos, Field: f, Into: into}, err
	default:
		if msg, ok := unsupported[name]; ok {
			return nil, errorf(t.pos, "%s", msg)
		}
		msg := "unknown command " + strconvQuote(t.text)
		best, bestDist := "", 3
		for _, c := range commandNames {
			if d := editDistance(name, strings.ToLower(c)); d < bestDist {
				best, bestDist = c, d
			}
		}
		if best != "" {
			msg += "; did you mean " + strconvQuote(best) + "?"
		}
		return nil, errorf(t.pos, "%s", msg)
	}
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// items parses "expr [as name], ..." (with "by" ending the list in stats).
func (p *parser) items(inStats bool) ([]Item, error) {
	var out []Item
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		it := Item{Expr: e}
		if p.acceptWord("as") {
			if it.Alias, err = p.name(); err != nil {
				return nil, err
			}
		}
		out = append(out, it)
		if !p.accept(tComma) {
			return out, nil
		}
		if inStats && p.isWord("by") {
			return nil, errorf(p.peek().pos, "expected an expression after ','")
		}
	}
}

func (p *parser) stats(pos Pos) (Command, error) {
	s := &Stats{P: pos}
	var err error
	if s.Agg, err = p.items(true); err != nil {
		return nil, err
	}
	if p.acceptWord("by") {
		if s.By, err = p.items(true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *parser) sort(pos Pos) (Command, error) {
	s := &Sort{P: pos}
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		k := SortKey{Expr: e}
		switch {
		case p.acceptWord("desc"):
			k.Desc, k.Dir = true, true
		case p.acceptWord("asc"):
			k.Dir = true
		}
		s.Keys = append(s.Keys, k)
		if !p.accept(tComma) {
			return s, nil
		}
	}
}

var namedGroup = regexp.MustCompile(`\(\?P?<([A-Za-z_@][A-Za-z0-9_.@]*)>`)

func (p *parser) parse(pos Pos) (Command, error) {
	c := &ParseCommand{P: pos, Field: &FieldRef{P: pos, Name: "@message"}}
	if t := p.peek(); t.kind == tIdent || t.kind == tQuoted {
		f, err := p.fieldRef()
		if err != nil {
			return nil, err
		}
		c.Field = f
	}
	t := p.next()
	switch t.kind {
	case tString:
		c.Pattern = t.text
		if !p.acceptWord("as") {
			return nil, errorf(p.peek().pos, "expected 'as' and field names after the parse pattern, found %s", p.peek().describe())
		}
		for {
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			c.Names = append(c.Names, n)
			if !p.accept(tComma) {
				break
			}
		}
		if stars := strings.Count(c.Pattern, "*"); stars != len(c.Names) {
			return nil, errorf(t.pos, "the parse pattern has %d '*' but %d field names follow 'as'", stars, len(c.Names))
		}
	case tRegex:
		c.Pattern, c.Regex = t.text, true
		if _, err := regexp.Compile(toRE2(t.text)); err != nil {
			return nil, errorf(t.pos, "invalid regex: %v", err)
		}
		for _, m := range namedGroup.FindAllStringSubmatch(t.text, -1) {
			c.Names = append(c.Names, m[1])
		}
		if len(c.Names) == 0 {
			return nil, errorf(t.pos, "the parse regex has no named groups such as (?<name>...)")
		}
	default:
		return nil, errorf(t.pos, "expected a quoted pattern or a /regex/ to parse with, found %s", t.describe())
	}
	return c, nil
}

// toRE2 rewrites (?<name>...) into RE2's (?P<name>...).
func toRE2(re string) string {
	return namedGroup.ReplaceAllStringFunc(re, func(m string) string {
		if strings.HasPrefix(m, "(?P<") {
			return m
		}
		return "(?P<" + m[3:]
	})
}

func (p *parser) fieldList() ([]*FieldRef, error) {
	var out []*FieldRef
	for {
		f, err := p.fieldRef()
		if err != nil {
			return nil, err
		}
		out = append(out, f)
		if !p.accept(tComma) {
			return out, nil
		}
	}
}

func (p *parser) fieldRef() (*FieldRef, error) {
	t := p.peek()
	if t.kind != tIdent && t.kind != tQuoted {
		return nil, errorf(t.pos, "expected a field name, found %s", t.describe())
	}
	p.i++
	return &FieldRef{P: t.pos, Name: t.text}, nil
}

func (p *parser) name() (string, error) {
	f, err := p.fieldRef()
	if err != nil {
		return "", err
	}
	return f.Name, nil
}

// Expressions, lowest precedence first.

func (p *parser) expr() (Expr, error) { return p.orExpr() }

func (p *parser) orExpr() (Expr, error) {
	l, err := p.andExpr()
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		t := p.next()
		r, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.pos, Op: "or", L: l, R: r}
	}
	return l, nil
}

func (p *parser) andExpr() (Expr, error) {
	l, err := p.notExpr()
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		t := p.next()
		r, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.pos, Op: "and", L: l, R: r}
	}
	return l, nil
}

func (p *parser) notExpr() (Expr, error) {
	if p.isWord("not") {
		t := p.next()
		x, err := p.notExpr()
		if err != nil {
			return nil, err
		}
		return &Unary{P: t.pos, Op: "not", X: x}, nil
	}
	return p.cmpExpr()
}

func (p *parser) cmpExpr() (Expr, error) {
	l, err := p.addExpr()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.kind == tOp && (t.text == "=" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
		p.i++
		r, err := p.addExpr()
		if err != nil {
			return nil, err
		}
		return &Binary{P: t.pos, Op: t.text, L: l, R: r}, nil
	case t.kind == tOp && t.text == "=~":
		p.i++
		pat, err := p.pattern()
		return &Like{P: t.pos, X: l, Pattern: pat, Tilde: true}, err
	case p.isWord("like"):
		p.i++
		pat, err := p.pattern()
		return &Like{P: t.pos, X: l, Pattern: pat}, err
	case p.isWord("in"):
		p.i++
		list, err := p.array()
		return &In{P: t.pos, X: l, List: list}, err
	case p.isWord("not"):
		n := p.toks[p.i+1]
		switch {
		case n.kind == tIdent && strings.EqualFold(n.text, "like"):
			p.i += 2
			pat, err := p.pattern()
			return &Like{P: t.pos, X: l, Pattern: pat, Not: true}, err
		case n.kind == tIdent && strings.EqualFold(n.text, "in"):
			p.i += 2
			list, err := p.array()
			return &In{P: t.pos, X: l, List: list, Not: true}, err
		}
	}
	return l, nil
}

func (p *parser) pattern() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return &StringLit{P: t.pos, Value: t.text}, nil
	case tRegex:
		if _, err := regexp.Compile(toRE2(t.text)); err != nil {
			return nil, errorf(t.pos, "invalid regex: %v", err)
		}
		return &RegexLit{P: t.pos, Pattern: t.text}, nil
	}
	return nil, errorf(t.pos, "expected a quoted string or a /regex/, found %s", t.describe())
}

func (p *parser) array() (*ArrayLit, error) {
	t, err := p.expect(tLBracket, "'[' starting a list")
	if err != nil {
		return nil, err
	}
	a := &ArrayLit{P: t.pos}
	for p.peek().kind != tRBracket {
		e, err := p.addExpr()
		if err != nil {
			return nil, err
		}
		a.Elems = append(a.Elems, e)
		if !p.accept(tComma) {
			break
		}
	}
	if _, err := p.expect(tRBracket, "']'"); err != nil {
		return nil, err
	}
	return a, nil
}

func (p *parser) addExpr() (Expr, error) {
	l, err := p.mulExpr()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || (t.text != "+" && t.text != "-") {
			return l, nil
		}
		p.i++
		r, err := p.mulExpr()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.pos, Op: t.text, L: l, R: r}
	}
}

func (p *parser) mulExpr() (Expr, error) {
	l, err := p.powExpr()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || (t.text != "*" && t.text != "/" && t.text != "%") {
			return l, nil
		}
		p.i++
		r, err := p.powExpr()
		if err != nil {
			return nil, err
		}
		l = &Binary{P: t.pos, Op: t.text, L: l, R: r}
	}
}

func (p *parser) powExpr() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tOp && t.text == "^" {
		p.i++
		r, err := p.powExpr()
		if err != nil {
			return nil, err
		}
		return &Binary{P: t.pos, Op: "^", L: l, R: r}, nil
	}
	return l, nil
}

func (p *parser) unary() (Expr, error) {
	if t := p.peek(); t.kind == tOp && t.text == "-" {
		p.i++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if n, ok := x.(*NumberLit); ok {
			return &NumberLit{P: t.pos, Text: "-" + n.Text, Value: -n.Value}, nil
		}
		return &Unary{P: t.pos, Op: "-", X: x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tNumber:
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, errorf(t.pos, "invalid number %q", t.text)
		}
		return &NumberLit{P: t.pos, Text: t.text, Value: v}, nil
	case tString:
		return &StringLit{P: t.pos, Value: t.text}, nil
	case tRegex:
		return &RegexLit{P: t.pos, Pattern: t.text}, nil
	case tDuration:
		return parseDuration(t)
	case tQuoted:
		return &FieldRef{P: t.pos, Name: t.text}, nil
	case tLParen:
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return e, nil
	case tLBracket:
		p.i--
		return p.array()
	case tIdent:
		if p.peek().kind == tLParen {
			return p.call(t)
		}
		switch strings.ToLower(t.text) {
		case "and", "or", "not", "like", "in", "by", "as", "asc", "desc":
			return nil, errorf(t.pos, "expected an expression, found keyword %q", t.text)
		}
		return &FieldRef{P: t.pos, Name: t.text}, nil
	}
	return nil, errorf(t.pos, "expected an expression, found %s", t.describe())
}

func parseDuration(t token) (Expr, error) {
	i := 0
	for i < len(t.text) && (isDigit(t.text[i]) || t.text[i] == '.') {
		i++
	}
	num, unit := t.text[:i], strings.ToLower(t.text[i:])
	canon, ok := durationUnits[unit]
	if !ok {
		return nil, errorf(t.pos, "unknown time unit %q in %q (use ms, s, m, h, d, w, mo, q or y)", t.text[i:], t.text)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 {
		return nil, errorf(t.pos, "a time period needs a whole positive number, found %q", t.text)
	}
	return &DurationLit{P: t.pos, Text: t.text, N: n, Unit: canon}, nil
}

func (p *parser) call(name token) (Expr, error) {
	p.i++ // '('
	spec, ok := lookupFunc(name.text)
	if !ok {
		msg := "unknown function " + strconv.Quote(name.text)
		if s := suggestFunc(name.text); s != "" {
			msg += "; did you mean " + strconv.Quote(s) + "?"
		}
		return nil, errorf(name.pos, "%s", msg)
	}
	c := &Call{P: name.pos, Name: spec.name}
	if t := p.peek(); t.kind == tOp && t.text == "*" {
		if spec.name != "count" {
			return nil, errorf(t.pos, "only count accepts *")
		}
		p.i++
		c.Star = true
	} else {
		for p.peek().kind != tRParen {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, e)
			if !p.accept(tComma) {
				break
			}
		}
	}
	if _, err := p.expect(tRParen, "')' closing "+spec.name+"("); err != nil {
		return nil, err
	}
	n := len(c.Args)
	switch {
	case spec.max >= 0 && n > spec.max, n < spec.min && !c.Star:
		want := strconv.Itoa(spec.min)
		switch {
		case spec.max < 0:
			want = "at least " + want
		case spec.max != spec.min:
			want = want + " to " + strconv.Itoa(spec.max)
		}
		return nil, errorf(name.pos, "%s takes %s argument(s), got %d", spec.name, want, n)
	}
	return c, nil
}
