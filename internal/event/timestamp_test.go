package event

import "testing"

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
		ms, layout, ok := ParseTimeText(s)
		if !ok || layout == 0 {
			return
		}
		if back := string(layout.Append(nil, ms)); back != s {
			t.Fatalf("%q parsed as %d in layout %d writes back as %q", s, ms, layout, back)
		}
	})
}
