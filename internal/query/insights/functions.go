package insights

import (
	"sort"
	"strings"
)

// funcKind tells where a function may appear.
type funcKind int

const (
	scalar    funcKind = iota
	aggregate          // only inside stats
)

// funcSpec describes one function of the language.
type funcSpec struct {
	name     string // canonical spelling
	kind     funcKind
	min, max int // argument counts; max -1 means any
}

// functions lists every function of the reference, keyed by lower case.
var functions = func() map[string]funcSpec {
	specs := []funcSpec{
		// Numeric.
		{"abs", scalar, 1, 1}, {"ceil", scalar, 1, 1}, {"floor", scalar, 1, 1},
		{"greatest", scalar, 1, -1}, {"least", scalar, 1, -1}, {"log", scalar, 1, 1},
		{"sqrt", scalar, 1, 1}, {"pow", scalar, 2, 2}, {"mod", scalar, 2, 2},
		// General.
		{"ispresent", scalar, 1, 1}, {"coalesce", scalar, 1, -1},
		// String.
		{"isempty", scalar, 1, 1}, {"isblank", scalar, 1, 1}, {"concat", scalar, 1, -1},
		{"ltrim", scalar, 1, 2}, {"rtrim", scalar, 1, 2}, {"trim", scalar, 1, 2},
		{"strlen", scalar, 1, 1}, {"toupper", scalar, 1, 1}, {"tolower", scalar, 1, 1},
		{"substr", scalar, 2, 3}, {"replace", scalar, 3, 3}, {"strcontains", scalar, 2, 2},
		// Datetime.
		{"bin", scalar, 1, 1}, {"datefloor", scalar, 2, 2}, {"dateceil", scalar, 2, 2},
		{"fromMillis", scalar, 1, 1}, {"toMillis", scalar, 1, 1}, {"now", scalar, 0, 0},
		// IP addresses.
		{"isValidIp", scalar, 1, 1}, {"isValidIpV4", scalar, 1, 1}, {"isValidIpV6", scalar, 1, 1},
		{"isIpInSubnet", scalar, 2, 2}, {"isIpv4InSubnet", scalar, 2, 2}, {"isIpv6InSubnet", scalar, 2, 2},
		// JSON.
		{"jsonParse", scalar, 1, 1}, {"jsonStringify", scalar, 1, 1},
		// Aggregates.
		{"count", aggregate, 0, 1}, {"count_distinct", aggregate, 1, 1}, {"sum", aggregate, 1, 1},
		{"avg", aggregate, 1, 1}, {"min", aggregate, 1, 1}, {"max", aggregate, 1, 1},
		{"stddev", aggregate, 1, 1}, {"pct", aggregate, 2, 2}, {"earliest", aggregate, 1, 1},
		{"latest", aggregate, 1, 1}, {"sortsFirst", aggregate, 1, 1}, {"sortsLast", aggregate, 1, 1},
	}
	m := make(map[string]funcSpec, len(specs))
	for _, s := range specs {
		m[strings.ToLower(s.name)] = s
	}
	return m
}()

// lookupFunc finds a function by name, ignoring case.
func lookupFunc(name string) (funcSpec, bool) {
	s, ok := functions[strings.ToLower(name)]
	return s, ok
}

// suggestFunc returns the known function closest to name, if close enough
// to be a likely typo.
func suggestFunc(name string) string {
	lower := strings.ToLower(name)
	best, bestDist := "", 3
	names := make([]string, 0, len(functions))
	for k := range functions {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d := editDistance(lower, k)
		if strings.HasPrefix(lower, k) || strings.HasPrefix(k, lower) {
			d = min(d, 2)
		}
		if d < bestDist {
			best, bestDist = functions[k].name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// durationUnits maps every spelling of a bin() unit to its canonical form.
var durationUnits = func() map[string]string {
	m := map[string]string{}
	add := func(canon string, names ...string) {
		for _, n := range names {
			m[n] = canon
		}
	}
	add("ms", "ms", "msec", "msecs", "millisecond", "milliseconds")
	add("s", "s", "sec", "secs", "second", "seconds")
	add("m", "m", "min", "mins", "minute", "minutes")
	add("h", "h", "hr", "hrs", "hour", "hours")
	add("d", "d", "day", "days")
	add("w", "w", "week", "weeks")
	add("mo", "mo", "mon", "mons", "month", "months")
	add("q", "q", "qtr", "qtrs", "quarter", "quarters")
	add("y", "y", "yr", "yrs", "year", "years")
	return m
}()

// unitMillis is the length of fixed units; months, quarters and years are
// calendar units.
var unitMillis = map[string]int64{
	"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000,
}
