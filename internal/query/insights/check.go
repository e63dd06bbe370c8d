package insights

import "fmt"

// check finds the errors the grammar lets through: aggregates outside stats,
// literals in the wrong places, and commands in an order the language does
// not allow. Unknown fields are not errors: they are absent.
func check(q *Query) error {
	for i, c := range q.Commands {
		var err error
		switch c := c.(type) {
		case *Fields:
			for _, it := range c.Items {
				if err = checkScalar(it.Expr, "fields"); err != nil {
					return err
				}
			}
		case *Filter:
			err = checkScalar(c.Cond, "filter")
		case *Sort:
			for _, k := range c.Keys {
				if err = checkScalar(k.Expr, "sort"); err != nil {
					return err
				}
			}
		case *Stats:
			err = checkStats(c)
		case *ParseCommand:
			err = checkScalar(c.Field, "parse")
		case *Dedup:
			for _, next := range q.Commands[i+1:] {
				if _, ok := next.(*Limit); !ok {
					return errorf(next.Position(), "only limit may follow dedup")
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func checkStats(s *Stats) error {
	aliases := map[string]bool{}
	for _, it := range s.Agg {
		if err := checkExpr(it.Expr, true, false); err != nil {
			return err
		}
		// An item may also compute with the aliases of the aggregates before
		// it: "max(a) as hi, min(a) as lo, hi - lo as spread".
		if !hasAggregate(it.Expr) && !usesAny(it.Expr, aliases) {
			return errorf(it.Expr.Position(), "stats needs an aggregate function such as count(*), avg(x) or pct(x, 99)")
		}
		if it.Alias != "" {
			aliases[it.Alias] = true
		}
	}
	for _, it := range s.By {
		if err := checkScalar(it.Expr, "stats ... by"); err != nil {
			return err
		}
	}
	return nil
}

func checkScalar(e Expr, where string) error {
	var found *Call
	walk(e, func(x Expr) {
		if c, ok := x.(*Call); ok && found == nil {
			if spec, _ := lookupFunc(c.Name); spec.kind == aggregate {
				found = c
			}
		}
	})
	if found != nil {
		return errorf(found.P, "aggregate function %s is only allowed in stats, not in %s", found.Name, where)
	}
	return checkExpr(e, false, false)
}

// usesAny reports whether e reads one of the named fields.
func usesAny(e Expr, names map[string]bool) bool {
	found := false
	walk(e, func(x Expr) {
		if f, ok := x.(*FieldRef); ok && names[f.Name] {
			found = true
		}
	})
	return found
}

func hasAggregate(e Expr) bool {
	found := false
	walk(e, func(x Expr) {
		if c, ok := x.(*Call); ok {
			if spec, _ := lookupFunc(c.Name); spec.kind == aggregate {
				found = true
			}
		}
	})
	return found
}

// checkExpr checks the placement of literals and, inside stats, that
// aggregates do not nest.
func checkExpr(e Expr, inStats, inAgg bool) error {
	switch x := e.(type) {
	case *DurationLit:
		return errorf(x.P, "a time period like %s is only allowed in bin(), datefloor() and dateceil()", x.Text)
	case *RegexLit:
		return errorf(x.P, "a /regex/ is only allowed after like, =~ or parse")
	case *ArrayLit:
		return errorf(x.P, "a [list] is only allowed after in")
	case *Unary:
		return checkExpr(x.X, inStats, inAgg)
	case *Binary:
		if err := checkExpr(x.L, inStats, inAgg); err != nil {
			return err
		}
		return checkExpr(x.R, inStats, inAgg)
	case *Like:
		return checkExpr(x.X, inStats, inAgg)
	case *In:
		if err := checkExpr(x.X, inStats, inAgg); err != nil {
			return err
		}
		for _, el := range x.List.Elems {
			switch el.(type) {
			case *StringLit, *NumberLit:
			default:
				return errorf(el.Position(), "in [...] takes quoted strings and numbers")
			}
		}
		return nil
	case *Call:
		return checkCall(x, inStats, inAgg)
	}
	return nil
}

func checkCall(c *Call, inStats, inAgg bool) error {
	spec, _ := lookupFunc(c.Name)
	isAgg := spec.kind == aggregate
	if isAgg && inAgg {
		return errorf(c.P, "aggregate function %s cannot be nested in another aggregate", c.Name)
	}
	switch c.Name {
	case "bin":
		if _, ok := c.Args[0].(*DurationLit); !ok {
			return errorf(c.Args[0].Position(), "bin takes a time period such as 30s, 5m or 1h")
		}
		return nil
	case "datefloor", "dateceil":
		if _, ok := c.Args[1].(*DurationLit); !ok {
			return errorf(c.Args[1].Position(), "%s takes a time period such as 1h as its second argument", c.Name)
		}
		return checkExpr(c.Args[0], inStats, inAgg || isAgg)
	case "pct":
		n, ok := c.Args[1].(*NumberLit)
		if !ok || n.Value < 0 || n.Value > 100 {
			return errorf(c.Args[1].Position(), "pct takes a percentile from 0 to 100 as its second argument")
		}
		return checkExpr(c.Args[0], inStats, true)
	}
	for _, a := range c.Args {
		if err := checkExpr(a, inStats, inAgg || isAgg); err != nil {
			return err
		}
	}
	return nil
}

// mustf is used by the printer for impossible AST shapes.
func mustf(format string, args ...any) string { panic(fmt.Sprintf("BUG: "+format, args...)) }
