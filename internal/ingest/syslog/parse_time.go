package syslog

import (
	"strings"
	"time"
)

const isoLayout = "want YYYY-MM-DDThh:mm:ss[.fraction] and Z or ±hh:mm"

// parseISOTime parses an RFC 3339 timestamp at the start of s, as RFC 5424
// writes it: YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm), with up to 9
// fractional digits. When loc is nil the zone is required; otherwise a
// timestamp without zone is read in loc. It returns the time, the number of
// bytes it used, and why s is not a timestamp ("" when it is).
func parseISOTime(s string, loc *time.Location) (time.Time, int, string) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, isoLayout
	}
	var v [7]int
	for k, span := range [...][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		n, ok := atoi(s[span[0]:span[1]])
		if !ok {
			return time.Time{}, 0, isoLayout
		}
		v[k] = n
	}
	year, month, day, hour, minute, sec := v[0], v[1], v[2], v[3], v[4], v[5]
	i := 19
	nsec := 0
	if i < len(s) && s[i] == '.' {
		var digits int
		nsec, digits = fraction(s[i+1:])
		switch {
		case digits == 0:
			return time.Time{}, 0, "want digits after \".\""
		case digits > 9:
			return time.Time{}, 0, "more than 9 fractional digits"
		}
		i += 1 + digits
	}
	if reason := checkClock(month, day, hour, minute, sec); reason != "" {
		return time.Time{}, 0, reason
	}
	offset := 0
	switch {
	case i < len(s) && (s[i] == 'Z' || s[i] == 'z'):
		i++
		loc = time.UTC
	case i < len(s) && (s[i] == '+' || s[i] == '-'):
		if len(s) < i+6 || s[i+3] != ':' {
			return time.Time{}, 0, "want ±hh:mm as the time zone offset"
		}
		oh, ok1 := atoi(s[i+1 : i+3])
		om, ok2 := atoi(s[i+4 : i+6])
		if !ok1 || !ok2 {
			return time.Time{}, 0, "want ±hh:mm as the time zone offset"
		}
		if oh > 23 || om > 59 {
			return time.Time{}, 0, "time zone offset out of range"
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
		loc = time.UTC
	case loc == nil:
		return time.Time{}, 0, "missing time zone (Z or ±hh:mm)"
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return time.Time{}, 0, "day out of range for the month"
	}
	return t.Add(-time.Duration(offset) * time.Second), i, ""
}

// checkClock checks the ranges of a date and clock time; the day against the
// month's length is checked once the year is known.
func checkClock(month, day, hour, minute, sec int) string {
	switch {
	case month < 1 || month > 12:
		return "month out of range"
	case day < 1 || day > 31:
		return "day out of range"
	case hour > 23:
		return "hour out of range"
	case minute > 59:
		return "minute out of range"
	case sec > 59: // RFC 5424 section 6.2.3.1: no leap seconds
		return "second out of range"
	}
	return ""
}

// fraction reads the digits at the start of s as a fraction of a second. It
// returns nanoseconds (from the first 9 digits) and the number of digits.
func fraction(s string) (nsec, digits int) {
	for digits < len(s) && isDigit(s[digits]) {
		if digits < 9 {
			nsec = nsec*10 + int(s[digits]-'0')
		}
		digits++
	}
	for k := digits; k < 9; k++ {
		nsec *= 10
	}
	return nsec, digits
}

// atoi parses a string of decimal digits only.
func atoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

var months = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// parseBSDTime recognises the timestamp at the start of an RFC 3164 line, in
// one of the forms the package documentation lists, followed by a space or
// the end of the line. It returns the time and the bytes it used.
func parseBSDTime(s string, now time.Time) (time.Time, int, bool) {
	if len(s) >= 19 && isDigit(s[0]) && s[4] == '-' {
		t, n, reason := parseISOTime(s, now.Location())
		if reason != "" || (n < len(s) && s[n] != ' ') {
			return time.Time{}, 0, false
		}
		return t, n, true
	}
	// Mmm dd [yyyy ]hh:mm:ss[.fraction]
	if len(s) < 14 || s[3] != ' ' {
		return time.Time{}, 0, false
	}
	month := 0
	for k, name := range months {
		if strings.EqualFold(s[:3], name) {
			month = k + 1
			break
		}
	}
	if month == 0 {
		return time.Time{}, 0, false
	}
	i := 4
	if s[i] == ' ' { // space-padded day
		i++
	}
	dayStart := i
	for i < len(s) && i < dayStart+2 && isDigit(s[i]) {
		i++
	}
	day, ok := atoi(s[dayStart:i])
	if !ok || i >= len(s) || s[i] != ' ' {
		return time.Time{}, 0, false
	}
	i++
	year := 0
	if len(s) >= i+5 && s[i+4] == ' ' {
		if year, ok = atoi(s[i : i+4]); !ok {
			return time.Time{}, 0, false
		}
		i += 5
	}
	if len(s) < i+8 || s[i+2] != ':' || s[i+5] != ':' {
		return time.Time{}, 0, false
	}
	hour, ok1 := atoi(s[i : i+2])
	minute, ok2 := atoi(s[i+3 : i+5])
	sec, ok3 := atoi(s[i+6 : i+8])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, 0, false
	}
	i += 8
	nsec := 0
	if i < len(s) && s[i] == '.' {
		var digits int
		nsec, digits = fraction(s[i+1:])
		if digits == 0 || digits > 9 {
			return time.Time{}, 0, false
		}
		i += 1 + digits
	}
	if (i < len(s) && s[i] != ' ') || checkClock(month, day, hour, minute, sec) != "" {
		return time.Time{}, 0, false
	}
	loc := now.Location()
	if year != 0 {
		t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
		if t.Day() != day {
			return time.Time{}, 0, false
		}
		return t, i, true
	}
	// The year closest to now that is not more than a day ahead. Years are
	// tried newest first, so the first date that exists and is not too far
	// ahead is the closest; a few years back reach a leap year for Feb 29.
	limit := now.Add(24 * time.Hour)
	for y := now.Year() + 1; y > now.Year()+1-maxYearsTried; y-- {
		t := time.Date(y, time.Month(month), day, hour, minute, sec, nsec, loc)
		if t.Day() == day && !t.After(limit) {
			return t, i, true
		}
	}
	return time.Time{}, 0, false
}
