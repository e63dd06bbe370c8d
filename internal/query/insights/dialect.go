package insights

import "github.com/sonde-dev/sonde/internal/store"

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
	// DurationLit); Ceil rounds it up.
	Bin(ts string, n int64, unit string) string
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
