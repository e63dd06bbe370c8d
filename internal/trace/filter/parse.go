package filter

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KeywordType is the type of a keyword's values.
type KeywordType uint8

// The keyword types.
const (
	BoolKeyword KeywordType = iota + 1
	NumberKeyword
	StringKeyword
)

// Keywords are the keywords of X-Ray's filter expressions and their types.
var Keywords = map[string]KeywordType{
	"ok": BoolKeyword, "error": BoolKeyword, "throttle": BoolKeyword, "fault": BoolKeyword,
	"partial": BoolKeyword, "inferred": BoolKeyword, "first": BoolKeyword, "last": BoolKeyword,
	"remote": BoolKeyword, "root": BoolKeyword,
	"responsetime": NumberKeyword, "duration": NumberKeyword, "http.status": NumberKeyword,
	"index": NumberKeyword, "coverage": NumberKeyword,
	"http.url": StringKeyword, "http.method": StringKeyword, "http.useragent": StringKeyword,
	"http.clientip": StringKeyword, "user": StringKeyword, "name": StringKeyword, "type": StringKeyword,
	"message": StringKeyword, "availabilityzone": StringKeyword, "instance.id": StringKeyword,
	"resource.arn": StringKeyword,
}

// MaxLength caps the text of one expression, and MaxDepth how deeply it
// may nest, so that a hostile expression cannot exhaust the stack.
const (
	MaxLength = 64 << 10
	MaxDepth  = 100
)

// Error is a syntax error at a position.
type Error struct {
	Pos Pos
	Msg string
}

// Error writes "line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tPunct
)

type token struct {
	kind tokKind
	text string // identifier or punctuation as written; string value unquoted
	pos  Pos
}

type parser struct {
	src   string
	i     int
	line  int
	col   int
	tok   token
	depth int
}

// Parse parses a filter expression.
func Parse(src string) (Expr, error) {
	if len(src) > MaxLength {
		return nil, &Error{Pos: Pos{1, 1}, Msg: fmt.Sprintf("expression longer than %d bytes", MaxLength)}
	}
	if !utf8.ValidString(src) {
		return nil, &Error{Pos: Pos{1, 1}, Msg: "expression is not valid UTF-8"}
	}
	p := &parser{src: src, line: 1, col: 1}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, &Error{Pos: p.tok.pos, Msg: "empty filter expression"}
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.errorf("unexpected %s", p.describe())
	}
	return e, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Pos: p.tok.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) describe() string {
	switch p.tok.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return "string " + quote(p.tok.text)
	case tNumber:
		return "number " + p.tok.text
	}
	return strconv.Quote(p.tok.text)
}

// advance moves past n bytes of src, keeping line and column.
func (p *parser) advance(n int) {
	for k := 0; k < n; k++ {
		if p.src[p.i] == '\n' {
			p.line++
			p.col = 1
		} else {
			p.col++
		}
		p.i++
	}
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '.'
}

func (p *parser) next() error {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.advance(1)
			continue
		}
		break
	}
	pos := Pos{p.line, p.col}
	if p.i >= len(p.src) {
		p.tok = token{kind: tEOF, pos: pos}
		return nil
	}
	c := p.src[p.i]
	switch {
	case isIdentStart(c):
		j := p.i
		for j < len(p.src) && isIdentChar(p.src[j]) {
			j++
		}
		p.tok = token{kind: tIdent, text: p.src[p.i:j], pos: pos}
		p.advance(j - p.i)
	case c >= '0' && c <= '9' || c == '-' || c == '.':
		j := p.i
		if c == '-' {
			j++
		}
		for j < len(p.src) && (p.src[j] >= '0' && p.src[j] <= '9' || p.src[j] == '.' || p.src[j] == 'e' || p.src[j] == 'E' ||
			(p.src[j] == '-' || p.src[j] == '+') && (p.src[j-1] == 'e' || p.src[j-1] == 'E')) {
			j++
		}
		text := p.src[p.i:j]
		if _, err := strconv.ParseFloat(text, 64); err != nil {
			return &Error{Pos: pos, Msg: fmt.Sprintf("invalid number %q", text)}
		}
		p.tok = token{kind: tNumber, text: text, pos: pos}
		p.advance(j - p.i)
	case c == '"':
		var b strings.Builder
		j := p.i + 1
		for {
			if j >= len(p.src) {
				return &Error{Pos: pos, Msg: "unterminated string"}
			}
			ch := p.src[j]
			if ch == '"' {
				j++
				break
			}
			if ch == '\\' {
				if j+1 >= len(p.src) {
					return &Error{Pos: pos, Msg: "unterminated string"}
				}
				switch e := p.src[j+1]; e {
				case '"', '\\', '/':
					b.WriteByte(e)
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					return &Error{Pos: Pos{pos.Line, pos.Col + (j - p.i)}, Msg: fmt.Sprintf("unknown escape \\%c", e)}
				}
				j += 2
				continue
			}
			b.WriteByte(ch)
			j++
		}
		p.tok = token{kind: tString, text: b.String(), pos: pos}
		p.advance(j - p.i)
	default:
		two := ""
		if p.i+1 < len(p.src) {
			two = p.src[p.i : p.i+2]
		}
		switch two {
		case "!=", "<=", ">=", "&&", "||":
			p.tok = token{kind: tPunct, text: two, pos: pos}
			p.advance(2)
			return nil
		}
		switch c {
		case '(', ')', '{', '}', ',', ':', '!', '=', '<', '>':
			p.tok = token{kind: tPunct, text: string(c), pos: pos}
			p.advance(1)
			return nil
		}
		r, _ := utf8.DecodeRuneInString(p.src[p.i:])
		return &Error{Pos: pos, Msg: fmt.Sprintf("unexpected character %q", r)}
	}
	return nil
}

func (p *parser) isWord(w string) bool {
	return p.tok.kind == tIdent && strings.EqualFold(p.tok.text, w)
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tPunct && p.tok.text == s }

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		return p.errorf("expected %q, found %s", s, p.describe())
	}
	return p.next()
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf("expression nested deeper than %d levels", MaxDepth)
	}
	return nil
}

func (p *parser) or() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isWord("OR") || p.isPunct("||") {
		at := p.tok.pos
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: "OR", L: l, R: r, At: at}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isWord("AND") || p.isPunct("&&") {
		at := p.tok.pos
		if err := p.next(); err != nil {
			return nil, err
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: "AND", L: l, R: r, At: at}
	}
	return l, nil
}

func (p *parser) unary() (Expr, error) {
	if p.isPunct("!") || p.isWord("NOT") {
		at := p.tok.pos
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x, At: at}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Expr, error) {
	if p.isPunct("(") {
		if err := p.next(); err != nil {
			return nil, err
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		return e, p.expect(")")
	}
	if p.tok.kind != tIdent {
		return nil, p.errorf("expected a keyword, found %s", p.describe())
	}
	at := p.tok.pos
	word := strings.ToLower(p.tok.text)
	switch {
	case word == "service":
		return p.service(at)
	case word == "id":
		return p.id(at)
	case word == "edge":
		return p.edge(at)
	case word == "group.name":
		return p.group(at)
	case word == "group.arn", word == "account.id", strings.HasPrefix(word, "rootcause."):
		return nil, p.errorf("%s is not supported by sonde", p.tok.text)
	case strings.HasPrefix(word, "annotation."):
		key := p.tok.text[len("annotation."):]
		if key == "" {
			return nil, p.errorf("annotation needs a key (annotation.key)")
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		a := &Annotation{Key: key, At: at}
		if op, ok := p.operator(true, true); ok {
			if err := p.next(); err != nil {
				return nil, err
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			if err := checkOperand(op, v, NumberKeyword|StringKeyword); err != nil {
				return nil, &Error{Pos: at, Msg: err.Error()}
			}
			a.Op, a.Val = op, v
		}
		return a, nil
	}
	typ, ok := Keywords[word]
	if !ok {
		return nil, p.errorf("unknown keyword %q", p.tok.text)
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	k := &Keyword{Name: word, At: at}
	switch typ {
	case BoolKeyword:
		if p.isPunct("=") || p.isPunct("!=") {
			k.Op = p.tok.text
			if err := p.next(); err != nil {
				return nil, err
			}
			if !p.isWord("true") && !p.isWord("false") {
				return nil, p.errorf("%s compares with true or false, not %s", word, p.describe())
			}
			k.Val = Value{Kind: ValueBool, Bool: p.isWord("true")}
			return k, p.next()
		}
		return k, nil
	case NumberKeyword:
		op, ok := p.operator(true, false)
		if !ok {
			return nil, p.errorf("%s needs a comparison (=, !=, <, <=, >, >=), found %s", word, p.describe())
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tNumber {
			return nil, p.errorf("%s compares with a number, not %s", word, p.describe())
		}
		k.Op, k.Val = op, numberValue(p.tok.text)
		return k, p.next()
	default:
		op, ok := p.operator(false, true)
		if !ok {
			return nil, p.errorf("%s needs =, !=, CONTAINS, BEGINSWITH or ENDSWITH, found %s", word, p.describe())
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		if p.tok.kind != tString {
			return nil, p.errorf("%s compares with a quoted string, not %s", word, p.describe())
		}
		k.Op, k.Val = op, Value{Kind: ValueString, Str: p.tok.text}
		return k, p.next()
	}
}

// operator reads a comparison operator at the current token without
// consuming it: ordering operators when num, string ones when str.
func (p *parser) operator(num, str bool) (string, bool) {
	if p.tok.kind == tPunct {
		switch p.tok.text {
		case "=", "!=":
			return p.tok.text, true
		case "<", "<=", ">", ">=":
			return p.tok.text, num
		}
		return "", false
	}
	if str && p.tok.kind == tIdent {
		switch w := strings.ToUpper(p.tok.text); w {
		case "CONTAINS", "BEGINSWITH", "ENDSWITH":
			return w, true
		}
	}
	return "", false
}

func numberValue(text string) Value {
	f, _ := strconv.ParseFloat(text, 64)
	return Value{Kind: ValueNumber, Num: f, Text: text}
}

// value reads a literal: string, number, true or false.
func (p *parser) value() (Value, error) {
	var v Value
	switch {
	case p.tok.kind == tString:
		v = Value{Kind: ValueString, Str: p.tok.text}
	case p.tok.kind == tNumber:
		v = numberValue(p.tok.text)
	case p.isWord("true"), p.isWord("false"):
		v = Value{Kind: ValueBool, Bool: p.isWord("true")}
	default:
		return v, p.errorf("expected a value (string, number, true or false), found %s", p.describe())
	}
	return v, p.next()
}

// checkOperand rejects operators that do not apply to a value's type.
func checkOperand(op string, v Value, _ KeywordType) error {
	switch op {
	case "<", "<=", ">", ">=":
		if v.Kind != ValueNumber {
			return fmt.Errorf("%s compares numbers, not %s", op, v.String())
		}
	case "CONTAINS", "BEGINSWITH", "ENDSWITH":
		if v.Kind != ValueString {
			return fmt.Errorf("%s compares strings, not %s", op, v.String())
		}
	}
	return nil
}

// braces reads an optional "{ filter }".
func (p *parser) braces() (Expr, error) {
	if !p.isPunct("{") {
		return nil, nil
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.isPunct("}") {
		return nil, p.errorf("empty filter in braces")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	return e, p.expect("}")
}

func (p *parser) stringArg(what string) (string, error) {
	if p.tok.kind != tString {
		return "", p.errorf("%s must be a quoted string, found %s", what, p.describe())
	}
	s := p.tok.text
	return s, p.next()
}

func (p *parser) service(at Pos) (Expr, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	s := &Service{At: at}
	if !p.isPunct(")") {
		name, err := p.stringArg("the service name")
		if err != nil {
			return nil, err
		}
		if name == "" {
			return nil, &Error{Pos: at, Msg: "service name must not be empty (write service() for any service)"}
		}
		s.Name = name
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	f, err := p.braces()
	s.Filter = f
	return s, err
}

func (p *parser) id(at Pos) (Expr, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	s := &Service{At: at, ID: true}
	for first := true; !p.isPunct(")"); first = false {
		if !first {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		if p.tok.kind != tIdent {
			return nil, p.errorf("expected name: or type:, found %s", p.describe())
		}
		key := strings.ToLower(p.tok.text)
		keyPos := p.tok.pos
		if err := p.next(); err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v, err := p.stringArg(key)
		if err != nil {
			return nil, err
		}
		switch key {
		case "name":
			s.Name = v
		case "type":
			s.Type = v
		default:
			return nil, &Error{Pos: keyPos, Msg: fmt.Sprintf("id() takes name: and type:, not %s:", key)}
		}
	}
	if s.Name == "" {
		return nil, &Error{Pos: at, Msg: `id() needs a name: id(name: "service")`}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	f, err := p.braces()
	s.Filter = f
	return s, err
}

func (p *parser) edge(at Pos) (Expr, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	src, err := p.stringArg("the source node")
	if err != nil {
		return nil, err
	}
	if err := p.expect(","); err != nil {
		return nil, err
	}
	dst, err := p.stringArg("the destination node")
	if err != nil {
		return nil, err
	}
	if src == "" || dst == "" {
		return nil, &Error{Pos: at, Msg: "edge() node names must not be empty"}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	e := &Edge{Src: src, Dst: dst, At: at}
	e.Filter, err = p.braces()
	return e, err
}

func (p *parser) group(at Pos) (Expr, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	if !p.isPunct("=") && !p.isPunct("!=") {
		return nil, p.errorf("group.name needs = or !=, found %s", p.describe())
	}
	g := &Group{Op: p.tok.text, At: at}
	if err := p.next(); err != nil {
		return nil, err
	}
	name, err := p.stringArg("the group name")
	g.Name = name
	return g, err
}
