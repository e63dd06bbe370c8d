package insights

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/store"
)

// DefaultLimit is the number of results when a query sets no limit.
const DefaultLimit = 10_000

// Target is what a query runs over.
type Target struct {
	// Groups are the schemas of the log groups to read, as of the snapshot
	// the SQL will run in.
	Groups []*store.Schema
	// Start and End bound @timestamp in Unix milliseconds, End exclusive.
	Start, End int64
	// Now is the query's start time in Unix milliseconds, for now().
	Now int64
}

// Column is one output column.
type Column struct {
	Name string
	Type Type
}

// Compiled is a query turned into SQL.
type Compiled struct {
	// SQL returns the result rows; its columns are Columns, in order.
	SQL     string
	Columns []Column
	// CountSQL counts the events of the selected groups in the time range
	// (the records a query scans), less Scanned: the events of the groups
	// whose schema knows its count and that the range covers entirely. It
	// is "" when Scanned is the whole answer.
	CountSQL string
	Scanned  int64
	// Visualization is "timeseries", "bar" or "table", by the Logs
	// Insights rules.
	Visualization string
	// Message, when not nil, is how the engine writes the @message column
	// (see MessageRebuild): the SQL then returns Message.Hidden() more
	// columns after Columns.
	Message *MessageRebuild
	// MatchedColumn, when not -1, is a column after the visible ones (and
	// Message's) holding, per result row, the matched rows that the
	// query's first aggregation took in. When the result has fewer than
	// Limit rows, their sum is the number of rows the query matched, and
	// the store need not count them (see matchCounter).
	MatchedColumn int
	// MatchedAreScanned, with a MatchedColumn, says that nothing before the
	// first aggregation drops rows: the rows it took in are the rows the
	// query scanned. When the result has fewer than Limit rows, their sum
	// is then the whole records-scanned count (Scanned and CountSQL
	// included), and CountSQL need not run.
	MatchedAreScanned bool
	// ScannedColumn, when not -1, is a column after all the others holding
	// CountSQL's answer in every row, so that the rows scanned are counted
	// in the same statement (one round trip, and the database runs the
	// count within the query's own plan). A result without rows leaves
	// CountSQL to run on its own.
	ScannedColumn int
	// Limit is the most rows the SQL returns.
	Limit int
}

// matchCounter is implemented by dialects whose stores cannot tell the
// rows a query matched from its plan and would count them with a second
// query: the compiler then counts them within the first aggregation when
// every group it makes reaches the result (see Compiled.MatchedColumn).
type matchCounter interface {
	CountsMatched() bool
}

// scanCounter is implemented by dialects whose stores should count the
// rows scanned within the query's statement (see Compiled.ScannedColumn)
// rather than with a statement of their own. Stores that read the rows
// matched from the plan (DuckDB) must not: the count's aggregation would
// be in the plan too.
type scanCounter interface {
	CountsScannedInQuery() bool
}

// binding is a field of the current relation.
type binding struct {
	col    string // column name in the relation
	typ    Type
	source bool // read from the store and not redefined since
	// rebuild marks @message read raw, for the engine to rebuild (see
	// MessageRebuild); msgHidden are then the aliases of the shape id, the
	// time and the raw columns.
	rebuild bool
}

// stage is one step after the scan; render wraps the relation below it.
type stage struct {
	extra   []string // "expr AS col" added to SELECT *
	where   string
	group   []string // full select list of a stats stage
	groupBy []string
	order   []string
	limit   int
	dedup   *[2][]string // keys, order
	unnest  *unnestSpec
}

type unnestSpec struct {
	elems    []string
	jsonText string
	as       string
}

type compiler struct {
	d      Dialect
	t      Target
	n      int
	bind   map[string]*binding
	scanWh [][]string // pushed predicates per group
	stages []stage

	display   []string
	sortKeys  []string
	sorted    bool
	stats     *Stats
	statsBy   []string // columns of the last stats' groups, for its default order
	limit     int
	limitAny  bool
	blocked   bool // rows changed (stats, limit, dedup, unnest): no more pushing
	needed    []string
	scanBind  map[string]*binding // the scan's columns; bind changes after it
	fieldsSet bool

	msg       *MessageRebuild // @message rebuilt by the engine, or nil
	msgHidden []string        // the aliases of its hidden columns
	unused    map[string]bool // scan aliases nothing reads (pruneScan)
}

// Compile turns a parsed query into SQL for d over t.
func Compile(q *Query, t Target, d Dialect) (*Compiled, error) {
	c := &compiler{d: d, t: t, bind: map[string]*binding{}, scanWh: make([][]string, len(t.Groups))}
	c.collectNeeded(q)
	if len(t.Groups) == 1 && len(t.Groups[0].Shapes) > 0 && slices.Contains(c.needed, "@message") && messageShownOnly(q) {
		c.msg = newMessageRebuild(t.Groups[0])
	}
	for _, name := range c.needed {
		c.bind[name] = &binding{col: c.alias(), typ: c.scanType(name), source: true, rebuild: name == "@message" && c.msg != nil}
	}
	if c.msg != nil {
		for range c.msg.Hidden() {
			c.msgHidden = append(c.msgHidden, c.alias())
		}
	}
	c.scanBind = maps.Clone(c.bind)
	for i, cmd := range q.Commands {
		if err := c.command(cmd, i == len(q.Commands)-1, q.Commands[i+1:]); err != nil {
			return nil, err
		}
	}
	return c.finish(q)
}

func (c *compiler) alias() string {
	c.n++
	return "v" + strconv.Itoa(c.n)
}

// collectNeeded lists the stored fields the query reads.
func (c *compiler) collectNeeded(q *Query) {
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			c.needed = append(c.needed, n)
		}
	}
	hasStats, hasFields := false, false
	for _, cmd := range q.Commands {
		switch cmd := cmd.(type) {
		case *Stats:
			hasStats = true
		case *Fields, *Display:
			hasFields = true
		case *Unnest:
			for _, n := range c.unnestSources(cmd.Field.Name) {
				add(n)
			}
		}
	}
	add("@timestamp")
	if !hasStats && !hasFields {
		add("@message")
	}
	visit := func(e Expr) {
		walk(e, func(x Expr) {
			if f, ok := x.(*FieldRef); ok {
				add(f.Name)
			}
		})
	}
	for _, cmd := range q.Commands {
		switch cmd := cmd.(type) {
		case *Fields:
			for _, it := range cmd.Items {
				visit(it.Expr)
			}
		case *Display:
			for _, f := range cmd.Fields {
				add(f.Name)
			}
		case *Filter:
			visit(cmd.Cond)
		case *Stats:
			for _, it := range append(slices.Clone(cmd.Agg), cmd.By...) {
				visit(it.Expr)
			}
		case *Sort:
			for _, k := range cmd.Keys {
				visit(k.Expr)
			}
		case *ParseCommand:
			visit(cmd.Field)
		case *Dedup:
			for _, f := range cmd.Fields {
				add(f.Name)
			}
		case *Unnest:
			add(cmd.Field.Name)
		}
	}
}

// scanType unifies a field's type over the groups.
func (c *compiler) scanType(name string) Type {
	if name == "@message" {
		return TString // without building its SQL
	}
	t := TNull
	for _, g := range c.t.Groups {
		_, gt, _ := c.groupField(g, name)
		t = unify(t, gt)
	}
	return t
}

func unify(a, b Type) Type {
	switch {
	case a == b || b == TNull:
		return a
	case a == TNull:
		return b
	case (a == TNumber && b == TTime) || (a == TTime && b == TNumber):
		return TNumber
	}
	return TAny
}

// groupField reads a field from a group's table: the SQL, its type, and
// its physical columns (nil for system fields and absent fields).
func (c *compiler) groupField(g *store.Schema, name string) (string, Type, []store.Column) {
	ts := store.ColTime
	switch name {
	case "@timestamp":
		return ts, TTime, nil
	case "@ingestionTime":
		return store.ColIngest, TTime, nil
	case "@logStream":
		return store.ColStream, TString, nil
	case "@log":
		return c.d.Str(g.Group), TString, nil
	case "@message":
		return c.messageExpr(g), TString, nil
	}
	cols := g.Fields[name]
	switch len(cols) {
	case 0:
		return "NULL", TNull, nil
	case 1:
		sql, t := c.d.Column(cols[0], ts)
		return sql, t, cols
	}
	allNumeric := true
	for _, col := range cols {
		if !col.Kind.Numeric() {
			allNumeric = false
		}
	}
	parts := make([]string, len(cols))
	for i, col := range cols {
		sql, t := c.d.Column(col, ts)
		if allNumeric {
			parts[i] = c.d.ToNumber(sql)
			if t == TNumber {
				parts[i] = sql
			}
		} else {
			parts[i] = c.d.ToText(sql, t)
		}
	}
	if allNumeric {
		for i := range parts {
			parts[i] = c.unify(parts[i], TNumber)
		}
		return "COALESCE(" + strings.Join(parts, ", ") + ")", TNumber, cols
	}
	return "COALESCE(" + strings.Join(parts, ", ") + ")", TAny, cols
}

// messageExpr rebuilds @message: the raw text when it was kept, else the
// JSON written from the event's shape and columns.
func (c *compiler) messageExpr(g *store.Schema) string {
	if len(g.Shapes) == 0 {
		return store.ColMessage
	}
	ids := make([]int32, 0, len(g.Shapes))
	for id := range g.Shapes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	keys := make([]string, 0, len(ids))
	values := make([]string, 0, len(ids))
	for _, id := range ids {
		sh := g.Shapes[id]
		var parts []string
		for _, p := range sh.Pieces {
			if !p.Slot() {
				parts = append(parts, c.d.Str(p.Lit))
				continue
			}
			col, ok := findColumn(g, p.Field, p.Kind)
			if !ok {
				parts = append(parts, "NULL")
				continue
			}
			parts = append(parts, c.d.JSONToken(col, store.ColTime))
		}
		keys = append(keys, strconv.Itoa(int(id)))
		values = append(values, c.d.Concat(parts...))
	}
	return "COALESCE(" + store.ColMessage + ", " + c.switchExpr(store.ColShape, keys, values) + ")"
}

func columnNames(cols []store.Column) []string {
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = col.Name
	}
	return names
}

func findColumn(g *store.Schema, field string, kind event.Kind) (store.Column, bool) {
	for _, col := range g.Fields[field] {
		if col.Kind == kind {
			return col, true
		}
	}
	return store.Column{}, false
}

// resolver finds fields for expression compilation.
type resolver interface {
	// field returns a field's SQL and type; cols are its physical columns
	// when it is read straight from a table (scan level only).
	field(name string) (string, Type, []store.Column)
	group() *store.Schema // the table being scanned, or nil above the scan
}

// stageResolver reads the bindings of the current relation.
type stageResolver struct{ c *compiler }

func (r stageResolver) field(name string) (string, Type, []store.Column) {
	b, ok := r.c.lookup(name)
	if !ok {
		return "NULL", TNull, nil
	}
	return b.col, b.typ, nil
}

// lookup finds a field of the current relation: a binding, or a path into
// an ephemeral JSON field ("j.a.b") when no stored field has that name.
func (c *compiler) lookup(name string) (*binding, bool) {
	b, ok := c.bind[name]
	if ok && b.typ != TNull {
		return b, true
	}
	if sql, t, isJSON := c.jsonPath(name); isJSON {
		return &binding{col: sql, typ: t}, true
	}
	return b, ok
}
func (stageResolver) group() *store.Schema { return nil }

// jsonPath reads "j.a.b" from an ephemeral JSON field j.
func (c *compiler) jsonPath(name string) (string, Type, bool) {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != '.' {
			continue
		}
		if b, ok := c.bind[name[:i]]; ok && b.typ == TJSON {
			sql, _, _ := c.d.Func("jsonExtract", []string{b.col, c.d.Str(name[i+1:])}, []Type{TJSON, TString})
			return sql, TAny, true
		}
	}
	return "", TNull, false
}

// groupResolver reads a group's table directly (pushed-down filters).
type groupResolver struct {
	c *compiler
	g *store.Schema
}

func (r groupResolver) field(name string) (string, Type, []store.Column) {
	return r.c.groupField(r.g, name)
}
func (r groupResolver) group() *store.Schema { return r.g }

func (c *compiler) command(cmd Command, last bool, rest []Command) error {
	r := stageResolver{c}
	switch cmd := cmd.(type) {
	case *Fields:
		var extra []string
		c.fieldsSet = true
		for _, it := range cmd.Items {
			name := it.Alias
			if f, ok := it.Expr.(*FieldRef); ok && (name == "" || name == f.Name) {
				c.show(f.Name)
				continue
			}
			if name == "" {
				name = ExprString(it.Expr)
			}
			sql, t, err := c.expr(it.Expr, r)
			if err != nil {
				return err
			}
			col := c.alias()
			extra = append(extra, sql+" AS "+col)
			c.bind[name] = &binding{col: col, typ: t}
			c.show(name)
		}
		if len(extra) > 0 {
			c.stages = append(c.stages, stage{extra: extra})
		}
	case *Display:
		c.display = c.display[:0]
		c.fieldsSet = true
		for _, f := range cmd.Fields {
			c.show(f.Name)
		}
	case *Filter:
		return c.filter(cmd.Cond)
	case *Stats:
		return c.statsCmd(cmd)
	case *Sort:
		c.sortKeys = c.sortKeys[:0]
		for _, k := range cmd.Keys {
			sql, _, err := c.expr(k.Expr, r)
			if err != nil {
				return err
			}
			dir := " ASC"
			if k.Desc {
				dir = " DESC"
			}
			c.sortKeys = append(c.sortKeys, sql+dir+" NULLS LAST")
		}
		c.sorted = true
	case *Limit:
		if last || onlyLimits(rest) {
			if c.limit == 0 || cmd.N < c.limit {
				c.limit = cmd.N
			}
			c.limitAny = c.limitAny || cmd.Any
			return nil
		}
		st := stage{limit: cmd.N}
		if !cmd.Any {
			st.order = c.currentOrder()
		}
		c.stages = append(c.stages, st)
		c.blocked = true
	case *ParseCommand:
		return c.parseCmd(cmd)
	case *Dedup:
		var keys []string
		for _, f := range cmd.Fields {
			sql, _, _ := r.field(f.Name)
			keys = append(keys, sql)
		}
		c.stages = append(c.stages, stage{dedup: &[2][]string{keys, c.currentOrder()}})
		c.blocked = true
	case *Unnest:
		return c.unnestCmd(cmd)
	}
	return nil
}

func onlyLimits(cmds []Command) bool {
	for _, c := range cmds {
		if _, ok := c.(*Limit); !ok {
			return false
		}
	}
	return true
}

// show adds a field to the output columns.
func (c *compiler) show(name string) {
	if !slices.Contains(c.display, name) {
		c.display = append(c.display, name)
	}
}

// currentOrder is the ORDER BY that applies now: the last sort, else the
// newest first (before any stats) or the groups of the last stats.
//
// After an explicit sort the default order still breaks ties, so that
// results are deterministic.
func (c *compiler) currentOrder() []string {
	if c.sorted {
		c.sorted = false
		order := append(slices.Clone(c.sortKeys), c.currentOrder()...)
		c.sorted = true
		return order
	}
	if c.stats != nil {
		var o []string
		for _, col := range c.statsBy {
			o = append(o, col+" ASC NULLS LAST")
		}
		return o
	}
	if b, ok := c.bind["@timestamp"]; ok {
		return []string{b.col + " DESC"}
	}
	return nil
}

func (c *compiler) filter(cond Expr) error {
	if !c.blocked && c.onlySource(cond) {
		for i, g := range c.t.Groups {
			sql, err := c.predicate(cond, groupResolver{c, g})
			if err != nil {
				return err
			}
			c.scanWh[i] = append(c.scanWh[i], sql)
		}
		return nil
	}
	sql, t, err := c.expr(cond, stageResolver{c})
	if err != nil {
		return err
	}
	c.stages = append(c.stages, stage{where: c.boolean(sql, t)})
	return nil
}

// onlySource reports whether every field of e is read from the store
// unchanged, so that e can be evaluated on the tables themselves.
func (c *compiler) onlySource(e Expr) bool {
	ok := true
	walk(e, func(x Expr) {
		if f, isRef := x.(*FieldRef); isRef {
			if b, bound := c.bind[f.Name]; bound && !b.source {
				ok = false
			}
			if _, bound := c.bind[f.Name]; !bound {
				if _, _, isJSON := c.jsonPath(f.Name); isJSON {
					ok = false
				}
			}
		}
	})
	return ok
}

func (c *compiler) statsCmd(s *Stats) error {
	r := stageResolver{c}
	var sel, groupBy, byCols []string
	newBind := map[string]*binding{}
	var display []string
	for _, it := range s.By {
		sql, t, err := c.expr(it.Expr, r)
		if err != nil {
			return err
		}
		col := c.alias()
		sel = append(sel, sql+" AS "+col)
		groupBy = append(groupBy, sql)
		byCols = append(byCols, col)
		name := it.Alias
		if name == "" {
			name = ExprString(it.Expr)
		}
		newBind[name] = &binding{col: col, typ: t}
		display = appendUnique(display, name)
	}
	aggs := statsAliases{stageResolver: r, defs: map[string]*binding{}}
	for _, it := range s.Agg {
		sql, t, err := c.aggExpr(it.Expr, aggs)
		if err != nil {
			return err
		}
		if it.Alias != "" {
			aggs.defs[it.Alias] = &binding{col: sql, typ: t}
		}
		col := c.alias()
		sel = append(sel, sql+" AS "+col)
		name := it.Alias
		if name == "" {
			name = ExprString(it.Expr)
		}
		newBind[name] = &binding{col: col, typ: t}
		display = appendUnique(display, name)
	}
	c.stages = append(c.stages, stage{group: sel, groupBy: groupBy})
	c.bind = newBind
	c.display = display
	c.stats = s
	c.statsBy = byCols
	c.sorted, c.sortKeys = false, nil
	c.blocked = true
	return nil
}

// statsAliases resolves, inside one stats, the aliases of its earlier
// aggregates to their SQL, so that later items can compute with them.
type statsAliases struct {
	stageResolver
	defs map[string]*binding
}

func (r statsAliases) field(name string) (string, Type, []store.Column) {
	if b, ok := r.defs[name]; ok {
		return b.col, b.typ, nil
	}
	return r.stageResolver.field(name)
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// aggExpr compiles a stats expression: arithmetic over aggregates.
func (c *compiler) aggExpr(e Expr, r resolver) (string, Type, error) {
	call, ok := e.(*Call)
	if ok {
		if spec, _ := lookupFunc(call.Name); spec.kind == aggregate {
			return c.aggregate(call, r)
		}
	}
	switch x := e.(type) {
	case *Binary:
		l, lt, err := c.aggExpr(x.L, r)
		if err != nil {
			return "", 0, err
		}
		rr, rt, err := c.aggExpr(x.R, r)
		if err != nil {
			return "", 0, err
		}
		return c.binary(x.Op, l, lt, rr, rt, x.L, x.R)
	case *Unary:
		s, t, err := c.aggExpr(x.X, r)
		if err != nil {
			return "", 0, err
		}
		if x.Op == "not" {
			return "(NOT " + c.boolean(s, t) + ")", TBool, nil
		}
		return "(-" + c.num(s, t) + ")", TNumber, nil
	case *Call:
		args := make([]string, len(x.Args))
		types := make([]Type, len(x.Args))
		for i, a := range x.Args {
			var err error
			if args[i], types[i], err = c.aggExpr(a, r); err != nil {
				return "", 0, err
			}
		}
		return c.scalarCall(x, args, types)
	}
	return c.expr(e, r)
}

func (c *compiler) aggregate(call *Call, r resolver) (string, Type, error) {
	var args []string
	var types []Type
	if !call.Star {
		for i, a := range call.Args {
			if call.Name == "pct" && i == 1 {
				p := a.(*NumberLit).Value / 100
				args, types = append(args, strconv.FormatFloat(p, 'g', -1, 64)), append(types, TNumber)
				continue
			}
			s, t, err := c.expr(a, r)
			if err != nil {
				return "", 0, err
			}
			switch call.Name {
			case "sum", "avg", "stddev", "pct":
				s, t = c.num(s, t), TNumber
			case "min", "max":
				if t != TNumber && t != TTime {
					s, t = c.num(s, t), TNumber
				}
			}
			args, types = append(args, s), append(types, t)
		}
	}
	ts := ""
	if call.Name == "earliest" || call.Name == "latest" {
		s, t, _ := r.field("@timestamp")
		if t == TNull {
			return "", 0, errorf(call.P, "%s needs @timestamp, which the stats before it dropped", call.Name)
		}
		ts = s
	}
	sql, t := c.d.Aggregate(call.Name, args, types, ts)
	return sql, t, nil
}

func (c *compiler) parseCmd(p *ParseCommand) error {
	src, t, err := c.expr(p.Field, stageResolver{c})
	if err != nil {
		return err
	}
	re := toRE2(p.Pattern)
	groups := p.Names // capture group i+1 binds groups[i]; "" binds nothing
	if !p.Regex {
		re = globToRegex(p.Pattern)
	} else {
		compiled, err := regexp.Compile(re)
		if err != nil {
			return errorf(p.P, "invalid regex: %v", err)
		}
		groups = compiled.SubexpNames()[1:]
	}
	structExpr, get := c.d.RegexExtract(c.d.ToText(src, t), c.d.Str(re), groups)
	sc := c.alias()
	c.stages = append(c.stages, stage{extra: []string{structExpr + " AS " + sc}})
	var extra []string
	for i, name := range groups {
		if name == "" {
			continue
		}
		col := c.alias()
		extra = append(extra, "NULLIF("+get(sc, i)+", '') AS "+col)
		c.bind[name] = &binding{col: col, typ: TAny}
	}
	c.stages = append(c.stages, stage{extra: extra})
	return nil
}

// globToRegex turns a parse glob into a regex: each * captures as little
// as possible, except a trailing one, which takes the rest of the text.
func globToRegex(glob string) string {
	parts := strings.Split(glob, "*")
	var b strings.Builder
	for i, part := range parts {
		b.WriteString(regexpQuote(part))
		if i < len(parts)-1 {
			if i == len(parts)-2 && parts[len(parts)-1] == "" {
				b.WriteString("(.*)")
			} else {
				b.WriteString("(.*?)")
			}
		}
	}
	return b.String()
}

func regexpQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`\.+*?()|[]{}^$`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unnestSources lists the stored fields that hold the elements of a
// flattened array field: "items.0", "items.1.id", ...
func (c *compiler) unnestSources(prefix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range c.t.Groups {
		for name := range g.Fields {
			rest, ok := strings.CutPrefix(name, prefix+".")
			if !ok || rest == "" || !isDigit(rest[0]) {
				continue
			}
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (c *compiler) unnestCmd(u *Unnest) error {
	spec := &unnestSpec{as: c.alias()}
	if b, ok := c.bind[u.Field.Name]; ok && (b.typ == TJSON || !b.source || len(c.unnestSources(u.Field.Name)) == 0) {
		// A JSON array held as text (or parsed with jsonParse).
		spec.jsonText = c.d.ToText(b.col, b.typ)
		c.stages = append(c.stages, stage{unnest: spec})
		c.bind[u.Into] = &binding{col: spec.as, typ: TJSON}
		c.blocked = true
		return nil
	}
	// A flattened array: elements are the fields prefix.N (scalars) or
	// prefix.N.key (objects, read back as JSON).
	byIndex := map[int][]string{}
	for _, name := range c.unnestSources(u.Field.Name) {
		rest := strings.TrimPrefix(name, u.Field.Name+".")
		idxText, key, _ := strings.Cut(rest, ".")
		idx, err := strconv.Atoi(idxText)
		if err != nil {
			continue
		}
		_ = key
		byIndex[idx] = append(byIndex[idx], name)
	}
	idxs := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idxs = append(idxs, i)
	}
	sort.Ints(idxs)
	scalars := true
	for _, i := range idxs {
		if names := byIndex[i]; len(names) != 1 || names[0] != u.Field.Name+"."+strconv.Itoa(i) {
			scalars = false
		}
	}
	for _, i := range idxs {
		names := byIndex[i]
		elemPrefix := u.Field.Name + "." + strconv.Itoa(i)
		if scalars {
			b := c.bind[names[0]]
			spec.elems = append(spec.elems, c.d.ToText(b.col, b.typ))
			continue
		}
		var kv, absent []string
		var kvTypes []Type
		for _, n := range names {
			b := c.bind[n]
			key := strings.TrimPrefix(n, elemPrefix+".")
			if key == elemPrefix {
				key = "value" // an index holding a scalar in some events, an object in others
			}
			kv = append(kv, c.d.Str(key), b.col)
			kvTypes = append(kvTypes, TString, b.typ)
			absent = append(absent, b.col+" IS NULL")
		}
		obj, _, _ := c.d.Func("jsonObject", kv, kvTypes)
		// An element the event lacks is NULL, not an object of NULLs.
		spec.elems = append(spec.elems, "CASE WHEN "+strings.Join(absent, " AND ")+" THEN NULL ELSE "+obj+" END")
	}
	c.stages = append(c.stages, stage{unnest: spec})
	t := TJSON
	if scalars {
		t = TAny
	}
	c.bind[u.Into] = &binding{col: spec.as, typ: t}
	c.blocked = true
	return nil
}

// finish renders the stages into one statement.
func (c *compiler) finish(q *Query) (*Compiled, error) {
	out := &Compiled{Visualization: visualization(c.stats)}
	if len(c.display) == 0 {
		if c.stats == nil {
			c.display = []string{"@timestamp", "@message"}
		}
	}
	c.pruneScan()
	rel := c.scanSQL()
	matched := -1 // the first stage that takes in all its rows at once
	for i, st := range c.stages {
		if st.group != nil || st.dedup != nil || st.limit > 0 {
			matched = i
			break
		}
	}
	// When nothing before that stage drops or adds rows, the rows it takes
	// in are the rows scanned, which CountSQL counts.
	count, known := c.countSQL()
	out.Scanned = known
	if count != "" {
		out.CountSQL = "SELECT " + count
	}
	scanned := out.CountSQL
	if scanned == "" {
		scanned = "SELECT " + strconv.FormatInt(out.Scanned, 10)
	}
	for i, st := range c.stages {
		if i == matched {
			break
		}
		if st.where != "" || st.unnest != nil {
			scanned = ""
		}
	}
	for _, wh := range c.scanWh {
		if len(wh) > 0 {
			scanned = ""
		}
	}
	out.MatchedColumn = -1
	matchedCol := ""
	if mc, ok := c.d.(matchCounter); ok && mc.CountsMatched() && matched >= 0 && c.stages[matched].group != nil && c.keepsRowsAfter(matched) {
		matchedCol = c.alias()
		c.stages[matched].group = append(slices.Clone(c.stages[matched].group), "count(*) AS "+matchedCol)
	}
	for i, st := range c.stages {
		if i == matched {
			rel = c.markMatched(rel, false, scanned)
		}
		rel = c.renderStage(st, rel, i)
	}
	if matched < 0 {
		rel = c.markMatched(rel, !c.limitAny, scanned)
	}
	var sel []string
	for i, name := range c.display {
		col, t := "NULL", TNull
		if b, ok := c.lookup(name); ok {
			col, t = b.col, b.typ
		}
		if b, ok := c.lookup(name); ok && b.rebuild {
			out.Message = c.msg
			out.Message.Column = i
		}
		sel = append(sel, col+" AS r"+strconv.Itoa(i))
		out.Columns = append(out.Columns, Column{Name: name, Type: t})
	}
	if out.Message != nil {
		for j, h := range c.msgHidden {
			sel = append(sel, h+" AS h"+strconv.Itoa(j))
		}
	}
	if matchedCol != "" {
		out.MatchedColumn = len(sel)
		out.MatchedAreScanned = scanned != ""
		sel = append(sel, matchedCol+" AS hm")
	}
	out.ScannedColumn = -1
	if sc, ok := c.d.(scanCounter); ok && sc.CountsScannedInQuery() && out.CountSQL != "" && !out.MatchedAreScanned {
		out.ScannedColumn = len(sel)
		sel = append(sel, count+" AS hs")
	}
	var b strings.Builder
	b.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM " + rel + " AS q")
	if !c.limitAny {
		if order := c.currentOrder(); len(order) > 0 {
			b.WriteString(" ORDER BY " + strings.Join(order, ", "))
		}
	}
	limit := c.limit
	if limit == 0 {
		limit = DefaultLimit
	}
	b.WriteString(" LIMIT " + strconv.Itoa(limit))
	out.SQL = b.String()
	out.Limit = limit
	return out, nil
}

// aliasRE finds the aliases the compiler gives columns in the SQL it
// writes.
var aliasRE = regexp.MustCompile(`\bv[0-9]+\b`)

// pruneScan leaves out of the scan the fields that nothing after it reads,
// such as @timestamp under a stats without bins or a field that a filter
// read at the scan: not every database drops the unused columns of a
// subquery before reading them (ClickHouse 18.16 does not).
func (c *compiler) pruneScan() {
	var text []string
	for _, st := range c.stages {
		text = append(text, st.extra...)
		text = append(text, st.where)
		text = append(text, st.group...)
		text = append(text, st.groupBy...)
		text = append(text, st.order...)
		if st.dedup != nil {
			text = append(text, st.dedup[0]...)
			text = append(text, st.dedup[1]...)
		}
		if st.unnest != nil {
			text = append(text, st.unnest.elems...)
			text = append(text, st.unnest.jsonText)
		}
	}
	if !c.limitAny {
		text = append(text, c.currentOrder()...)
	}
	for _, name := range c.display {
		if b, ok := c.lookup(name); ok {
			text = append(text, b.col)
		}
	}
	used := map[string]bool{}
	for _, a := range aliasRE.FindAllString(strings.Join(text, " "), -1) {
		used[a] = true
	}
	c.unused = map[string]bool{}
	for _, name := range c.needed {
		if col := c.scanBind[name].col; !used[col] {
			c.unused[col] = true
		}
	}
}

// keepsRowsAfter reports whether every row that stage i outputs reaches the
// final SELECT: no later stage filters, limits, dedups, unnests or
// aggregates.
func (c *compiler) keepsRowsAfter(i int) bool {
	for _, st := range c.stages[i+1:] {
		if st.where != "" || st.limit > 0 || st.dedup != nil || st.unnest != nil || st.group != nil {
			return false
		}
	}
	return true
}

func visualization(s *Stats) string {
	if s == nil {
		return "table"
	}
	bins, others := 0, 0
	for _, it := range s.By {
		if call, ok := it.Expr.(*Call); ok && call.Name == "bin" {
			bins++
		} else {
			others++
		}
	}
	switch {
	case bins == 1 && others <= 1:
		return "timeseries"
	case len(s.By) > 0:
		return "bar"
	}
	return "table"
}

// timeRange is the @timestamp filter of a group's scan. The bounds that
// cannot exclude any of the group's events are left out: evaluating them
// would cost a comparison per row for nothing.
func (c *compiler) timeRange(g *store.Schema) []string {
	var w []string
	if c.t.Start > g.MinTime || (g.MinTime == 0 && g.MaxTime == 0) {
		w = append(w, fmt.Sprintf("%s >= %d", store.ColTime, c.t.Start))
	}
	if c.t.End <= g.MaxTime || (g.MinTime == 0 && g.MaxTime == 0) {
		w = append(w, fmt.Sprintf("%s < %d", store.ColTime, c.t.End))
	}
	return w
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// scanSQL reads the needed fields of every group in the time range, with
// the pushed-down filters.
func (c *compiler) scanSQL() string {
	if len(c.t.Groups) == 0 {
		var sel []string
		for _, name := range c.needed {
			sel = append(sel, "NULL AS "+c.scanBind[name].col)
		}
		return "(SELECT " + strings.Join(sel, ", ") + " WHERE 1 = 0)"
	}
	// A field that no group has is NULL after the union rather than in
	// each branch: a UNION ALL whose branches all select a constant fails
	// over ClickHouse's Distributed tables (see quirks.Varying), and NULL
	// has no per-row form that keeps its type.
	absent := map[string]bool{}
	var hoisted []string
	if len(c.t.Groups) > 1 {
		for _, name := range c.needed {
			b := c.scanBind[name]
			if c.unused[b.col] || b.rebuild {
				continue
			}
			none := true
			for _, g := range c.t.Groups {
				if sql, _, _ := c.groupField(g, name); sql != "NULL" {
					none = false
					break
				}
			}
			if none {
				absent[name] = true
				hoisted = append(hoisted, "NULL AS "+b.col)
			}
		}
	}
	var parts []string
	for i, g := range c.t.Groups {
		var sel []string
		for _, name := range c.needed {
			b := c.scanBind[name]
			if c.unused[b.col] || absent[name] {
				continue
			}
			if b.rebuild {
				sel = append(sel, store.ColMessage+" AS "+b.col)
				continue
			}
			sql, t, _ := c.groupField(g, name)
			if t != b.typ && t != TNull && (b.typ == TAny || b.typ == TString) {
				sql = c.d.ToText(sql, t)
			}
			if len(c.t.Groups) > 1 {
				sql = c.unify(sql, b.typ)
				if name == "@log" {
					sql = c.varying(sql)
				}
			}
			sel = append(sel, sql+" AS "+b.col)
		}
		if c.msg != nil {
			raw := append([]string{store.ColShape, store.ColTime}, columnNames(c.msg.Columns)...)
			for j, col := range raw {
				sel = append(sel, col+" AS "+c.msgHidden[j])
			}
		}
		if len(sel) == 0 { // only the rows count
			one := "1"
			if len(c.t.Groups) > 1 {
				one = c.varying(one)
			}
			sel = append(sel, one+" AS v0")
		}
		where := append(c.timeRange(g), c.scanWh[i]...)
		parts = append(parts, "SELECT "+strings.Join(sel, ", ")+" FROM "+g.Table+whereClause(where))
	}
	union := "(" + strings.Join(parts, " UNION ALL ") + ")"
	if len(hoisted) > 0 {
		return "(SELECT *, " + strings.Join(hoisted, ", ") + " FROM " + union + " AS u)"
	}
	return union
}

// countSQL counts the events of the groups in the time range: a constant
// for each group whose count is known and needs no time filter, and an
// SQL expression (a sum of scalar subqueries) for the others.
func (c *compiler) countSQL() (string, int64) {
	var parts []string
	var known int64
	for _, g := range c.t.Groups {
		tr := c.timeRange(g)
		if g.EventsKnown && len(tr) == 0 {
			known += g.Events
			continue
		}
		if g.CountExpr != "" && len(tr) == 0 {
			parts = append(parts, g.CountExpr)
			continue
		}
		parts = append(parts, "(SELECT count(*) FROM "+g.Table+whereClause(tr)+")")
	}
	if len(parts) == 0 {
		return "", known
	}
	return strings.Join(parts, " + "), known
}

func (c *compiler) renderStage(st stage, rel string, i int) string {
	from := " FROM " + rel + " AS s" + strconv.Itoa(i)
	switch {
	case st.dedup != nil:
		return "(" + c.d.Dedup("SELECT *"+from, st.dedup[0], st.dedup[1]) + ")"
	case st.unnest != nil:
		return "(" + c.d.Unnest("SELECT *"+from, st.unnest.elems, st.unnest.jsonText, st.unnest.as) + ")"
	case st.group != nil:
		s := "SELECT " + strings.Join(st.group, ", ") + from
		if len(st.groupBy) > 0 {
			s += " GROUP BY " + strings.Join(st.groupBy, ", ")
		}
		return "(" + s + ")"
	}
	s := "SELECT *"
	for _, e := range st.extra {
		s += ", " + e
	}
	s += from
	if st.where != "" {
		s += " WHERE " + st.where
	}
	if st.limit > 0 {
		if len(st.order) > 0 {
			s += " ORDER BY " + strings.Join(st.order, ", ")
		}
		s += " LIMIT " + strconv.Itoa(st.limit)
	}
	return "(" + s + ")"
}
