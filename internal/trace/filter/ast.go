package filter

import (
	"strconv"
	"strings"
)

// Pos is a position in the expression text: line and column from 1
// (columns count bytes).
type Pos struct{ Line, Col int }

// String writes "line:col".
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// Expr is a node of a parsed filter expression.
type Expr interface {
	// Position is where the node starts in the text.
	Position() Pos
	// String writes the node back as filter text; parsing it gives the same
	// tree.
	String() string
}

// Binary is "L AND R" or "L OR R".
type Binary struct {
	Op   string // "AND" or "OR"
	L, R Expr
	At   Pos
}

// Not is "!X" or "NOT X".
type Not struct {
	X  Expr
	At Pos
}

// ValueKind tells a literal's type.
type ValueKind uint8

// The literal kinds.
const (
	ValueString ValueKind = iota + 1
	ValueNumber
	ValueBool
)

// Value is a literal.
type Value struct {
	Kind ValueKind
	Str  string  // ValueString
	Num  float64 // ValueNumber
	Bool bool    // ValueBool
	// Text is the number as written.
	Text string
}

// String writes the literal as filter text.
func (v Value) String() string {
	switch v.Kind {
	case ValueString:
		return quote(v.Str)
	case ValueNumber:
		return v.Text
	}
	return strconv.FormatBool(v.Bool)
}

// Keyword is a keyword test: bare ("fault"), or compared ("responsetime >
// 3", "http.url CONTAINS \"/x\"", "fault = false").
type Keyword struct {
	Name string // lowercase keyword, e.g. "responsetime", "http.url"
	Op   string // "" for a bare boolean keyword; "=", "!=", "<", "<=", ">", ">=", "CONTAINS", "BEGINSWITH", "ENDSWITH"
	Val  Value
	At   Pos
}

// Annotation is "annotation.key", bare (is set) or compared.
type Annotation struct {
	Key string
	Op  string // "" when bare
	Val Value
	At  Pos
}

// Service is service("name") { filter }, service() { filter } or
// id(name: "n", type: "t") { filter }: the trace passes through the node
// (and the filter holds for it).
type Service struct {
	// Name is empty for any service (service()).
	Name string
	// Type is id()'s type (empty: any).
	Type string
	// ID tells that it was written id(...).
	ID     bool
	Filter Expr // nil: no filter
	At     Pos
}

// Edge is edge("a", "b") { filter }: a call from node a to node b.
type Edge struct {
	Src, Dst string
	Filter   Expr // nil: no filter
	At       Pos
}

// Group is group.name = "x": the filter of the trace group named x.
type Group struct {
	Name string
	Op   string // "=" or "!="
	At   Pos
}

// Position implements Expr.
func (e *Binary) Position() Pos { return e.At }

// Position implements Expr.
func (e *Not) Position() Pos { return e.At }

// Position implements Expr.
func (e *Keyword) Position() Pos { return e.At }

// Position implements Expr.
func (e *Annotation) Position() Pos { return e.At }

// Position implements Expr.
func (e *Service) Position() Pos { return e.At }

// Position implements Expr.
func (e *Edge) Position() Pos { return e.At }

// Position implements Expr.
func (e *Group) Position() Pos { return e.At }

// String implements Expr.
func (e *Binary) String() string {
	return "(" + e.L.String() + " " + e.Op + " " + e.R.String() + ")"
}

// String implements Expr.
func (e *Not) String() string { return "!" + e.X.String() }

// String implements Expr.
func (e *Keyword) String() string {
	if e.Op == "" {
		return e.Name
	}
	return e.Name + " " + e.Op + " " + e.Val.String()
}

// String implements Expr.
func (e *Annotation) String() string {
	s := "annotation." + e.Key
	if e.Op == "" {
		return s
	}
	return s + " " + e.Op + " " + e.Val.String()
}

// String implements Expr.
func (e *Service) String() string {
	var b strings.Builder
	if e.ID {
		b.WriteString("id(name: " + quote(e.Name))
		if e.Type != "" {
			b.WriteString(", type: " + quote(e.Type))
		}
		b.WriteString(")")
	} else if e.Name == "" {
		b.WriteString("service()")
	} else {
		b.WriteString("service(" + quote(e.Name) + ")")
	}
	if e.Filter != nil {
		b.WriteString(" { " + e.Filter.String() + " }")
	}
	return b.String()
}

// String implements Expr.
func (e *Edge) String() string {
	s := "edge(" + quote(e.Src) + ", " + quote(e.Dst) + ")"
	if e.Filter != nil {
		s += " { " + e.Filter.String() + " }"
	}
	return s
}

// String implements Expr.
func (e *Group) String() string { return "group.name " + e.Op + " " + quote(e.Name) }

// quote writes a string literal with \" and \\ escaped.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Walk calls fn for e and every node below it, parents first.
func Walk(e Expr, fn func(Expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch x := e.(type) {
	case *Binary:
		Walk(x.L, fn)
		Walk(x.R, fn)
	case *Not:
		Walk(x.X, fn)
	case *Service:
		Walk(x.Filter, fn)
	case *Edge:
		Walk(x.Filter, fn)
	}
}
