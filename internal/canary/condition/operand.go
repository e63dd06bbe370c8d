package condition

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is what an operand is.
type kind uint8

const (
	kindLiteral kind = iota
	kindPlaceholder
	kindLen
	kindHas
	kindAny
	kindPat
)

// fn returns the function name of a function kind.
func (k kind) fn() string {
	switch k {
	case kindLen:
		return "len"
	case kindHas:
		return "has"
	case kindAny:
		return "any"
	case kindPat:
		return "pat"
	}
	return ""
}

// The placeholders sonde supports, by upper-case name.
const (
	Status                = "STATUS"
	ResponseTime          = "RESPONSE_TIME"
	IP                    = "IP"
	Connected             = "CONNECTED"
	CertificateExpiration = "CERTIFICATE_EXPIRATION"
	Body                  = "BODY"
	Header                = "HEADER"
	Context               = "CONTEXT"
)

// Operand is one side of a condition, or a capture expression. It is
// immutable and safe for concurrent use.
type Operand struct {
	text    string // as written, trimmed
	pos     int    // offset of text in what was parsed
	kind    kind
	ph      placeholder // kindPlaceholder, kindLen, kindHas
	options []string    // kindAny
	pattern string      // kindPat
}

// placeholder is a parsed [NAME] with its path or key.
type placeholder struct {
	name string     // upper case
	path []pathStep // BODY
	key  string     // HEADER, CONTEXT
}

// pathStep is one step of a [BODY] path: a field name or an array index.
type pathStep struct {
	key     string
	index   int
	isIndex bool
}

// ParseOperand parses a single operand, such as a capture expression
// ("[BODY].token", "[HEADER].Location"). Errors are *SyntaxError.
func ParseOperand(text string) (*Operand, error) {
	return parseOperand(text, 0)
}

// parseOperand parses text found at offset base of a condition.
func parseOperand(text string, base int) (*Operand, error) {
	trimmed := strings.TrimLeft(text, " \t")
	pos := base + len(text) - len(trimmed)
	t := strings.TrimRight(trimmed, " \t")
	if t == "" {
		return nil, &SyntaxError{Pos: base, Msg: "missing operand"}
	}
	o := &Operand{text: t, pos: pos}
	for _, k := range []kind{kindLen, kindHas, kindAny, kindPat} {
		prefix := k.fn() + "("
		if !strings.HasPrefix(t, prefix) {
			continue
		}
		if !strings.HasSuffix(t, ")") {
			return nil, &SyntaxError{Pos: pos + len(t), Msg: fmt.Sprintf("missing ) to close %s(", k.fn())}
		}
		inner := t[len(prefix) : len(t)-1]
		innerPos := pos + len(prefix)
		o.kind = k
		switch k {
		case kindLen, kindHas:
			arg := strings.TrimLeft(inner, " \t")
			argPos := innerPos + len(inner) - len(arg)
			ph, ok, err := parsePlaceholder(strings.TrimRight(arg, " \t"), argPos)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, &SyntaxError{Pos: argPos, Msg: fmt.Sprintf("%s() takes a placeholder, such as %s([BODY].items)", k.fn(), k.fn())}
			}
			o.ph = ph
		case kindAny:
			if strings.TrimSpace(inner) == "" {
				return nil, &SyntaxError{Pos: innerPos, Msg: "any() needs at least one value"}
			}
			for opt := range strings.SplitSeq(inner, ",") {
				o.options = append(o.options, strings.TrimSpace(opt))
			}
		case kindPat:
			o.pattern = inner
		}
		return o, nil
	}
	ph, ok, err := parsePlaceholder(t, pos)
	if err != nil {
		return nil, err
	}
	if ok {
		o.kind, o.ph = kindPlaceholder, ph
	}
	return o, nil
}

// parsePlaceholder parses "[NAME]" and what follows it. ok is false for
// text that is not a placeholder (a literal such as "[1, 2]").
func parsePlaceholder(t string, pos int) (ph placeholder, ok bool, err error) {
	if !strings.HasPrefix(t, "[") {
		return ph, false, nil
	}
	end := 1
	for end < len(t) && (t[end] == '_' || isLetter(t[end])) {
		end++
	}
	if end == 1 {
		return ph, false, nil
	}
	if end == len(t) {
		return ph, false, &SyntaxError{Pos: pos + end, Msg: fmt.Sprintf("missing ] after [%s", t[1:end])}
	}
	if t[end] != ']' {
		return ph, false, nil
	}
	name := strings.ToUpper(t[1:end])
	rest, restPos := t[end+1:], pos+end+1
	ph.name = name
	switch name {
	case Status, ResponseTime, IP, Connected, CertificateExpiration:
		if rest != "" {
			return ph, false, &SyntaxError{Pos: restPos, Msg: fmt.Sprintf("unexpected %q after [%s]", rest, name)}
		}
	case Body:
		if ph.path, err = parsePath(rest, restPos); err != nil {
			return ph, false, err
		}
	case Header, Context:
		key, found := strings.CutPrefix(rest, ".")
		if !found || key == "" {
			example := "[HEADER].Content-Type"
			if name == Context {
				example = "[CONTEXT].token"
			}
			return ph, false, &SyntaxError{Pos: restPos, Msg: fmt.Sprintf("[%s] needs a name, as in %s", name, example)}
		}
		ph.key = key
	case "DOMAIN_EXPIRATION", "DNS_RCODE":
		return ph, false, &SyntaxError{Pos: pos, Msg: fmt.Sprintf("[%s] is not supported by sonde canaries", name)}
	default:
		return ph, false, &SyntaxError{Pos: pos, Msg: fmt.Sprintf("unknown placeholder [%s]", t[1:end])}
	}
	return ph, true, nil
}

// parsePath parses a [BODY] path: ".field" and "[index]" steps.
func parsePath(s string, pos int) ([]pathStep, error) {
	var path []pathStep
	for i := 0; i < len(s); {
		switch s[i] {
		case '.':
			j := i + 1
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			if j == i+1 {
				return nil, &SyntaxError{Pos: pos + i + 1, Msg: "empty field name in [BODY] path"}
			}
			path = append(path, pathStep{key: s[i+1 : j]})
			i = j
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, &SyntaxError{Pos: pos + i, Msg: "missing ] in [BODY] path"}
			}
			digits := s[i+1 : i+j]
			n, err := strconv.Atoi(digits)
			if err != nil || n < 0 || digits[0] == '+' {
				return nil, &SyntaxError{Pos: pos + i + 1, Msg: fmt.Sprintf("array index %q is not a number", digits)}
			}
			path = append(path, pathStep{index: n, isIndex: true})
			i += j + 1
		default:
			return nil, &SyntaxError{Pos: pos + i, Msg: fmt.Sprintf("unexpected %q in [BODY] path: want .field or [index]", s[i:])}
		}
	}
	return path, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// String returns the operand as written.
func (o *Operand) String() string { return o.text }

// IsLiteral reports whether the operand is plain text, not a placeholder
// or function.
func (o *Operand) IsLiteral() bool { return o.kind == kindLiteral }

// Uses reports whether the operand reads the named placeholder.
func (o *Operand) Uses(placeholder string) bool {
	switch o.kind {
	case kindPlaceholder, kindLen, kindHas:
		return o.ph.name == placeholder
	}
	return false
}

// ContextName returns the name of the [CONTEXT] value the operand reads.
func (o *Operand) ContextName() (string, bool) {
	if o.Uses(Context) {
		return o.ph.key, true
	}
	return "", false
}

// matcher reports whether the operand is any() or pat().
func (o *Operand) matcher() bool { return o.kind == kindAny || o.kind == kindPat }
