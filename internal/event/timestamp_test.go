package event

import (
	"fmt"
	"testing"
	"time"
)

// FuzzParseTimeText checks ParseTimeText's promise, which the parser relies
// on to store a timestamp field as its layout only: a returned layout
// writes the parsed time back as exactly the same text.
func FuzzParseTimeText(f *testing.F) {
	for _, s := range []string{
		"2026-11-20T00:00:00.043Z", "2026-11-20T00:00:00Z", "2026-11-20 00:00:00.043",
		"2026-02-30T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "2026-11-20T00:00:00.0430Z",
		"2026-11-20T23:59:60.000Z", "2026-11-20T00:00:00+01:00", "1795132800043",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ms, _, ok := parseFastUTC(s); ok {
			// The date arithmetic agrees with package time.
			var y, mo, d, h, mi, sec int
			fmt.Sscanf(s[:19], "%4d-%2d-%2d", &y, &mo, &d)
			fmt.Sscanf(s[11:19], "%2d:%2d:%2d", &h, &mi, &sec)
			want := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC).UnixMilli()
			if whole := ms - (ms%1000+1000)%1000; whole != want { // the fraction cut
				t.Fatalf("%q: %d, package time says %d", s, ms, want)
			}
		}
		ms, layout, ok := ParseTimeText(s)
		if !ok || layout == 0 {
			return
		}
		if back := string(layout.Append(nil, ms)); back != s {
			t.Fatalf("%q parsed as %d in layout %d writes back as %q", s, ms, layout, back)
		}
	})
}

// TestDaysFromCivil compares the date arithmetic with package time over
// every day of several centuries, leap years included.
func TestDaysFromCivil(t *testing.T) {
	for d := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2500; d = d.AddDate(0, 0, 1) {
		want := d.Unix() / 86400
		if got := daysFromCivil(d.Year(), int(d.Month()), d.Day()); got != want {
			t.Fatalf("%s: got %d, want %d", d.Format(time.DateOnly), got, want)
		}
		last := d.AddDate(0, 1, -d.Day()) // the month's last day
		if daysIn(int(d.Month()), d.Year()) != last.Day() {
			t.Fatalf("%s: %d days, want %d", d.Format("2006-01"), daysIn(int(d.Month()), d.Year()), last.Day())
		}
	}
}

// FuzzLayoutAppend checks the layouts written without package time's
// layout interpretation against package time, for any millisecond.
func FuzzLayoutAppend(f *testing.F) {
	for _, ms := range []int64{0, -1, 1795132800043, -62135596800000, 253402300799999, 253402300800000, -62167219200001} {
		f.Add(ms)
	}
	f.Fuzz(func(t *testing.T, ms int64) {
		for _, l := range []TimeLayout{LayoutRFC3339Milli, LayoutSpaceMilli} {
			want := time.UnixMilli(ms).UTC().Format(l.GoLayout())
			if got := string(l.Append(nil, ms)); got != want {
				t.Fatalf("%d in layout %d: %q, package time writes %q", ms, l, got, want)
			}
		}
	})
}
