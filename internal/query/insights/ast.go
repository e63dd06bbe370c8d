package insights

// Query is a parsed Logs Insights query.
type Query struct {
	// Source, when set, picks the log groups (SOURCE logGroups(...)).
	Source   *Source
	Commands []Command
}

// Command is one stage of the pipeline.
type Command interface {
	Position() Pos
	command()
}

// Expr is an expression.
type Expr interface {
	Position() Pos
	expr()
}

// Item is an expression with an optional alias ("expr as name").
type Item struct {
	Expr  Expr
	Alias string
}

// Source selects log groups by name prefix or exact name.
type Source struct {
	P        Pos
	Prefixes []string
	Names    []string
}

// Fields projects fields and computes ephemeral ones.
type Fields struct {
	P     Pos
	Items []Item
}

// Display sets the output columns; only the last display counts.
type Display struct {
	P      Pos
	Fields []*FieldRef
}

// Filter keeps the events for which Cond is true.
type Filter struct {
	P    Pos
	Cond Expr
	// Index is true for filterIndex, which behaves like filter here.
	Index bool
}

// Stats aggregates, optionally by groups.
type Stats struct {
	P   Pos
	Agg []Item
	By  []Item
}

// Sort orders the results.
type Sort struct {
	P    Pos
	Keys []SortKey
}

// SortKey is one sort expression.
type SortKey struct {
	Expr Expr
	Desc bool
	// Dir is true when asc or desc was written.
	Dir bool
}

// Limit caps the number of results.
type Limit struct {
	P   Pos
	N   int
	Any bool
}

// ParseCommand extracts ephemeral fields from a field with a glob or a regex.
type ParseCommand struct {
	P       Pos
	Field   Expr
	Pattern string
	Regex   bool
	// Names are the fields a glob binds, in order; for a regex, its named
	// groups.
	Names []string
}

// Dedup keeps the first result for each combination of Fields.
type Dedup struct {
	P      Pos
	Fields []*FieldRef
}

// Unnest turns each element of an array field into its own result.
type Unnest struct {
	P     Pos
	Field *FieldRef
	Into  string
}

func (c *Source) Position() Pos       { return c.P }
func (c *Fields) Position() Pos       { return c.P }
func (c *Display) Position() Pos      { return c.P }
func (c *Filter) Position() Pos       { return c.P }
func (c *Stats) Position() Pos        { return c.P }
func (c *Sort) Position() Pos         { return c.P }
func (c *Limit) Position() Pos        { return c.P }
func (c *ParseCommand) Position() Pos { return c.P }
func (c *Dedup) Position() Pos        { return c.P }
func (c *Unnest) Position() Pos       { return c.P }

func (*Fields) command()       {}
func (*Display) command()      {}
func (*Filter) command()       {}
func (*Stats) command()        {}
func (*Sort) command()         {}
func (*Limit) command()        {}
func (*ParseCommand) command() {}
func (*Dedup) command()        {}
func (*Unnest) command()       {}

// FieldRef names a field.
type FieldRef struct {
	P    Pos
	Name string
}

// StringLit is a quoted string.
type StringLit struct {
	P     Pos
	Value string
}

// NumberLit is a number as written.
type NumberLit struct {
	P     Pos
	Text  string
	Value float64
}

// RegexLit is a /regex/.
type RegexLit struct {
	P       Pos
	Pattern string
}

// DurationLit is a number with a time unit, as in bin(5m).
type DurationLit struct {
	P    Pos
	Text string
	N    int64
	Unit string // canonical: ms s m h d w mo q y
}

// ArrayLit is [a, b, ...].
type ArrayLit struct {
	P     Pos
	Elems []Expr
}

// Unary is -x or not x.
type Unary struct {
	P  Pos
	Op string
	X  Expr
}

// Binary is an arithmetic, comparison or boolean operation.
type Binary struct {
	P    Pos
	Op   string // + - * / ^ % = != < <= > >= and or
	L, R Expr
}

// Like is x like "substring", x like /regex/ or x =~ /regex/.
type Like struct {
	P       Pos
	X       Expr
	Pattern Expr // *StringLit or *RegexLit
	Not     bool
	Tilde   bool // written with =~
}

// In is x in [...] or x not in [...].
type In struct {
	P    Pos
	X    Expr
	List *ArrayLit
	Not  bool
}

// Call is a function call; Name is the canonical spelling.
type Call struct {
	P    Pos
	Name string
	Args []Expr
	// Star is count(*).
	Star bool
}

func (e *FieldRef) Position() Pos    { return e.P }
func (e *StringLit) Position() Pos   { return e.P }
func (e *NumberLit) Position() Pos   { return e.P }
func (e *RegexLit) Position() Pos    { return e.P }
func (e *DurationLit) Position() Pos { return e.P }
func (e *ArrayLit) Position() Pos    { return e.P }
func (e *Unary) Position() Pos       { return e.P }
func (e *Binary) Position() Pos      { return e.P }
func (e *Like) Position() Pos        { return e.P }
func (e *In) Position() Pos          { return e.P }
func (e *Call) Position() Pos        { return e.P }

func (*FieldRef) expr()    {}
func (*StringLit) expr()   {}
func (*NumberLit) expr()   {}
func (*RegexLit) expr()    {}
func (*DurationLit) expr() {}
func (*ArrayLit) expr()    {}
func (*Unary) expr()       {}
func (*Binary) expr()      {}
func (*Like) expr()        {}
func (*In) expr()          {}
func (*Call) expr()        {}

// walk calls fn for e and every expression below it, parents first.
func walk(e Expr, fn func(Expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch x := e.(type) {
	case *ArrayLit:
		for _, el := range x.Elems {
			walk(el, fn)
		}
	case *Unary:
		walk(x.X, fn)
	case *Binary:
		walk(x.L, fn)
		walk(x.R, fn)
	case *Like:
		walk(x.X, fn)
		walk(x.Pattern, fn)
	case *In:
		walk(x.X, fn)
		walk(x.List, fn)
	case *Call:
		for _, a := range x.Args {
			walk(a, fn)
		}
	}
}
