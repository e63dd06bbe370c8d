package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cron is a parsed cron expression: one bit set per field.
type cron struct {
	minute, hour, dom, month, dow uint64
	// domAll and dowAll record an unrestricted day field (* or ?), for the
	// rule that two restricted day fields match either.
	domAll, dowAll bool
	// years is nil for any year, else the allowed years from minYear.
	years []bool
}

const (
	minYear = 1970
	maxYear = 2199
)

// field describes one cron field.
type field struct {
	name     string
	min, max int
	names    []string // names[i] is the value min+i; nil when names are not allowed
}

var (
	fMinute = field{name: "minute", min: 0, max: 59}
	fHour   = field{name: "hour", min: 0, max: 23}
	fDom    = field{name: "day-of-month", min: 1, max: 31}
	fMonth  = field{name: "month", min: 1, max: 12,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}}
	// fDow5 is the 5-field day of week: 0-7, Sunday is 0 and 7.
	fDow5 = field{name: "day-of-week", min: 0, max: 7,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	// fDow6 is AWS' day of week: 1-7, Sunday is 1.
	fDow6 = field{name: "day-of-week", min: 1, max: 7,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}}
	fYear = field{name: "year", min: minYear, max: maxYear}
)

func parseCron(s string) (*cron, error) {
	parts := strings.Fields(s)
	if len(parts) != 5 && len(parts) != 6 {
		return nil, fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week) or AWS' 6 (... year), got %d", len(parts))
	}
	aws := len(parts) == 6
	c := &cron{}
	var err error
	if c.minute, _, err = fMinute.parse(parts[0], false); err != nil {
		return nil, err
	}
	if c.hour, _, err = fHour.parse(parts[1], false); err != nil {
		return nil, err
	}
	if c.dom, c.domAll, err = fDom.parse(parts[2], true); err != nil {
		return nil, err
	}
	if c.month, _, err = fMonth.parse(parts[3], false); err != nil {
		return nil, err
	}
	if aws {
		if (parts[2] == "?") == (parts[4] == "?") {
			return nil, errors.New("AWS cron needs ? in exactly one of day-of-month and day-of-week")
		}
		var dow uint64
		if dow, c.dowAll, err = fDow6.parse(parts[4], true); err != nil {
			return nil, err
		}
		c.dow = dow >> 1 // AWS 1-7 (SUN=1) to 0-6 (SUN=0)
		if parts[5] != "*" {
			c.years = make([]bool, maxYear-minYear+1)
			if err := fYear.each(parts[5], func(y int) { c.years[y-minYear] = true }); err != nil {
				return nil, err
			}
		}
	} else {
		var dow uint64
		if dow, c.dowAll, err = fDow5.parse(parts[4], true); err != nil {
			return nil, err
		}
		if dow&(1<<7) != 0 {
			dow |= 1 // 7 is Sunday too
		}
		c.dow = dow &^ (1 << 7)
	}
	return c, nil
}

// parse reads a field into a bit set; all reports * (or ? where allowed).
func (f field) parse(s string, question bool) (bits uint64, all bool, err error) {
	if s == "*" || (question && s == "?") {
		all = true
	}
	err = f.each(s, func(v int) { bits |= 1 << v })
	return bits, all, err
}

// each calls fn for every value the field text allows.
func (f field) each(s string, fn func(int)) error {
	for item := range strings.SplitSeq(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		lo, hi := f.min, f.max
		switch {
		case rng == "*" || rng == "?":
			if rng == "?" && f.name != "day-of-month" && f.name != "day-of-week" {
				return fmt.Errorf("%s: ? is only for day-of-month and day-of-week", f.name)
			}
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = f.value(a); err != nil {
				return err
			}
			hi = lo
			if isRange {
				if hi, err = f.value(b); err != nil {
					return err
				}
				if hi < lo {
					return fmt.Errorf("%s: range %s is backwards", f.name, rng)
				}
			} else if hasStep {
				hi = f.max // "a/n" runs from a to the end
			}
		}
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return fmt.Errorf("%s: step %q is not a positive number", f.name, stepText)
			}
			step = n
		}
		for v := lo; v <= hi; v += step {
			fn(v)
		}
	}
	return nil
}

// value reads one number or name.
func (f field) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		if strings.ContainsAny(s, "LW#") {
			return 0, fmt.Errorf("%s: %q: L, W and # are not supported", f.name, s)
		}
		return 0, fmt.Errorf("%s: %q is not a number", f.name, s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s: %d is out of range %d-%d", f.name, v, f.min, f.max)
	}
	return v, nil
}

// next returns the first minute strictly after t (in UTC) that matches.
// ok is false if none does before the year 2200.
func (c *cron) next(t time.Time) (time.Time, bool) {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	for t.Year() <= maxYear {
		switch {
		case c.years != nil && (t.Year() < minYear || !c.years[t.Year()-minYear]):
			t = time.Date(t.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
		case c.month&(1<<int(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !c.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case c.hour&(1<<t.Hour()) == 0:
			t = t.Truncate(time.Hour).Add(time.Hour)
		case c.minute&(1<<t.Minute()) == 0:
			t = t.Add(time.Minute)
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

// dayMatches applies both day fields: when both are restricted either may
// match (Vixie cron); otherwise both must.
func (c *cron) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<t.Day()) != 0
	dow := c.dow&(1<<int(t.Weekday())) != 0
	if !c.domAll && !c.dowAll {
		return dom || dow
	}
	return dom && dow
}
