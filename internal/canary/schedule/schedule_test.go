package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRate(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"rate(1 minute)":    time.Minute,
		"rate(5 minutes)":   5 * time.Minute,
		"rate(1 hour)":      time.Hour,
		"rate(2 hours)":     2 * time.Hour,
		"rate(1 day)":       24 * time.Hour,
		" rate(10 minutes)": 10 * time.Minute,
	} {
		s, err := Parse(text)
		require.NoError(t, err, text)
		require.Equal(t, want, s.Every(), text)
		require.False(t, s.Once())
	}
	s, err := Parse("rate(0 minute)")
	require.NoError(t, err)
	require.True(t, s.Once())
	start := at("2026-03-01T10:00:30Z")
	first, ok := s.First(start)
	require.True(t, ok)
	require.Equal(t, start, first, "once runs at start")
	_, ok = s.Next(first, first.Add(time.Second))
	require.False(t, ok, "and never again")
}

func TestRateNextKeepsPhaseAndSkipsOverruns(t *testing.T) {
	s, err := Parse("rate(5 minutes)")
	require.NoError(t, err)
	start := at("2026-03-01T10:00:30Z")
	first, ok := s.First(start)
	require.True(t, ok)
	require.Equal(t, start, first, "rate schedules start with a run")
	// A quick run: the next is one period after the previous start.
	next, ok := s.Next(first, first.Add(2*time.Second))
	require.True(t, ok)
	require.Equal(t, at("2026-03-01T10:05:30Z"), next)
	// A run that overran two periods: the missed runs are skipped.
	next, ok = s.Next(first, at("2026-03-01T10:11:00Z"))
	require.True(t, ok)
	require.Equal(t, at("2026-03-01T10:15:30Z"), next)
	// Finishing exactly at a due time does not run twice at once.
	next, _ = s.Next(first, at("2026-03-01T10:05:30Z"))
	require.Equal(t, at("2026-03-01T10:10:30Z"), next)
}

func TestCronNext(t *testing.T) {
	tests := []struct {
		expr, from string
		want       []string // successive run times
	}{
		{"cron(*/5 * * * *)", "2026-03-01T10:02:10Z", []string{"2026-03-01T10:05:00Z", "2026-03-01T10:10:00Z"}},
		{"cron(0 * * * *)", "2026-03-01T10:00:00Z", []string{"2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"}},
		{"cron(30 2 * * *)", "2026-03-01T10:00:00Z", []string{"2026-03-02T02:30:00Z", "2026-03-03T02:30:00Z"}},
		{"cron(0 0 1 * *)", "2026-01-31T12:00:00Z", []string{"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
		{"cron(0 0 31 * *)", "2026-01-31T12:00:00Z", []string{"2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"}},
		{"cron(0 0 29 2 *)", "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		// 2026-03-02 is a Monday.
		{"cron(0 9 * * MON-FRI)", "2026-03-06T10:00:00Z", []string{"2026-03-09T09:00:00Z", "2026-03-10T09:00:00Z"}},
		{"cron(0 9 * * 1-5)", "2026-03-06T10:00:00Z", []string{"2026-03-09T09:00:00Z"}},
		{"cron(0 0 * * 0)", "2026-03-02T00:00:00Z", []string{"2026-03-08T00:00:00Z"}},
		{"cron(0 0 * * 7)", "2026-03-02T00:00:00Z", []string{"2026-03-08T00:00:00Z"}},
		{"cron(0 0 * * sun)", "2026-03-02T00:00:00Z", []string{"2026-03-08T00:00:00Z"}},
		// Both day fields restricted: either matches (the 13th, or a Friday).
		{"cron(0 0 13 * 5)", "2026-03-01T00:00:00Z", []string{"2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z"}},
		{"cron(15,45 8-9 * JAN,MAR *)", "2026-03-31T09:50:00Z", []string{"2027-01-01T08:15:00Z", "2027-01-01T08:45:00Z", "2027-01-01T09:15:00Z"}},
		{"cron(10/20 0 1 1 *)", "2025-12-31T23:59:59Z", []string{"2026-01-01T00:10:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:50:00Z", "2027-01-01T00:10:00Z"}},
		{"cron(0 12 1-10/3 * ?)", "2026-03-01T13:00:00Z", []string{"2026-03-04T12:00:00Z", "2026-03-07T12:00:00Z", "2026-03-10T12:00:00Z", "2026-04-01T12:00:00Z"}},
		// AWS 6-field: SUN=1, so 2-6 is Monday to Friday; a year field.
		{"cron(0 8 ? * 2-6 *)", "2026-03-06T10:00:00Z", []string{"2026-03-09T08:00:00Z"}},
		{"cron(0 8 ? * MON-FRI *)", "2026-03-06T10:00:00Z", []string{"2026-03-09T08:00:00Z"}},
		{"cron(0 0 ? * 1 *)", "2026-03-02T00:00:00Z", []string{"2026-03-08T00:00:00Z"}},
		{"cron(0 10 15 * ? 2027-2028)", "2026-03-01T00:00:00Z", []string{"2027-01-15T10:00:00Z", "2027-02-15T10:00:00Z"}},
		{"cron(0 10 15 6 ? 2027)", "2027-06-15T10:00:00Z", nil}, // its only run is past
	}
	for _, tt := range tests {
		t.Run(tt.expr+" from "+tt.from, func(t *testing.T) {
			s, err := Parse(tt.expr)
			require.NoError(t, err)
			require.Zero(t, s.Every())
			require.False(t, s.Once())
			cur, ok := s.First(at(tt.from))
			for _, w := range tt.want {
				require.True(t, ok)
				require.Equal(t, at(w), cur)
				cur, ok = s.Next(cur, cur.Add(3*time.Second))
			}
			if tt.want == nil {
				require.False(t, ok)
			}
		})
	}
}

func TestCronNextAfterLongRun(t *testing.T) {
	s, err := Parse("cron(*/5 * * * *)")
	require.NoError(t, err)
	next, ok := s.Next(at("2026-03-01T10:05:00Z"), at("2026-03-01T10:12:00Z"))
	require.True(t, ok)
	require.Equal(t, at("2026-03-01T10:15:00Z"), next, "runs missed while a run overran are skipped")
}

func TestNeverMatches(t *testing.T) {
	s, err := Parse("cron(0 0 30 2 *)")
	require.NoError(t, err)
	_, ok := s.First(at("2026-01-01T00:00:00Z"))
	require.False(t, ok, "February has no 30th")
}

func TestParseErrors(t *testing.T) {
	for text, msg := range map[string]string{
		"":                         "want rate(N minutes|hours|days) or cron(...)",
		"every 5m":                 "want rate(N minutes|hours|days) or cron(...)",
		"*/5 * * * *":              "want rate(N minutes|hours|days) or cron(...)",
		"rate(5)":                  "want a number and a unit",
		"rate(-1 minutes)":         "not a whole number",
		"rate(x minutes)":          "not a whole number",
		"rate(5 seconds)":          `unknown unit "seconds"`,
		"rate(999999999 days)":     "too long",
		"cron(* * * *)":            "want 5 fields",
		"cron(* * * * * * *)":      "got 7",
		"cron(60 * * * *)":         "minute: 60 is out of range 0-59",
		"cron(0 24 * * *)":         "hour: 24 is out of range 0-23",
		"cron(0 0 0 * *)":          "day-of-month: 0 is out of range 1-31",
		"cron(0 0 * 13 *)":         "month: 13 is out of range 1-12",
		"cron(0 0 * * 8)":          "day-of-week: 8 is out of range 0-7",
		"cron(0 0 ? * 0 *)":        "day-of-week: 0 is out of range 1-7",
		"cron(0 0 * FOO *)":        `month: "FOO" is not a number`,
		"cron(5-1 * * * *)":        "range 5-1 is backwards",
		"cron(*/0 * * * *)":        `step "0" is not a positive number`,
		"cron(? * * * *)":          "? is only for day-of-month and day-of-week",
		"cron(0 0 L * ? *)":        "L, W and # are not supported",
		"cron(0 0 ? * 6#3 *)":      "L, W and # are not supported",
		"cron(0 0 * * * *)":        "? in exactly one of",
		"cron(0 0 ? * ? *)":        "? in exactly one of",
		"cron(0 0 1 * ? 1969)":     "year: 1969 is out of range",
		"cron(0 0 1 * ? 2030-abc)": `year: "abc" is not a number`,
	} {
		_, err := Parse(text)
		require.ErrorContains(t, err, msg, text)
	}
}

// FuzzParse checks that parsing never panics and that run times always
// move forward.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"rate(5 minutes)", "rate(0 minute)", "cron(*/5 * * * *)", "cron(0 8 ? * MON-FRI *)",
		"cron(15,45 8-9 * JAN,MAR 0-7)", "cron(0 0 29 2 *)", "cron(10/20 0 1 1 ? 2030-2040)", "cron(0 0 L * ? *)",
	} {
		f.Add(s)
	}
	from := at("2026-03-01T10:02:10Z")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			return
		}
		first, ok := s.First(from)
		if !ok {
			return
		}
		if first.Before(from) {
			t.Fatalf("%s: first run %v before %v", text, first, from)
		}
		next, ok := s.Next(first, first.Add(time.Second))
		if ok && !next.After(first) {
			t.Fatalf("%s: next run %v not after %v", text, next, first)
		}
	})
}
