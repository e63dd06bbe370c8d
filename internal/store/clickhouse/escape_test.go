package clickhouse

import (
	"strings"
	"testing"
)

// TestHasJSONEscape compares the word-at-a-time test with a byte loop on
// every byte value at every position of strings of several lengths.
func TestHasJSONEscape(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
				return true
			}
		}
		return false
	}
	for _, n := range []int{1, 7, 8, 9, 16, 23} {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				if got, want := hasJSONEscape(string(b)), slow(string(b)); got != want {
					t.Fatalf("%q: got %v, want %v", b, got, want)
				}
			}
		}
	}
}
