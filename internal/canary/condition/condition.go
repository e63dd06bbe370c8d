// Package condition parses and evaluates canary conditions in Gatus' syntax
// (https://github.com/TwiN/gatus#conditions), such as
//
//	[STATUS] == 200
//	[RESPONSE_TIME] < 300
//	[BODY].data[0].id == any(1, 2)
//	len([BODY].items) > 0
//	[CERTIFICATE_EXPIRATION] > 48h
//
// A condition is two operands around one operator (==, !=, <, <=, >, >=)
// that is written with a space on each side, as Gatus requires. An operand
// is a placeholder ([STATUS], [RESPONSE_TIME], [IP], [CONNECTED],
// [CERTIFICATE_EXPIRATION], [BODY] with an optional path such as
// [BODY].data[0].id, [HEADER].Name, [CONTEXT].name), a function (len and
// has of a placeholder; any and pat, only beside == and !=), or literal
// text. Placeholder names are case-insensitive; paths are not.
//
// Templates ({{ name }} in a step's URL, headers and body) insert values
// captured by earlier steps (see Template).
//
// Unlike Gatus, sonde parses conditions when the configuration loads, so
// that a typo is an error with its column instead of a check that always
// fails; a value that cannot be resolved at run time (a missing JSON field,
// a body that is not JSON, a number that is not one) fails the condition
// instead of comparing as 0; and == compares numbers by value (1.0 == 1).
//
// The package imports nothing from sonde.
package condition

import (
	"fmt"
	"strings"
)

// SyntaxError is a condition or operand that does not parse.
type SyntaxError struct {
	// Pos is the byte offset of the fault in the text, from 0.
	Pos int
	Msg string
}

// Error writes the column (from 1) and the message.
func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Pos+1, e.Msg) }

// Op is a comparison operator.
type Op uint8

// The operators, in the order Gatus looks for them in a condition.
const (
	Eq Op = iota + 1 // ==
	Ne               // !=
	Le               // <=
	Ge               // >=
	Gt               // >
	Lt               // <
)

var opText = [...]string{Eq: "==", Ne: "!=", Le: "<=", Ge: ">=", Gt: ">", Lt: "<"}

// String returns the operator as written.
func (o Op) String() string {
	if int(o) < len(opText) && opText[o] != "" {
		return opText[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// numeric reports whether the operator compares numbers.
func (o Op) numeric() bool { return o >= Le }

// Condition is a parsed condition. It is immutable and safe for concurrent
// use.
type Condition struct {
	text        string
	op          Op
	left, right *Operand
}

// Parse parses a condition. Errors are *SyntaxError.
func Parse(text string) (*Condition, error) {
	op, at := findOp(text)
	if op == 0 {
		msg := "missing operator: want one of ==, !=, <, <=, >, >= with a space on each side"
		for _, o := range opText[1:] {
			if i := strings.Index(text, o); i >= 0 {
				return nil, &SyntaxError{Pos: i, Msg: fmt.Sprintf("operator %s must have a space on each side", o)}
			}
		}
		return nil, &SyntaxError{Pos: 0, Msg: msg}
	}
	sep := " " + op.String() + " "
	rightStart := at + len(sep)
	if j := strings.Index(text[rightStart:], sep); j >= 0 {
		return nil, &SyntaxError{Pos: rightStart + j + 1, Msg: fmt.Sprintf("more than one %s operator", op)}
	}
	left, err := parseOperand(text[:at], 0)
	if err != nil {
		return nil, err
	}
	right, err := parseOperand(text[rightStart:], rightStart)
	if err != nil {
		return nil, err
	}
	c := &Condition{text: strings.TrimSpace(text), op: op, left: left, right: right}
	for _, o := range []*Operand{left, right} {
		if (o.kind == kindAny || o.kind == kindPat) && op != Eq && op != Ne {
			return nil, &SyntaxError{Pos: o.pos, Msg: fmt.Sprintf("%s() only compares with == or !=", o.kind.fn())}
		}
	}
	if left.matcher() && right.matcher() {
		return nil, &SyntaxError{Pos: right.pos, Msg: "any() and pat() compare with a value, not with each other"}
	}
	return c, nil
}

// findOp returns the first operator in Gatus' order of preference and its
// offset (the space before it), or 0.
func findOp(text string) (Op, int) {
	for o := Eq; o <= Lt; o++ {
		if i := strings.Index(text, " "+o.String()+" "); i >= 0 {
			return o, i
		}
	}
	return 0, -1
}

// String returns the condition as written, without surrounding spaces.
func (c *Condition) String() string { return c.text }

// Uses reports whether either operand reads the named placeholder
// ("STATUS", "BODY", "CONNECTED"...).
func (c *Condition) Uses(placeholder string) bool {
	return c.left.Uses(placeholder) || c.right.Uses(placeholder)
}

// ContextNames returns the names of the [CONTEXT] values the condition
// reads, in order.
func (c *Condition) ContextNames() []string {
	var out []string
	for _, o := range []*Operand{c.left, c.right} {
		if n, ok := o.ContextName(); ok {
			out = append(out, n)
		}
	}
	return out
}
