package insights

import (
	"regexp"
	"strings"
)

// String prints the query in canonical form: parsing the result gives the
// same query again.
func (q *Query) String() string {
	var parts []string
	if q.Source != nil {
		parts = append(parts, q.Source.String())
	}
	for _, c := range q.Commands {
		parts = append(parts, commandString(c))
	}
	return strings.Join(parts, " | ")
}

// String prints a SOURCE clause.
func (s *Source) String() string {
	var opts []string
	if len(s.Prefixes) > 0 {
		opts = append(opts, "namePrefix: "+stringList(s.Prefixes))
	}
	if len(s.Names) > 0 {
		opts = append(opts, "names: "+stringList(s.Names))
	}
	return "SOURCE logGroups(" + strings.Join(opts, ", ") + ")"
}

func stringList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quoteString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func commandString(c Command) string {
	switch c := c.(type) {
	case *Fields:
		return "fields " + itemsString(c.Items)
	case *Display:
		return "display " + refsString(c.Fields)
	case *Filter:
		if c.Index {
			return "filterIndex " + ExprString(c.Cond)
		}
		return "filter " + ExprString(c.Cond)
	case *Stats:
		s := "stats " + itemsString(c.Agg)
		if len(c.By) > 0 {
			s += " by " + itemsString(c.By)
		}
		return s
	case *Sort:
		keys := make([]string, len(c.Keys))
		for i, k := range c.Keys {
			keys[i] = ExprString(k.Expr)
			switch {
			case k.Desc:
				keys[i] += " desc"
			case k.Dir:
				keys[i] += " asc"
			}
		}
		return "sort " + strings.Join(keys, ", ")
	case *Limit:
		if c.Any {
			return "limit any " + itoa(c.N)
		}
		return "limit " + itoa(c.N)
	case *ParseCommand:
		s := "parse " + ExprString(c.Field) + " "
		if c.Regex {
			return s + regexString(c.Pattern)
		}
		names := make([]string, len(c.Names))
		for i, n := range c.Names {
			names[i] = fieldName(n)
		}
		return s + quoteString(c.Pattern) + " as " + strings.Join(names, ", ")
	case *Dedup:
		return "dedup " + refsString(c.Fields)
	case *Unnest:
		return "unnest " + fieldName(c.Field.Name) + " into " + fieldName(c.Into)
	}
	return mustf("unknown command %T", c)
}

func itemsString(items []Item) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = ExprString(it.Expr)
		if it.Alias != "" {
			s[i] += " as " + fieldName(it.Alias)
		}
	}
	return strings.Join(s, ", ")
}

func refsString(refs []*FieldRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = fieldName(r.Name)
	}
	return strings.Join(s, ", ")
}

var bareName = regexp.MustCompile(`^@?[A-Za-z_][A-Za-z0-9_.@]*$`)

var keywords = map[string]bool{"and": true, "or": true, "not": true, "like": true, "in": true, "as": true,
	"by": true, "asc": true, "desc": true, "into": true, "any": true}

// fieldName prints a field name, in backticks when it needs them.
func fieldName(n string) string {
	if bareName.MatchString(n) && !keywords[strings.ToLower(n)] && !strings.HasSuffix(n, ".") {
		return n
	}
	return "`" + n + "`"
}

func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
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

func regexString(p string) string {
	var b strings.Builder
	b.WriteByte('/')
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			b.WriteByte('\\')
			b.WriteByte(p[i+1])
			i++
		case p[i] == '/':
			b.WriteString(`\/`)
		default:
			b.WriteByte(p[i])
		}
	}
	b.WriteByte('/')
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Operator precedence for printing, lowest first.
func precedence(e Expr) int {
	switch x := e.(type) {
	case *Binary:
		switch x.Op {
		case "or":
			return 1
		case "and":
			return 2
		case "=", "!=", "<", "<=", ">", ">=":
			return 4
		case "+", "-":
			return 5
		case "*", "/", "%":
			return 6
		case "^":
			return 7
		}
	case *Unary:
		if x.Op == "not" {
			return 3
		}
		return 8
	case *Like, *In:
		return 4
	case *NumberLit:
		if strings.HasPrefix(x.Text, "-") {
			return 8
		}
	}
	return 9
}

// ExprString prints an expression in canonical form.
func ExprString(e Expr) string {
	switch x := e.(type) {
	case *FieldRef:
		return fieldName(x.Name)
	case *StringLit:
		return quoteString(x.Value)
	case *NumberLit:
		return x.Text
	case *RegexLit:
		return regexString(x.Pattern)
	case *DurationLit:
		return x.Text
	case *ArrayLit:
		s := make([]string, len(x.Elems))
		for i, el := range x.Elems {
			s[i] = ExprString(el)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case *Unary:
		inner := paren(x.X, precedence(x), false)
		if x.Op == "not" {
			return "not " + inner
		}
		return "-" + inner
	case *Binary:
		p := precedence(x)
		// Comparisons do not chain: both sides of one need parentheses
		// when they are comparisons themselves.
		leftStrict := p == 4 || p == 7
		return paren(x.L, p, leftStrict) + " " + x.Op + " " + paren(x.R, p, p != 7)
	case *Like:
		op := "like"
		switch {
		case x.Tilde:
			op = "=~"
		case x.Not:
			op = "not like"
		}
		return paren(x.X, 4, true) + " " + op + " " + ExprString(x.Pattern)
	case *In:
		op := " in "
		if x.Not {
			op = " not in "
		}
		return paren(x.X, 4, true) + op + ExprString(x.List)
	case *Call:
		if x.Star {
			return x.Name + "(*)"
		}
		s := make([]string, len(x.Args))
		for i, a := range x.Args {
			s[i] = ExprString(a)
		}
		return x.Name + "(" + strings.Join(s, ", ") + ")"
	}
	return mustf("unknown expression %T", e)
}

// paren prints e, in parentheses when its precedence is lower than p (or
// equal, when strict).
func paren(e Expr, p int, strict bool) string {
	ep := precedence(e)
	if ep < p || (strict && ep == p) {
		return "(" + ExprString(e) + ")"
	}
	return ExprString(e)
}
