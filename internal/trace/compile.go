package trace

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/filter"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// A filter expression is compiled to a formula over atoms. An atom is the
// set of traces that have a span (or a parent-child pair of spans) matching
// one predicate in the time range: SQL selecting (tid, ts), where ts is the
// matching span's @timestamp. The formula combines atoms with AND, OR and
// NOT by trace-id membership. Only the traces that can match are grouped:
// a formula that needs no NOT starts from the union of the atoms it cannot
// do without (candidate traces); one with NOT starts from the root spans in
// the range. See docs in doc.go.

// formula is a node of a compiled filter.
type formula interface{ isFormula() }

// fAtom is a set of traces; pred, when not empty, is the span predicate
// whose matching spans make the set (on the unaliased table).
type fAtom struct{ sql, pred string }
type fAnd struct{ l, r formula }
type fOr struct{ l, r formula }
type fNot struct{ x formula }

func (*fAtom) isFormula() {}
func (*fAnd) isFormula()  {}
func (*fOr) isFormula()   {}
func (*fNot) isFormula()  {}

// ErrFilter wraps errors in a filter expression (syntax, unsupported
// keywords, unknown groups); the API answers them with 400.
var ErrFilter = errors.New("invalid filter expression")

// filterError is a compile error at a position of the expression.
func filterError(pos filter.Pos, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFilter, pos, fmt.Sprintf(format, args...))
}

// GroupLookup returns the filter expression of a trace group, for
// group.name = "x".
type GroupLookup func(name string) (string, bool)

// compiler turns one filter into a formula over a time range.
type compiler struct {
	t          table
	start, end int64 // Unix ms: the spans atoms look at
	// baseStart and baseEnd bound the ts of the traces matchingTraces
	// returns (the first span seen of each); 0 means start and end.
	baseStart, baseEnd int64
	groups             GroupLookup
	inGroups           []string // group names being expanded, against cycles
}

// ParseFilter parses a filter expression, wrapping syntax errors in
// ErrFilter.
func ParseFilter(text string) (filter.Expr, error) {
	e, err := filter.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFilter, err)
	}
	return e, nil
}

// atom returns the traces with a span matching pred in the time range.
func (c *compiler) atom(pred string) formula {
	return &fAtom{pred: pred, sql: "SELECT " + c.t.traceID() + " AS tid, " + c.t.ts() + " AS ts FROM " + c.t.from() +
		" WHERE " + andJoin(c.t.timeRange(c.start, c.end), pred)}
}

// rootExclusions returns, for the NOT atoms that f requires (NOT atoms at
// the top of f or of its top-level ANDs), conditions that the root span
// must meet: a trace whose root span matches a negated atom's predicate is
// in that atom, so it cannot match. Checking the root first spares the
// anti-join most of its probes.
func rootExclusions(f formula) []string {
	switch x := f.(type) {
	case *fNot:
		if a, ok := x.x.(*fAtom); ok && a.pred != "" {
			return []string{"(CASE WHEN " + a.pred + " THEN 1 ELSE 0 END) = 0"}
		}
	case *fAnd:
		return append(rootExclusions(x.l), rootExclusions(x.r)...)
	}
	return nil
}

// compile turns a top-level expression into a formula.
func (c *compiler) compile(e filter.Expr) (formula, error) {
	switch x := e.(type) {
	case *filter.Binary:
		l, err := c.compile(x.L)
		if err != nil {
			return nil, err
		}
		r, err := c.compile(x.R)
		if err != nil {
			return nil, err
		}
		if x.Op == "AND" {
			return &fAnd{l, r}, nil
		}
		return &fOr{l, r}, nil
	case *filter.Not:
		f, err := c.compile(x.X)
		if err != nil {
			return nil, err
		}
		return &fNot{f}, nil
	case *filter.Keyword:
		return c.keyword(x)
	case *filter.Annotation:
		if x.Op == "" {
			return c.atom(c.t.isSet(span.PrefixAnnotation + x.Key)), nil
		}
		return c.atom(c.annotation(c.t, x)), nil
	case *filter.Service:
		return c.service(x)
	case *filter.Edge:
		return c.edge(x)
	case *filter.Group:
		return c.group(x)
	}
	return nil, filterError(e.Position(), "BUG: unknown node %T", e)
}

// negated tells whether a boolean keyword test is false-valued ("fault =
// false", "fault != true").
func negated(k *filter.Keyword) bool {
	if k.Op == "" {
		return false
	}
	return (k.Op == "=") != k.Val.Bool
}

func (c *compiler) keyword(k *filter.Keyword) (formula, error) {
	switch filter.Keywords[k.Name] {
	case filter.BoolKeyword:
		var f formula
		switch k.Name {
		case "ok":
			f = &fNot{c.atom("(NOT " + c.t.inStrings(span.FieldStatus, "ok") + ")")}
		case "root", "first":
			f = c.atom(c.t.isRoot())
		case "remote", "inferred":
			f = c.atom(c.remoteSpan(c.t, ""))
		case "last":
			return nil, filterError(k.At, "last is supported only inside service() or id()")
		default:
			bare := *k
			bare.Op = ""
			pred, err := c.spanPred(&bare, c.t, false)
			if err != nil {
				return nil, err
			}
			f = c.atom(pred)
		}
		if negated(k) {
			f = &fNot{f}
		}
		return f, nil
	case filter.NumberKeyword:
		if k.Name == "duration" {
			return c.traceDuration(k), nil
		}
	}
	pred, err := c.spanPred(k, c.t, false)
	if err != nil {
		return nil, err
	}
	switch k.Name {
	case "responsetime", "http.status", "http.url", "http.method", "http.useragent", "http.clientip":
		// Properties of the request: the root span's.
		pred = andJoin(c.t.isRoot(), pred)
	}
	return c.atom(pred), nil
}

// traceDuration is "duration op x": the trace's span from its first start to
// its last end, in seconds.
func (c *compiler) traceDuration(k *filter.Keyword) formula {
	t := c.t
	lit := c.t.d.Number(strconv.FormatFloat(k.Val.Num*1e6, 'g', -1, 64))
	return &fAtom{sql: "SELECT " + t.traceID() + " AS tid, min(" + t.ts() + ") AS ts FROM " + t.from() +
		" WHERE " + t.timeRange(c.start, c.end) + " GROUP BY " + t.traceID() +
		" HAVING (max(" + t.end() + ") - min(" + t.start() + "))" + sqlOp(k.Op) + lit}
}

// spanPred compiles an expression about one span: a keyword, annotation or
// combination of them inside service() and edge(), where remote tells
// whether the span stands for an uninstrumented peer.
func (c *compiler) spanPred(e filter.Expr, t table, remote bool) (string, error) {
	switch x := e.(type) {
	case *filter.Binary:
		l, err := c.spanPred(x.L, t, remote)
		if err != nil {
			return "", err
		}
		r, err := c.spanPred(x.R, t, remote)
		if err != nil {
			return "", err
		}
		return "(" + l + " " + x.Op + " " + r + ")", nil
	case *filter.Not:
		s, err := c.spanPred(x.X, t, remote)
		return "(NOT " + s + ")", err
	case *filter.Annotation:
		if x.Op == "" {
			return t.isSet(span.PrefixAnnotation + x.Key), nil
		}
		return c.annotation(t, x), nil
	case *filter.Keyword:
		return c.spanKeyword(x, t, remote)
	case *filter.Service, *filter.Edge:
		return "", filterError(e.Position(), "service(), id() and edge() cannot be nested in braces")
	case *filter.Group:
		return "", filterError(e.Position(), "group.name cannot be used in braces")
	}
	return "", filterError(e.Position(), "BUG: unknown node %T", e)
}

// stringFields are the span fields a string keyword reads (any matches).
var stringFields = map[string][]string{
	"http.url":         {span.FieldHTTPURL},
	"http.method":      {span.FieldHTTPMethod},
	"http.useragent":   {span.FieldHTTPUserAgent},
	"http.clientip":    {span.FieldHTTPClientIP},
	"user":             {span.FieldUser},
	"name":             {span.FieldName},
	"type":             {span.FieldOrigin, span.FieldPeerType},
	"message":          {span.FieldExceptionMessage, span.FieldStatusMessage},
	"availabilityzone": {span.PrefixResource + "cloud.availability_zone", "aws.ec2.availability_zone"},
	"instance.id":      {span.PrefixResource + "host.id", span.PrefixResource + "service.instance.id", "aws.ec2.instance_id"},
	"resource.arn":     {span.PrefixResource + "cloud.resource_id", "resource_arn"},
}

func (c *compiler) spanKeyword(k *filter.Keyword, t table, remote bool) (string, error) {
	var pred string
	switch k.Name {
	case "ok":
		pred = t.inStrings(span.FieldStatus, "ok")
	case "error":
		pred = t.inStrings(span.FieldStatus, "error", "throttle")
	case "throttle":
		pred = t.inStrings(span.FieldStatus, "throttle")
	case "fault":
		pred = t.inStrings(span.FieldStatus, "fault")
	case "partial":
		pred = t.boolCmp("=", true, span.FieldInProgress)
	case "root", "first":
		pred = falseSQL
		if !remote {
			pred = t.isRoot()
		}
	case "remote", "inferred":
		pred = falseSQL
		if remote {
			pred = trueSQL
		}
	case "responsetime", "duration":
		return t.numCmp(k.Op, k.Val.Num*1000, span.FieldDuration), nil
	case "http.status":
		return t.numCmp(k.Op, k.Val.Num, span.FieldHTTPStatus), nil
	case "last", "index", "coverage":
		return "", filterError(k.At, "%s is not supported by sonde", k.Name)
	default:
		fields, ok := stringFields[k.Name]
		if !ok {
			return "", filterError(k.At, "BUG: keyword %s has no fields", k.Name)
		}
		return t.strCmp(k.Op, k.Val.Str, fields...), nil
	}
	if negated(k) {
		pred = "(NOT " + pred + ")"
	}
	return pred, nil
}

// annotation compiles a typed annotation comparison on a span.
func (c *compiler) annotation(t table, a *filter.Annotation) string {
	field := span.PrefixAnnotation + a.Key
	switch a.Val.Kind {
	case filter.ValueNumber:
		return t.numCmp(a.Op, a.Val.Num, field)
	case filter.ValueBool:
		if a.Op != "=" && a.Op != "!=" {
			return falseSQL
		}
		return t.boolCmp(a.Op, a.Val.Bool, field)
	}
	// A string: compare the string-like columns only, as X-Ray compares
	// annotations by type.
	var alts []string
	for _, col := range t.cols(field) {
		if col.Kind.Numeric() || col.Kind == event.KindBool {
			continue
		}
		if s := t.strCmpCol(col, a.Op, a.Val.Str); s != "" {
			alts = append(alts, s)
		}
	}
	return orJoin(alts)
}

// localNode is true for the spans that stand for an instrumented service
// node: its entry spans (server, consumer, or roots).
func (c *compiler) localNode(t table, name, typ string) string {
	entry := "(" + t.inStrings(span.FieldKind, "server", "consumer") + " OR " + t.isRoot() + ")"
	parts := []string{entry}
	if name != "" {
		parts = append(parts, t.inStrings(span.FieldService, name))
	}
	if typ != "" {
		parts = append(parts, t.strCmp("=", typ, span.FieldOrigin))
	}
	return andJoin(parts...)
}

// remoteSpan is true for client spans that stand for a call to an
// uninstrumented peer named name (any when empty).
func (c *compiler) remoteSpan(t table, name string) string {
	peer := t.isSet(span.FieldPeer)
	if name != "" {
		peer = t.inStrings(span.FieldPeer, name)
	}
	return andJoin(t.inStrings(span.FieldKind, "client", "producer"), peer)
}

func (c *compiler) service(s *filter.Service) (formula, error) {
	t := c.t
	local := c.localNode(t, s.Name, s.Type)
	remote := c.remoteSpan(t, s.Name)
	if s.Type != "" {
		remote = andJoin(remote, t.strCmp("=", s.Type, span.FieldPeerType))
	}
	if s.Filter != nil {
		lp, err := c.spanPred(s.Filter, t, false)
		if err != nil {
			return nil, err
		}
		rp, err := c.spanPred(s.Filter, t, true)
		if err != nil {
			return nil, err
		}
		local, remote = andJoin(local, lp), andJoin(remote, rp)
	}
	return c.atom(orJoin([]string{local, remote})), nil
}

// edge is a call from src to dst: a span of src whose child span belongs
// to dst, or a client span of src calling the peer dst. The filter applies
// to the calling span (client-observed).
func (c *compiler) edge(e *filter.Edge) (formula, error) {
	p, ch := c.t.as("p"), c.t.as("c")
	joined := andJoin(p.timeRange(c.start, c.end), ch.timeRange(c.start, c.end),
		p.inStrings(span.FieldService, e.Src), ch.inStrings(span.FieldService, e.Dst))
	remote := andJoin(c.remoteSpan(c.t, e.Dst), c.t.inStrings(span.FieldService, e.Src))
	if e.Filter != nil {
		pp, err := c.spanPred(e.Filter, p, false)
		if err != nil {
			return nil, err
		}
		rp, err := c.spanPred(e.Filter, c.t, false)
		if err != nil {
			return nil, err
		}
		joined, remote = andJoin(joined, pp), andJoin(remote, rp)
	}
	var f formula = c.atom(remote)
	if cp := ch.parentID(); cp != "" {
		var pair formula
		if e.Filter != nil {
			// The filter makes the callers few: find the children of the
			// matching callers (a semi-join built on the callers; span ids
			// are 64-bit random, so the trace id need not be compared).
			t := c.t
			callers := "SELECT " + t.spanID() + " FROM " + t.from() + " WHERE " +
				andJoin(t.timeRange(c.start, c.end), t.inStrings(span.FieldService, e.Src), c.mustSpanPred(e.Filter, t))
			pair = c.atom(andJoin(t.inStrings(span.FieldService, e.Dst), "("+t.parentID()+" IN ("+callers+"))"))
		} else {
			pair = &fAtom{sql: "SELECT " + p.traceID() + " AS tid, " + p.ts() + " AS ts FROM " + p.from() + " JOIN " + ch.from() +
				" ON " + ch.traceID() + " = " + p.traceID() + " AND " + cp + " = " + p.spanID() + " WHERE " + joined}
		}
		f = &fOr{pair, f}
	}
	return f, nil
}

// mustSpanPred compiles a filter that compiled before on another table.
func (c *compiler) mustSpanPred(e filter.Expr, t table) string {
	s, err := c.spanPred(e, t, false)
	if err != nil {
		panic("BUG: filter compiled once but not twice: " + err.Error())
	}
	return s
}

func (c *compiler) group(g *filter.Group) (formula, error) {
	if c.groups == nil {
		return nil, filterError(g.At, "unknown trace group %q", g.Name)
	}
	text, ok := c.groups(g.Name)
	if !ok {
		return nil, filterError(g.At, "unknown trace group %q", g.Name)
	}
	for _, n := range c.inGroups {
		if n == g.Name {
			return nil, filterError(g.At, "trace group %q refers to itself", g.Name)
		}
	}
	e, err := filter.Parse(text)
	if err != nil {
		return nil, filterError(g.At, "trace group %q: %v", g.Name, err)
	}
	c.inGroups = append(c.inGroups, g.Name)
	defer func() { c.inGroups = c.inGroups[:len(c.inGroups)-1] }()
	f, err := c.compile(e)
	if err != nil {
		return nil, err
	}
	if g.Op == "!=" {
		f = &fNot{f}
	}
	return f, nil
}

// candidates returns the atoms whose union holds every trace the formula
// can match, or false when the formula has a NOT in the way (then every
// trace is a candidate).
func candidates(f formula) ([]*fAtom, bool) {
	switch x := f.(type) {
	case *fAtom:
		return []*fAtom{x}, true
	case *fOr:
		l, ok := candidates(x.l)
		if !ok {
			return nil, false
		}
		r, ok := candidates(x.r)
		if !ok {
			return nil, false
		}
		return append(l, r...), true
	case *fAnd:
		l, lok := candidates(x.l)
		r, rok := candidates(x.r)
		switch {
		case lok && rok:
			if len(r) < len(l) {
				return r, true
			}
			return l, true
		case lok:
			return l, true
		case rok:
			return r, true
		}
	}
	return nil, false
}

// matchSQL writes the formula as a condition on the column tid of the
// candidate relation. within, when not empty, is SQL selecting the
// candidates' tid: atoms are first narrowed to them, so that an atom
// holding most traces is not hashed whole to test a few candidates (and
// not at all when there are none).
func matchSQL(f formula, tid, within string, n *int) string {
	switch x := f.(type) {
	case *fAtom:
		*n++
		a := "a" + strconv.Itoa(*n)
		sub := "SELECT " + a + ".tid FROM (" + x.sql + ") " + a
		if within != "" {
			sub += " WHERE " + a + ".tid IN (" + within + ")"
		}
		return "(" + tid + " IN (" + sub + "))"
	case *fAnd:
		return "(" + matchSQL(x.l, tid, within, n) + " AND " + matchSQL(x.r, tid, within, n) + ")"
	case *fOr:
		return "(" + matchSQL(x.l, tid, within, n) + " OR " + matchSQL(x.r, tid, within, n) + ")"
	case *fNot:
		return "(NOT " + matchSQL(x.x, tid, within, n) + ")"
	}
	panic(fmt.Sprintf("BUG: unknown formula %T", f))
}

// matchingTraces writes SQL selecting (tid, ts) of the traces that match
// f in the range, ts being the first @timestamp seen of the trace: from the
// candidate atoms when f allows, else from the root spans.
func (c *compiler) matchingTraces(f formula) string {
	var base, within string
	bs, be := c.start, c.end
	if c.baseStart != 0 || c.baseEnd != 0 {
		bs, be = c.baseStart, c.baseEnd
	}
	atoms, ok := candidates(f)
	if ok {
		parts := make([]string, len(atoms))
		for i, a := range atoms {
			parts[i] = a.sql
		}
		base = "SELECT tid, min(ts) AS ts FROM (" + strings.Join(parts, " UNION ALL ") + ") u GROUP BY tid"
		if bs != c.start || be != c.end {
			base += " HAVING min(ts) >= " + strconv.FormatInt(bs, 10) + " AND min(ts) < " + strconv.FormatInt(be, 10)
		}
		if len(atoms) == 1 && f == formula(atoms[0]) {
			return base
		}
		if or, isOr := f.(*fOr); isOr && onlyOr(or) {
			return base
		}
	} else {
		t := c.t
		conds := append([]string{t.timeRange(bs, be), t.isRoot()}, rootExclusions(f)...)
		where := " FROM " + t.from() + " WHERE " + andJoin(conds...)
		base = "SELECT " + t.traceID() + " AS tid, " + t.ts() + " AS ts" + where
		within = "SELECT " + t.traceID() + where
	}
	n := 0
	return "SELECT tid, ts FROM (" + base + ") b WHERE " + matchSQL(f, "b.tid", within, &n)
}

// onlyOr reports whether f is a tree of ORs over atoms (its candidates are
// exactly its matches).
func onlyOr(f formula) bool {
	switch x := f.(type) {
	case *fAtom:
		return true
	case *fOr:
		return onlyOr(x.l) && onlyOr(x.r)
	}
	return false
}
