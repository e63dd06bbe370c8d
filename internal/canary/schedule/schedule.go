// Package schedule parses canary schedules in CloudWatch Synthetics' form
// and computes their run times:
//
//	rate(5 minutes)        every 5 minutes from the start (minute, hour, day; singular or plural)
//	rate(0 minute)         once, when the scheduler starts
//	cron(*/5 * * * *)      standard 5-field cron: minute hour day-of-month month day-of-week
//	cron(0 8 ? * MON-FRI *) AWS 6-field cron: ... day-of-week year, with ? and SUN=1
//
// Cron fields take *, numbers, names (JAN-DEC, SUN-SAT), ranges a-b, steps
// */n, a/n and a-b/n, and lists of these. In the 5-field form day-of-week
// runs 0-7 with 0 and 7 for Sunday, and when both day fields are restricted
// a day matches either (as in Vixie cron). In the AWS form day-of-week runs
// 1-7 with 1 for Sunday, and one of the day fields must be ?, as AWS
// requires. AWS' L, W and # are not supported. Times are UTC, as in AWS.
//
// The package imports nothing from sonde.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule says when a canary runs. The zero value is invalid; use Parse.
type Schedule struct {
	text  string
	every time.Duration // rate; 0 for once
	cron  *cron
}

// Parse parses "rate(N unit)" or "cron(fields)".
func Parse(s string) (Schedule, error) {
	text := strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(text, "rate(") && strings.HasSuffix(text, ")"):
		d, err := parseRate(text[len("rate(") : len(text)-1])
		if err != nil {
			return Schedule{}, fmt.Errorf("%s: %w", text, err)
		}
		return Schedule{text: text, every: d}, nil
	case strings.HasPrefix(text, "cron(") && strings.HasSuffix(text, ")"):
		c, err := parseCron(text[len("cron(") : len(text)-1])
		if err != nil {
			return Schedule{}, fmt.Errorf("%s: %w", text, err)
		}
		return Schedule{text: text, cron: c}, nil
	}
	return Schedule{}, fmt.Errorf("schedule %q: want rate(N minutes|hours|days) or cron(...)", s)
}

func parseRate(s string) (time.Duration, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return 0, errors.New("want a number and a unit, as in rate(5 minutes)")
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number of at least 0", num)
	}
	var u time.Duration
	switch strings.TrimSpace(unit) {
	case "minute", "minutes":
		u = time.Minute
	case "hour", "hours":
		u = time.Hour
	case "day", "days":
		u = 24 * time.Hour
	default:
		return 0, fmt.Errorf("unknown unit %q (want minute(s), hour(s) or day(s))", unit)
	}
	if n > 366*24*60 {
		return 0, fmt.Errorf("%d %s is too long", n, unit)
	}
	return time.Duration(n) * u, nil
}

// String returns the schedule as written.
func (s Schedule) String() string { return s.text }

// Once reports whether the schedule runs once, at start (rate(0 ...)).
func (s Schedule) Once() bool { return s.cron == nil && s.every == 0 }

// Every returns the period of a rate schedule (0 for cron and once).
func (s Schedule) Every() time.Duration { return s.every }

// First returns the first run time for a scheduler started at now: now
// itself for rate schedules (CloudWatch starts a canary with a run), the
// next matching minute for cron. ok is false when a cron expression never
// matches again.
func (s Schedule) First(now time.Time) (t time.Time, ok bool) {
	if s.cron != nil {
		return s.cron.next(now)
	}
	return now, true
}

// Next returns the run time that follows the one due at prev, given that
// that run finished at now. Runs never overlap: for a rate schedule, the
// periods a long run overran are skipped and the next run keeps the phase
// of the first; for cron it is the first matching minute after now. ok is
// false when there is no further run (once, or a cron expression that no
// longer matches).
func (s Schedule) Next(prev, now time.Time) (t time.Time, ok bool) {
	switch {
	case s.cron != nil:
		if prev.After(now) {
			now = prev
		}
		return s.cron.next(now)
	case s.every == 0:
		return time.Time{}, false
	}
	t = prev.Add(s.every)
	if !t.After(now) {
		t = prev.Add((now.Sub(prev)/s.every + 1) * s.every)
	}
	return t, true
}
