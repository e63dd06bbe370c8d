package insights

import (
	"strings"

	"github.com/sonde-dev/sonde/internal/store"
)

// Type is the static type of a compiled expression.
type Type int

// The types. TTime values are Unix milliseconds shown as timestamps; TAny is
// text that may hold a number (fields seen with several kinds, parse
// results), converted where a number is needed.
const (
	TNull Type = iota
	TNumber
	TString
	TBool
	TTime
	TAny
	TJSON
)

var typeNames = [...]string{TNull: "null", TNumber: "number", TString: "string", TBool: "bool", TTime: "time", TAny: "string", TJSON: "json"}

func (t Type) String() string { return typeNames[t] }

// Dialect writes the SQL of one store. The compiler decides what to compute;
// a Dialect decides how its database spells it. Every method returns an SQL
// expression; arguments are SQL expressions already.
//
// Implementations must be stateless and safe for concurrent use.
type Dialect interface {
	// Name is the store's dialect name, as store.Store.Dialect reports it.
	Name() string

	// Ident quotes an identifier; Str quotes a string literal; Number writes
	// a numeric literal as a double (text as the query wrote it).
	Ident(name string) string
	Str(s string) string
	Number(text string) string

	// Column reads a physical column as the value a query sees: numbers and
	// bools as such, ids, addresses and times as text. ts is the @timestamp
	// column (KindTime columns are rendered from it).
	Column(c store.Column, ts string) (string, Type)
	// JSONToken writes a column's value as the JSON token of a rebuilt
	// @message (strings quoted and escaped, numbers as DuckDB's to_json).
	JSONToken(c store.Column, ts string) string
	// KindLiteral converts a literal to a column's physical domain for a
	// direct comparison, reporting false when the literal cannot be a value
	// of that kind (so that = is false and != true for that column).
	KindLiteral(c store.Column, lit string) (string, bool)
	// Concat joins string expressions.
	Concat(parts ...string) string

	// ToNumber converts text to a double, NULL when it is not a number.
	ToNumber(x string) string
	// ToText writes a value of type t as text.
	ToText(x string, t Type) string

	// Contains, RegexMatch: case-sensitive substring and regex search.
	Contains(x, sub string) string
	RegexMatch(x, re string) string
	// RegexExtract evaluates re once and returns an expression for the
	// captures (empty when unmatched) and how to read capture i from it.
	RegexExtract(x, re string, names []string) (string, func(structCol string, i int) string)

	// Power and Mod are the ^ and % operators.
	Power(a, b string) string
	Mod(a, b string) string

	// Func writes a scalar function of the language (canonical name) or
	// reports false when the dialect lacks it.
	Func(name string, args []string, types []Type) (string, Type, bool)
	// Bin floors a millisecond timestamp to a period (unit as in
	// DurationLit); Ceil rounds it up. nonNegative promises ts >= 0, which
	// spares the correction that flooring negative values needs (SQL's %
	// truncates toward zero).
	Bin(ts string, n int64, unit string, nonNegative bool) string
	Ceil(ts string, n int64, unit string) string
	// Aggregate writes an aggregate function of the language. ts is the
	// @timestamp expression for earliest and latest.
	Aggregate(name string, args []string, types []Type, ts string) (string, Type)

	// Dedup keeps, of the rows of inner, the first by order for each value of
	// keys; rows with a NULL key are all kept.
	Dedup(inner string, keys, order []string) string
	// Unnest expands list (an SQL list of element expressions, or a JSON
	// array text when json is true) into one row per non-NULL element,
	// named as.
	Unnest(inner string, elems []string, jsonText string, as string) string
}

// quirks is implemented by dialects whose database lacks a standard
// construct that the compiler writes itself; the compiler then asks the
// dialect. Dialects without it get standard SQL (TRUE, CASE x WHEN ...,
// COALESCE and UNION ALL of mixed numeric types).
type quirks interface {
	// Bool writes a boolean literal.
	Bool(v bool) string
	// Switch writes CASE x WHEN keys[i] THEN values[i] ... END.
	Switch(x string, keys, values []string) string
	// Unify converts an expression of type t that the compiler merges with
	// differently typed ones (COALESCE arguments, UNION ALL branches) to
	// the SQL type that all expressions of type t share.
	Unify(sql string, t Type) string
	// MarkMatched marks rel in the SQL: the relation whose rows are the
	// ones the query matched (store.QueryStats.RowsMatched), that is the
	// input of its first aggregation, dedup or limit, or of the final
	// ORDER BY ... LIMIT when final is true. A store that cannot tell from
	// its plan counts the rows of the marked relation. scanned, when not
	// empty, is an SQL statement that counts them more cheaply: they are
	// all the rows scanned.
	MarkMatched(rel string, final bool, scanned string) string
	// Varying makes a constant, non-NULL expression a column that is
	// computed per row, for UNION ALL branches whose columns are constant
	// in every branch.
	Varying(sql string) string
}

// boolLit writes a boolean literal in c's dialect.
func (c *compiler) boolLit(v bool) string {
	if q, ok := c.d.(quirks); ok {
		return q.Bool(v)
	}
	if v {
		return "TRUE"
	}
	return "FALSE"
}

// switchExpr writes CASE x WHEN keys[i] THEN values[i] ... END.
func (c *compiler) switchExpr(x string, keys, values []string) string {
	if q, ok := c.d.(quirks); ok {
		return q.Switch(x, keys, values)
	}
	var b strings.Builder
	b.WriteString("CASE " + x)
	for i := range keys {
		b.WriteString(" WHEN " + keys[i] + " THEN " + values[i])
	}
	b.WriteString(" END")
	return b.String()
}

// unify gives sql of type t the SQL type all expressions of type t share
// (see quirks.Unify).
func (c *compiler) unify(sql string, t Type) string {
	if q, ok := c.d.(quirks); ok {
		return q.Unify(sql, t)
	}
	return sql
}

// varying makes a constant expression a per-row column where the dialect
// needs that (see quirks.Varying).
func (c *compiler) varying(sql string) string {
	if q, ok := c.d.(quirks); ok && sql != "NULL" {
		return q.Varying(sql)
	}
	return sql
}

// markMatched marks the relation whose rows the query matched (see
// quirks.MarkMatched).
func (c *compiler) markMatched(rel string, final bool, scanned string) string {
	if q, ok := c.d.(quirks); ok {
		return q.MarkMatched(rel, final, scanned)
	}
	return rel
}
