package insights

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is a lexical category.
type tokKind int

const (
	tEOF      tokKind = iota
	tIdent            // field names, keywords, function names: @?[A-Za-z_][A-Za-z0-9_.@]*
	tQuoted           // `backtick field name`
	tString           // "..." or '...'
	tRegex            // /.../
	tNumber           // 12, 1.5, 1e3
	tDuration         // 30s, 5m (a number glued to a unit)
	tPipe
	tComma
	tLParen
	tRParen
	tLBracket
	tRBracket
	tColon
	tOp // + - * / ^ % = != < <= > >= =~
)

var tokNames = [...]string{
	tEOF: "end of query", tIdent: "name", tQuoted: "quoted name", tString: "string", tRegex: "regex",
	tNumber: "number", tDuration: "duration", tPipe: "'|'", tComma: "','", tLParen: "'('",
	tRParen: "')'", tLBracket: "'['", tRBracket: "']'", tColon: "':'", tOp: "operator",
}

func (k tokKind) String() string { return tokNames[k] }

// Pos is a position in the query text, from 1.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

type token struct {
	kind tokKind
	text string // raw text; for strings, regexes and quoted names the decoded value
	pos  Pos
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return fmt.Sprintf("string %q", t.text)
	case tIdent, tNumber, tDuration, tOp:
		return fmt.Sprintf("%q", t.text)
	}
	return t.kind.String()
}

// Error is a query error with the position it was found at.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// lex splits a query into tokens. A '/' starts a regex where an operand is
// expected and divides after an operand.
func lex(src string) ([]token, error) {
	var toks []token
	command := "" // the current command's name, lower case
	line, lineStart := 1, 0
	pos := func(i int) Pos { return Pos{Line: line, Col: utf8.RuneCountInString(src[lineStart:i]) + 1} }
	afterOperand := func() bool {
		if len(toks) == 0 {
			return false
		}
		switch toks[len(toks)-1].kind {
		case tIdent, tQuoted, tString, tNumber, tDuration, tRParen, tRBracket, tRegex:
			k := strings.ToLower(toks[len(toks)-1].text)
			// After these keywords an operand follows.
			return toks[len(toks)-1].kind != tIdent || !(k == "like" || k == "and" || k == "or" || k == "not" || k == "in" || k == "filter" || k == "parse" || k == "as")
		}
		return false
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			i++
			line, lineStart = line+1, i
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '|':
			toks = append(toks, token{tPipe, "|", pos(i)})
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", pos(i)})
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", pos(i)})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", pos(i)})
			i++
		case c == '[':
			toks = append(toks, token{tLBracket, "[", pos(i)})
			i++
		case c == ']':
			toks = append(toks, token{tRBracket, "]", pos(i)})
			i++
		case c == ':':
			toks = append(toks, token{tColon, ":", pos(i)})
			i++
		case c == '"' || c == '\'':
			p := pos(i)
			s, n, err := lexQuoted(src[i:], c, p)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s, p})
			i += n
		case c == '`':
			p := pos(i)
			end := strings.IndexByte(src[i+1:], '`')
			if end < 0 {
				return nil, errorf(p, "unterminated quoted name")
			}
			if end == 0 {
				return nil, errorf(p, "empty quoted name")
			}
			toks = append(toks, token{tQuoted, src[i+1 : i+1+end], p})
			i += end + 2
		case c == '/' && (!afterOperand() || command == "parse"):
			p := pos(i)
			s, n, err := lexRegex(src[i:], p)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tRegex, s, p})
			i += n
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9'):
			p := pos(i)
			j := lexNumber(src, i)
			k := j
			for k < len(src) && isLetter(src[k]) {
				k++
			}
			if k > j {
				toks = append(toks, token{tDuration, src[i:k], p})
				i = k
			} else {
				toks = append(toks, token{tNumber, src[i:j], p})
				i = j
			}
		case isLetter(c) || c == '@' || c == '_':
			p := pos(i)
			j := i + 1
			for j < len(src) && (isLetter(src[j]) || isDigit(src[j]) || src[j] == '_' || src[j] == '.' || src[j] == '@') {
				j++
			}
			if len(toks) == 0 || toks[len(toks)-1].kind == tPipe {
				command = strings.ToLower(src[i:j])
			}
			toks = append(toks, token{tIdent, src[i:j], p})
			i = j
		default:
			p := pos(i)
			for _, op := range []string{"!=", "<=", ">=", "=~", "==", "<>", "+", "-", "*", "/", "^", "%", "=", "<", ">"} {
				if strings.HasPrefix(src[i:], op) {
					text := op
					switch op {
					case "==":
						text = "="
					case "<>":
						text = "!="
					}
					toks = append(toks, token{tOp, text, p})
					i += len(op)
					goto next
				}
			}
			{
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, errorf(p, "unexpected character %q", r)
			}
		next:
		}
	}
	toks = append(toks, token{tEOF, "", pos(len(src))})
	return toks, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func lexNumber(src string, i int) int {
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i < len(src) && src[i] == '.' && i+1 < len(src) && isDigit(src[i+1]) {
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			return j
		}
	}
	return i
}

// lexQuoted decodes a quoted string starting at s[0] == q. Backslash escapes
// \n \t \r \\ and the quote; any other escaped character stands for itself
// with its backslash, so that patterns like "\d" survive.
func lexQuoted(s string, q byte, p Pos) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '"', '\'':
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		case c == '\n':
			return "", 0, errorf(p, "unterminated string")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errorf(p, "unterminated string")
}

// lexRegex reads /.../; "\/" stands for a slash, other escapes are kept for
// the regex engine.
func lexRegex(s string, p Pos) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			if s[i+1] == '/' {
				b.WriteByte('/')
			} else {
				b.WriteByte('\\')
				b.WriteByte(s[i+1])
			}
			i++
		case c == '\n':
			return "", 0, errorf(p, "unterminated regex")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, errorf(p, "unterminated regex")
}
