package ship

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/config"
)

// shipString runs Reader over text and returns what it returned.
func shipString(t *testing.T, opts Options, text string) (Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return Reader(ctx, opts, strings.NewReader(text))
}

func TestReaderShipsInputAndLastLine(t *testing.T) {
	srv := newTestServer(t, nil)
	opts := testOptions(t, srv.URL)
	opts.BatchLines = 30
	opts.Compression = "zstd"
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var stats Stats
	go func() {
		var err error
		stats, err = Reader(context.Background(), opts, pr)
		done <- err
	}()
	ls := lines("in", 0, 100)
	// Lines arrive slowly, in pieces: each is still stored once, whole.
	_, err := io.WriteString(pw, strings.Join(ls[:50], "\n")+"\n"+ls[50][:10])
	require.NoError(t, err)
	srv.waitCount(t, "g", 50)
	_, err = io.WriteString(pw, ls[50][10:]+"\n"+strings.Join(ls[51:], "\n")+"\n\n  \nno newline at the end")
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitFor):
		t.Fatal("Reader did not return at the end of its input")
	}
	require.Equal(t, int64(101), stats.Lines)
	srv.requireStored(t, "g", withStream("stdin", ls, []string{"no newline at the end"}))
}

func TestReaderStopsWhenContextEnds(t *testing.T) {
	srv := newTestServer(t, nil)
	opts := testOptions(t, srv.URL)
	opts.Stream = "mine"
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Reader(ctx, opts, pr)
		done <- err
	}()
	ls := lines("in", 0, 10)
	_, err := io.WriteString(pw, strings.Join(ls, "\n")+"\nunfinished")
	require.NoError(t, err)
	srv.waitCount(t, "g", 10)
	cancel()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "stopped before the end of the input")
	case <-time.After(waitFor):
		t.Fatal("Reader did not return after its context ended")
	}
	require.NoError(t, pw.Close()) // ends the abandoned Read
	srv.requireStored(t, "g", withStream("mine", ls))
}

func TestReaderRetriesWithSameKeyWhenAnswersAreLost(t *testing.T) {
	srv := newTestServer(t, nil)
	// Every third request is stored by the server, but its answer lost.
	p := newProxy(t, srv.URL, func(n int) action {
		if n%3 == 1 {
			return dropAnswer
		}
		return pass
	})
	opts := testOptions(t, p.URL)
	opts.BatchLines = 25
	ls := lines("flaky", 0, 300)
	stats, err := shipString(t, opts, strings.Join(ls, "\n")+"\n")
	require.NoError(t, err)
	srv.requireStored(t, "g", withStream("stdin", ls))
	require.Equal(t, int64(12), stats.Batches)
	require.Equal(t, int64(300), stats.Lines)
	require.GreaterOrEqual(t, stats.Duplicates, int64(4))
	require.Equal(t, stats.Duplicates, stats.Retries)
	// A retry carries the key of the attempt it repeats.
	_, keys := p.requests()
	for n := 1; n < len(keys); n++ {
		if n%3 == 1 {
			require.Equal(t, keys[n-1], keys[n], "request %d", n+1)
		}
	}
}

func TestReaderHonoursRetryAfter(t *testing.T) {
	srv := newTestServer(t, nil)
	p := newProxy(t, srv.URL, func(n int) action {
		switch n {
		case 1:
			return tooManyReqs
		case 2:
			return unavailable
		}
		return pass
	})
	opts := testOptions(t, p.URL)
	ls := lines("busy", 0, 20)
	stats, err := shipString(t, opts, strings.Join(ls, "\n")+"\n")
	require.NoError(t, err)
	srv.requireStored(t, "g", withStream("stdin", ls))
	require.Equal(t, int64(2), stats.Retries)
	times, keys := p.requests()
	require.Len(t, times, 3)
	// MaxBackoff is 200ms: only Retry-After explains waiting a second.
	for i := 1; i < 3; i++ {
		require.GreaterOrEqual(t, times[i].Sub(times[i-1]), 950*time.Millisecond)
		require.Equal(t, keys[0], keys[i])
	}
}

func TestReaderSplitsBatchesTooLargeForServer(t *testing.T) {
	srv := newTestServer(t, func(c *config.Config) {
		c.Ingest.MaxBodyBytes = 2048
		c.Ingest.MaxEventBytes = 2048
	})
	opts := testOptions(t, srv.URL)
	opts.BatchBytes = 1 << 20
	ls := lines("big", 0, 200) // about 9 KB: split down to 2 KB bodies
	huge := strings.Repeat("h", 3000)
	input := strings.Join(ls[:100], "\n") + "\n" + huge + "\n" + strings.Join(ls[100:], "\n") + "\n"
	stats, err := shipString(t, opts, input)
	require.NoError(t, err)
	srv.requireStored(t, "g", withStream("stdin", ls))
	require.Equal(t, int64(1), stats.Skipped)
	require.Equal(t, int64(200), stats.Lines)
}

func TestReaderKeepsLinesThatLookLikeArrays(t *testing.T) {
	srv := newTestServer(t, nil)
	opts := testOptions(t, srv.URL)
	ls := []string{
		`[INFO] starting "quoted" \ back	slash`,
		`  [WARN] leading blanks`,
		`plain line`,
		`[1, 2, 3]`,
		"control \x01 char",
	}
	stats, err := shipString(t, opts, strings.Join(ls, "\n")+"\n")
	require.NoError(t, err)
	require.Equal(t, int64(len(ls)), stats.Lines)
	srv.requireStored(t, "g", withStream("stdin", ls))
}

func TestReaderCutsLongLines(t *testing.T) {
	srv := newTestServer(t, nil)
	opts := testOptions(t, srv.URL)
	opts.MaxLineBytes = 100
	// The limit falls inside the 3-byte "€": the cut leaves it out whole.
	long := strings.Repeat("a", 98) + "€" + strings.Repeat("b", 200)
	stats, err := shipString(t, opts, "short\n"+long+"\n")
	require.NoError(t, err)
	require.Equal(t, int64(1), stats.Truncated)
	got := srv.events(t, "g")
	require.Equal(t, []string{"stdin|" + strings.Repeat("a", 98), "stdin|short"}, got)
	require.True(t, utf8.ValidString(got[0]))
}

func TestReaderSkipsBatchOfInvalidLines(t *testing.T) {
	srv := newTestServer(t, nil)
	opts := testOptions(t, srv.URL)
	opts.BatchLines = 2
	// The first batch is all invalid (400): skipped, not retried. The
	// second is half invalid: its valid line is stored.
	stats, err := shipString(t, opts, "{bad json\n{also bad\n{still bad\nvalid\nvalid too\n")
	require.NoError(t, err)
	require.Equal(t, int64(3), stats.Rejected)
	require.Equal(t, int64(2), stats.Lines)
	require.Equal(t, int64(0), stats.Retries)
	srv.requireStored(t, "g", withStream("stdin", []string{"valid", "valid too"}))
}

func TestReaderRefusedTokens(t *testing.T) {
	for _, tc := range []struct {
		name, scope, token string
		status             int
	}{
		{"missing", "ingest", "", 401},
		{"wrong", "ingest", "not-the-token", 401},
		{"without ingest scope", "read", testToken, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, withToken(tc.scope))
			logs := &syncBuffer{}
			opts := testOptions(t, srv.URL)
			opts.Token = tc.token
			opts.Logger = slogTo(logs)
			_, err := shipString(t, opts, "a line\n")
			var se *ServerError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.status, se.Status)
			require.Equal(t, int64(0), srv.count(t, "g"))
			if tc.token != "" {
				require.NotContains(t, logs.String(), tc.token)
				require.NotContains(t, err.Error(), tc.token)
			}
		})
	}
	srv := newTestServer(t, withToken("ingest"))
	logs := &syncBuffer{}
	opts := testOptions(t, srv.URL)
	opts.Token = testToken
	opts.Logger = slogTo(logs)
	_, err := shipString(t, opts, "a line\n")
	require.NoError(t, err)
	srv.requireStored(t, "g", []string{"stdin|a line"})
	require.NotContains(t, logs.String(), testToken)
}
