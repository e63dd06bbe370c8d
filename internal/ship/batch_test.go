package ship

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bodyLines returns the lines of b's body.
func bodyLines(b *batch) []string {
	out := make([]string, len(b.lines))
	for i := range b.lines {
		out[i] = string(b.line(i))
	}
	return out
}

func TestAssembler(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxLine int
		chunks  []string
		finish  bool
		want    []string
		offsets []int64 // where each line starts
		end     int64   // end of the batch
		pos     int64   // after the unfinished line
		cut     int
	}{
		{
			name: "lines across chunks", maxLine: 100,
			chunks: []string{"ab", "c\nde", "f\n", "gh"},
			want:   []string{"abc", "def"}, offsets: []int64{0, 4}, end: 8, pos: 10,
		},
		{
			name: "blank lines are covered but not sent", maxLine: 100,
			chunks: []string{"a\n\n \t\r\nb\r\n"},
			want:   []string{"a", "b\r"}, offsets: []int64{0, 7}, end: 10, pos: 10,
		},
		{
			name: "unfinished line sent as it is", maxLine: 100,
			chunks: []string{"a\nrest"}, finish: true,
			want: []string{"a", "rest"}, offsets: []int64{0, 2}, end: 6, pos: 6,
		},
		{
			name: "long lines cut, offsets count every byte", maxLine: 4,
			chunks: []string{"abcdef", "gh\nij\nklmnopq"}, finish: true,
			want: []string{"abcd", "ij", "klmn"}, offsets: []int64{0, 9, 12}, end: 19, pos: 19, cut: 2,
		},
		{
			name: "cut keeps whole runes", maxLine: 5,
			chunks: []string{"abc€def\n"},
			want:   []string{"abc"}, offsets: []int64{0}, end: 10, pos: 10, cut: 1,
		},
		{
			name: "line of exactly the limit is not cut", maxLine: 3,
			chunks: []string{"abc\n"},
			want:   []string{"abc"}, offsets: []int64{0}, end: 4, pos: 4,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAssembler(&Options{MaxLineBytes: tc.maxLine, BatchLines: 1000, BatchBytes: 1 << 20}, 0)
			now := time.Now()
			for _, c := range tc.chunks {
				require.Equal(t, len(c), a.consume([]byte(c), now, false))
			}
			if tc.finish {
				a.finishPartial(now)
			}
			require.Equal(t, tc.want, bodyLines(&a.cur))
			var offsets []int64
			for _, l := range a.cur.lines {
				offsets = append(offsets, l.off)
			}
			require.Equal(t, tc.offsets, offsets)
			require.Equal(t, int64(0), a.cur.start)
			require.Equal(t, tc.end, a.cur.end)
			require.Equal(t, tc.pos, a.pos())
			require.Equal(t, tc.cut, a.cut)
		})
	}
}

func TestAssemblerStopsWhenBatchIsFull(t *testing.T) {
	a := newAssembler(&Options{MaxLineBytes: 100, BatchLines: 2, BatchBytes: 1 << 20}, 10)
	in := []byte("a\nb\nc\nd\n")
	n := a.consume(in, time.Now(), false)
	require.Equal(t, 4, n)
	require.True(t, a.full())
	require.Equal(t, []string{"a", "b"}, bodyLines(&a.cur))

	a.confirmed(a.cur.end)
	require.True(t, a.cur.empty())
	require.Equal(t, int64(14), a.cur.start)
	require.Equal(t, 4, a.consume(in[n:], time.Now(), false))
	require.Equal(t, []string{"c", "d"}, bodyLines(&a.cur))

	// Unbounded consumption (resending a saved range) ignores the limits.
	a.reset(0)
	require.Equal(t, len(in), a.consume(in, time.Now(), true))
	require.Len(t, a.cur.lines, 4)
}

func TestBatchPrefixSuffix(t *testing.T) {
	a := newAssembler(&Options{MaxLineBytes: 100, BatchLines: 100, BatchBytes: 1 << 20}, 100)
	a.consume([]byte("one\n\ntwo\nthree\nfour\n"), time.Now(), false)
	b := &a.cur
	mid := b.lines[2].off
	left, right := b.prefix(mid), b.suffix(mid)
	require.Equal(t, []string{"one", "two"}, bodyLines(left))
	require.Equal(t, []string{"three", "four"}, bodyLines(right))
	require.Equal(t, b.start, left.start)
	require.Equal(t, left.end, right.start)
	require.Equal(t, b.end, right.end)
	require.Equal(t, string(b.body), string(left.body)+string(right.body))

	// Confirming a prefix keeps the rest, with its offsets.
	a.confirmed(mid)
	require.Equal(t, mid, a.cur.start)
	require.Equal(t, []string{"three", "four"}, bodyLines(&a.cur))
	require.True(t, b.suffix(b.end).empty())
}

func TestBatchKey(t *testing.T) {
	id := fileID{Dev: 1, Ino: 2}
	k := batchKey("gen", id, 10, 20)
	require.Equal(t, k, batchKey("gen", id, 10, 20), "a resent range must get the same key")
	require.True(t, strings.HasPrefix(k, "ship1-"))
	require.LessOrEqual(t, len(k), 512) // the server's limit
	for _, other := range []string{
		batchKey("gen2", id, 10, 20),
		batchKey("gen", fileID{Dev: 1, Ino: 3}, 10, 20),
		batchKey("gen", fileID{Dev: 2, Ino: 2}, 10, 20),
		batchKey("gen", id, 11, 20),
		batchKey("gen", id, 10, 21),
	} {
		require.NotEqual(t, k, other)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":       0,
		"3":      3 * time.Second,
		" 1 ":    time.Second,
		"-5":     0,
		"soon":   0,
		"100000": maxRetryAfter,
		now.Add(7 * time.Second).Format(http.TimeFormat): 7 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):      0,
	} {
		require.Equal(t, want, parseRetryAfter(in, now), "Retry-After %q", in)
	}
}

func TestBackoffGrowsWithJitterUpToMax(t *testing.T) {
	c := &client{minWait: 100 * time.Millisecond, maxWait: 30 * time.Second}
	for n, ceiling := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 5: 1600 * time.Millisecond,
		9: 25600 * time.Millisecond, 10: 30 * time.Second, 100: 30 * time.Second,
	} {
		for range 20 {
			d := c.backoff(n)
			require.GreaterOrEqual(t, d, ceiling/2, "attempt %d", n)
			require.LessOrEqual(t, d, ceiling, "attempt %d", n)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Server: "127.0.0.1:4380"}, "want http://HOST"},
		{Options{Server: "ftp://host"}, "want http://HOST"},
		{Options{Server: "http://user:pw@host"}, "must not hold credentials"},
		{Options{Compression: "lz4"}, "unknown compression"},
		{Options{BatchLines: -1}, "invalid batch lines"},
		{Options{Token: " tok"}, "white space"},
	} {
		_, err := tc.opts.withDefaults()
		require.ErrorContains(t, err, tc.want)
	}
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultServer, o.Server)
	require.Equal(t, DefaultBatchLines, o.BatchLines)
	require.Equal(t, 30*time.Second, o.MaxBackoff)
}

func TestStateFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o, err := Options{StateDir: dir}.withDefaults()
	require.NoError(t, err)
	patterns := []string{"/var/log/a.log", "/var/log/b*.log"}
	st, err := openState(&o, patterns)
	require.NoError(t, err)
	a := fileEntry{Path: "/var/log/a.log", Stream: "/var/log/a.log", Dev: 1, Inode: 2, Generation: "g1",
		Offset: 40, FingerprintLen: 3, Fingerprint: fingerprint([]byte("abc")), Pending: &span{Start: 40, End: 90}}
	b := fileEntry{Path: "/var/log/b1.log", Stream: "/var/log/b1.log", Dev: 1, Inode: 3, Generation: "g2", Offset: 7}
	require.NoError(t, st.put(a))
	require.NoError(t, st.put(b))
	require.NoError(t, st.retire(b.Path, b, nil))

	// One shipper per state.
	_, err = openState(&o, patterns)
	require.ErrorContains(t, err, "another sonde ship")
	// Another configuration has its own state.
	other, err := openState(&o, patterns[:1])
	require.NoError(t, err)
	require.Empty(t, other.saved())
	require.NoError(t, other.close())

	require.NoError(t, st.close())
	st, err = openState(&o, patterns)
	require.NoError(t, err)
	defer st.close()
	require.Equal(t, []fileEntry{a}, st.saved())
	e, ok := st.takeRetired(b.id())
	require.True(t, ok)
	require.Equal(t, int64(7), e.Offset)
	_, ok = st.takeRetired(b.id())
	require.False(t, ok)
	tmp, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.NoError(t, err)
	require.Empty(t, tmp)
}

func TestStateFileDamaged(t *testing.T) {
	dir := t.TempDir()
	o, err := Options{StateDir: dir}.withDefaults()
	require.NoError(t, err)
	name := stateName(&o, []string{"/x"})
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), []byte("{not json"), 0o600))
	_, err = openState(&o, []string{"/x"})
	require.ErrorContains(t, err, "is damaged")
}

func TestClaims(t *testing.T) {
	o, err := Options{StateDir: t.TempDir()}.withDefaults()
	require.NoError(t, err)
	st, err := openState(&o, []string{"/x"})
	require.NoError(t, err)
	defer st.close()
	id := fileID{Dev: 1, Ino: 1}
	require.True(t, st.claim(id, "/a"))
	require.True(t, st.claim(id, "/a"))
	require.False(t, st.claim(id, "/b"))
	st.release(id, "/b") // not the owner: no effect
	require.False(t, st.claim(id, "/b"))
	st.release(id, "/a")
	require.True(t, st.claim(id, "/b"))
}
