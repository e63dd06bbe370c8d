package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a query time: RFC 3339, epoch milliseconds, "now", or
// "now-1h" (units s, m, h, d, w; also "now+5m").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if rest, ok := strings.CutPrefix(s, "now"); ok {
		if rest == "" {
			return now, nil
		}
		sign := time.Duration(1)
		switch rest[0] {
		case '-':
			sign = -1
		case '+':
		default:
			return time.Time{}, fmt.Errorf("invalid time %q: want now-1h or now+5m", s)
		}
		d, err := ParseSince(rest[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid time %q: %w", s, err)
		}
		return now.Add(sign * d), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want RFC 3339, epoch milliseconds or now-1h", s)
}

// ParseSince reads a duration with the units s, m, h, d and w ("90m",
// "1d12h", "2w").
func ParseSince(s string) (time.Duration, error) {
	var total time.Duration
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		var unit time.Duration
		switch s[i:j] {
		case "ms":
			unit = time.Millisecond
		case "s":
			unit = time.Second
		case "m", "min":
			unit = time.Minute
		case "h":
			unit = time.Hour
		case "d":
			unit = 24 * time.Hour
		case "w":
			unit = 7 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("unknown unit %q", s[i:j])
		}
		total += time.Duration(n) * unit
		s = s[j:]
	}
	return total, nil
}
