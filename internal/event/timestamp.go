package event

import (
	"math"
	"strconv"
	"time"
)

// TimeLayout is a way of writing a timestamp that can be rebuilt exactly from
// a millisecond @timestamp. A field whose text matches its event's @timestamp
// in one of these layouts is stored as KindTime: one byte instead of the text.
type TimeLayout uint8

// The layouts. Values are persisted: never renumber them.
const (
	LayoutRFC3339Milli TimeLayout = 1 // "2006-01-02T15:04:05.000Z"
	LayoutRFC3339      TimeLayout = 2 // "2006-01-02T15:04:05Z" (whole seconds)
	LayoutEpochMillis  TimeLayout = 3 // JSON number of milliseconds
	LayoutEpochSeconds TimeLayout = 4 // JSON number of whole seconds
	LayoutSpaceMilli   TimeLayout = 5 // "2006-01-02 15:04:05.000"
)

// Quoted reports whether the layout is written as a JSON string.
func (l TimeLayout) Quoted() bool { return l != LayoutEpochMillis && l != LayoutEpochSeconds }

// GoLayout returns the time.Format layout of a quoted layout.
func (l TimeLayout) GoLayout() string {
	switch l {
	case LayoutRFC3339Milli:
		return "2006-01-02T15:04:05.000Z"
	case LayoutRFC3339:
		return "2006-01-02T15:04:05Z"
	case LayoutSpaceMilli:
		return "2006-01-02 15:04:05.000"
	}
	return ""
}

// Format writes the millisecond timestamp ms in layout l.
func (l TimeLayout) Format(ms int64) string { return string(l.Append(nil, ms)) }

// Append writes the millisecond timestamp ms in layout l to b.
func (l TimeLayout) Append(b []byte, ms int64) []byte {
	switch l {
	case LayoutEpochMillis:
		return strconv.AppendInt(b, ms, 10)
	case LayoutEpochSeconds:
		return strconv.AppendInt(b, ms/1000, 10)
	case LayoutRFC3339Milli:
		return appendMilli(b, ms, 'T', true)
	case LayoutSpaceMilli:
		return appendMilli(b, ms, ' ', false)
	}
	return time.UnixMilli(ms).UTC().AppendFormat(b, l.GoLayout())
}

// DefaultTimeFields are the top-level fields that give an event its
// @timestamp, in order of preference.
var DefaultTimeFields = []string{"@timestamp", "timestamp", "time", "ts"}

// ParseTimeText parses a timestamp written as text: RFC 3339 with or without
// fractional seconds and zone, or "2006-01-02 15:04:05[.fff]" (UTC), or a
// decimal epoch number. It returns Unix milliseconds and the layout when the
// text can be rebuilt exactly from them (0 otherwise).
func ParseTimeText(s string) (ms int64, layout TimeLayout, ok bool) {
	if ms, l, ok := parseFastUTC(s); ok {
		return ms, l, true
	}
	if len(s) > 0 && (s[0] >= '0' && s[0] <= '9') && len(s) < 24 && !containsAny(s, "-:T ") {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			ms, ok := epochToMillis(f)
			return ms, 0, ok
		}
	}
	for _, layout := range textLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), 0, true
		}
	}
	return 0, 0, false
}

var textLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z0700",
	time.RFC1123Z,
	time.RFC1123,
}

// ParseTimeNumber interprets an epoch number by its magnitude: seconds,
// milliseconds, microseconds or nanoseconds. text is the number as written
// and decides whether the value can be rebuilt exactly.
func ParseTimeNumber(text string, isInt bool, i int64, f float64) (ms int64, layout TimeLayout, ok bool) {
	if !isInt {
		ms, ok = epochToMillis(f)
		return ms, 0, ok
	}
	a := i
	if a < 0 {
		a = -a
	}
	switch {
	case a < 1e11:
		return i * 1000, LayoutEpochSeconds, true
	case a < 1e14:
		return i, LayoutEpochMillis, true
	case a < 1e17:
		return i / 1000, 0, true
	default:
		return i / 1e6, 0, true
	}
}

func epochToMillis(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	a := math.Abs(f)
	switch {
	case a < 1e11:
		return int64(math.Round(f * 1000)), true
	case a < 1e14:
		return int64(f), true
	case a < 1e17:
		return int64(f / 1e3), true
	case a < 1e20:
		return int64(f / 1e6), true
	}
	return 0, false
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

// parseFastUTC parses the common UTC forms without time.Parse:
// YYYY-MM-DDTHH:MM:SS[.fraction]Z and YYYY-MM-DD HH:MM:SS[.fraction].
func parseFastUTC(s string) (int64, TimeLayout, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return 0, 0, false
	}
	var d [14]int
	pos := [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}
	for i, p := range pos {
		c := s[p]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		d[i] = int(c - '0')
	}
	year := d[0]*1000 + d[1]*100 + d[2]*10 + d[3]
	month, day := d[4]*10+d[5], d[6]*10+d[7]
	hour, minute, sec := d[8]*10+d[9], d[10]*10+d[11], d[12]*10+d[13]
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return 0, 0, false
	}
	rest := s[19:]
	frac, fracDigits := 0, 0
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			if fracDigits < 3 {
				frac = frac*10 + int(rest[i]-'0')
			}
			fracDigits++
		}
		if fracDigits == 0 {
			return 0, 0, false
		}
		for k := fracDigits; k < 3; k++ {
			frac *= 10
		}
		rest = rest[i:]
	}
	tee := s[10] == 'T'
	switch {
	case rest == "Z" && tee:
	case rest == "" && !tee:
	case rest == "":
		// "2006-01-02T15:04:05" without zone: read as UTC.
	default:
		return 0, 0, false
	}
	if day > daysIn(month, year) {
		return 0, 0, false // 31 February and friends
	}
	secs := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	ms := secs*1000 + int64(frac)
	var layout TimeLayout
	switch {
	case tee && rest == "Z" && fracDigits == 3:
		layout = LayoutRFC3339Milli
	case tee && rest == "Z" && fracDigits == 0:
		layout = LayoutRFC3339
	case !tee && fracDigits == 3:
		layout = LayoutSpaceMilli
	}
	return ms, layout, true
}

// daysFromCivil is the number of days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil): what
// time.Date computes, without its normalisation, on the ingest hot path.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12 // March is 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// daysIn is the number of days of a month.
func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendMilli is time.Format("2006-01-02T15:04:05.000Z") (sep 'T', zulu)
// or "2006-01-02 15:04:05.000" (sep ' ') without the layout
// interpretation, for the hot ingest path and query results.
func appendMilli(b []byte, ms int64, sep byte, zulu bool) []byte {
	t := time.UnixMilli(ms).UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		layout := "2006-01-02 15:04:05.000"
		if zulu {
			layout = "2006-01-02T15:04:05.000Z"
		}
		return t.AppendFormat(b, layout)
	}
	hour, minute, sec := t.Clock()
	milli := int(((ms % 1000) + 1000) % 1000)
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), sep,
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10))
	if zulu {
		b = append(b, 'Z')
	}
	return b
}
