package ship

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFilesTailsGrowingFile(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	first := lines("a", 0, 100)
	appendLines(t, path, first)
	opts := testOptions(t, srv.URL)
	opts.BatchLines = 40
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 100)

	more := lines("a", 100, 200)
	for i := 0; i < len(more); i += 50 {
		appendLines(t, path, more[i:i+50])
	}
	// A line written in two pieces is stored once, whole.
	appendBytes(t, path, []byte("split across "))
	appendBytes(t, path, []byte("two writes\n"))
	srv.waitCount(t, "g", 301)
	stats := r.stop(t)

	srv.requireStored(t, "g", withStream(path, first, more, []string{"split across two writes"}))
	require.Equal(t, int64(301), stats.Lines)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	doc := readState(t, opts.StateDir)
	require.Len(t, doc.Files, 1)
	require.Equal(t, path, doc.Files[0].Path)
	require.Equal(t, fi.Size(), doc.Files[0].Offset)
	require.Nil(t, doc.Files[0].Pending)
}

func TestFilesHoldsUnfinishedLastLine(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	appendBytes(t, path, []byte("first\nsecond begins"))
	opts := testOptions(t, srv.URL)
	polls := withPollCounter(&opts)
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 1)

	// Many polls and flush intervals pass: the unfinished line must wait.
	n := polls.get(path)
	require.Eventually(t, func() bool { return polls.get(path) >= n+20 }, waitFor, time.Millisecond)
	require.Equal(t, int64(1), srv.count(t, "g"))

	appendBytes(t, path, []byte(" and ends\n"))
	srv.waitCount(t, "g", 2)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, []string{"first", "second begins and ends"}))
}

func TestFilesRotationByRename(t *testing.T) {
	srv := newTestServer(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	before := lines("before", 0, 50)
	appendLines(t, path, before)
	// The application keeps its descriptor across the rename, as loggers
	// do until they are told to reopen.
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer w.Close()

	r := startFiles(t, testOptions(t, srv.URL), path)
	srv.waitCount(t, "g", 50)

	require.NoError(t, os.Rename(path, path+".1"))
	late := lines("late", 0, 20)
	for _, l := range late {
		_, err := w.WriteString(l + "\n")
		require.NoError(t, err)
	}
	_, err = w.WriteString("unfinished last line of the old file")
	require.NoError(t, err)
	after := lines("after", 0, 30)
	appendLines(t, path, after)

	srv.waitCount(t, "g", 50+20+1+30)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, before, late, []string{"unfinished last line of the old file"}, after))
}

func TestFilesGlobFollowsRotatedName(t *testing.T) {
	srv := newTestServer(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	before := lines("before", 0, 30)
	appendLines(t, path, before)
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer w.Close()

	opts := testOptions(t, srv.URL)
	polls := withPollCounter(&opts)
	r := startFiles(t, opts, filepath.Join(dir, "app.log*"))
	srv.waitCount(t, "g", 30)

	require.NoError(t, os.Rename(path, path+".1"))
	after := lines("after", 0, 20)
	appendLines(t, path, after)
	srv.waitCount(t, "g", 50)
	// Once the rotated file is followed under its new name, what its
	// writer adds is shipped once, in the stream it had.
	require.Eventually(t, func() bool {
		doc, ok := tryReadState(opts.StateDir)
		for _, e := range doc.Files {
			if ok && e.Path == path+".1" && e.Stream == path {
				return true
			}
		}
		return false
	}, waitFor, time.Millisecond)
	late := lines("late", 0, 10)
	for _, l := range late {
		_, err := w.WriteString(l + "\n")
		require.NoError(t, err)
	}
	srv.waitCount(t, "g", 60)
	n := polls.get(path + ".1")
	require.Eventually(t, func() bool { return polls.get(path+".1") >= n+10 }, waitFor, time.Millisecond)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, before, after, late))
}

func TestFilesCopytruncate(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	before := lines("before", 0, 100)
	appendLines(t, path, before)
	r := startFiles(t, testOptions(t, srv.URL), path)
	srv.waitCount(t, "g", 100)

	// The file starts again with the same bytes: only its size tells.
	require.NoError(t, os.Truncate(path, 0))
	again := before[:10]
	appendLines(t, path, again)
	srv.waitCount(t, "g", 110)

	require.NoError(t, os.Truncate(path, 0))
	after := lines("after", 0, 10)
	appendLines(t, path, after)
	srv.waitCount(t, "g", 120)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, before, again, after))
}

func TestFilesResumeAfterRestart(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	first := lines("first", 0, 100)
	appendLines(t, path, first)
	opts := testOptions(t, srv.URL)
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 100)
	r.stop(t)

	second := lines("second", 0, 50)
	appendLines(t, path, second)
	appendBytes(t, path, []byte("unfinished"))
	r = startFiles(t, opts, path)
	srv.waitCount(t, "g", 150)
	stats := r.stop(t)
	// Lines is 50 even if stopping interrupted the last answer: the drain
	// sends the batch again and the server answers "duplicate".
	require.Equal(t, int64(50), stats.Lines)
	srv.requireStored(t, "g", withStream(path, first, second))
}

func TestFilesResendsUnconfirmedBatchAfterRestart(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	first := lines("first", 0, 60)
	appendLines(t, path, first)
	// The server stores the batch, but its answer never arrives.
	p := newProxy(t, srv.URL, func(int) action { return holdAnswer })
	opts := testOptions(t, p.URL)
	opts.DrainTimeout = 200 * time.Millisecond
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 60)
	r.stop(t)
	doc := readState(t, opts.StateDir)
	require.Len(t, doc.Files, 1)
	require.Equal(t, int64(0), doc.Files[0].Offset)
	require.NotNil(t, doc.Files[0].Pending)
	_, firstKeys := p.requests()

	// The next run sends the same range with the same key before the lines
	// written since.
	second := lines("second", 0, 40)
	appendLines(t, path, second)
	p.setDecide(func(int) action { return pass })
	r = startFiles(t, opts, path)
	srv.waitCount(t, "g", 100)
	waitConfirmed(t, opts.StateDir, path)
	stats := r.stop(t)
	_, keys := p.requests()
	require.Equal(t, firstKeys[0], keys[len(firstKeys)])
	require.Equal(t, int64(1), stats.Duplicates)
	srv.requireStored(t, "g", withStream(path, first, second))
}

func TestFilesRotatedWhileStopped(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	first := lines("first", 0, 30)
	appendLines(t, path, first)
	opts := testOptions(t, srv.URL)
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 30)
	r.stop(t)

	unshipped := lines("unshipped", 0, 20)
	appendLines(t, path, unshipped)
	require.NoError(t, os.Rename(path, path+".1"))
	fresh := lines("fresh", 0, 10)
	appendLines(t, path, fresh)

	r = startFiles(t, opts, path)
	srv.waitCount(t, "g", 60)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, first, unshipped, fresh))
}

func TestFilesRewrittenWhileStopped(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	first := lines("first", 0, 30)
	appendLines(t, path, first)
	opts := testOptions(t, srv.URL)
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 30)
	r.stop(t)

	// Truncated and written again past the saved offset: only the first
	// bytes tell that the content is new.
	require.NoError(t, os.Truncate(path, 0))
	rewritten := lines("rewritten", 0, 60)
	appendLines(t, path, rewritten)
	r = startFiles(t, opts, path)
	srv.waitCount(t, "g", 90)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, first, rewritten))
}

func TestFilesStartAtEndAndNewFiles(t *testing.T) {
	srv := newTestServer(t, nil)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendLines(t, a, lines("old", 0, 20))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.txt"), []byte("not matched\n"), 0o644))
	opts := testOptions(t, srv.URL)
	opts.StartAtEnd = true
	r := startFiles(t, opts, filepath.Join(dir, "*.log"))
	// Once a.log is tracked, its old lines are skipped and new ones are
	// shipped; b.log appears later and is read from its start.
	require.Eventually(t, func() bool {
		doc, ok := tryReadState(opts.StateDir)
		return ok && len(doc.Files) == 1
	}, waitFor, time.Millisecond)
	la, lb := lines("a", 0, 5), lines("b", 0, 20)
	appendLines(t, a, la)
	appendLines(t, b, lb)
	srv.waitCount(t, "g", 25)
	r.stop(t)
	srv.requireStored(t, "g", append(withStream(a, la), withStream(b, lb)...))
}

func TestFilesStopsOnRefusedToken(t *testing.T) {
	srv := newTestServer(t, withToken("ingest"))
	path := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, path, lines("x", 0, 5))
	opts := testOptions(t, srv.URL)
	opts.Token = "wrong-token-value"
	_, err := Files(context.Background(), opts, []string{path})
	var se *ServerError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 401, se.Status)
	doc := readState(t, opts.StateDir)
	require.Equal(t, int64(0), doc.Files[0].Offset)

	// With the right token the next run ships everything.
	opts.Token = testToken
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 5)
	r.stop(t)
	srv.requireStored(t, "g", withStream(path, lines("x", 0, 5)))
}

func TestFilesLocksState(t *testing.T) {
	srv := newTestServer(t, nil)
	path := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, path, lines("x", 0, 1))
	opts := testOptions(t, srv.URL)
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 1)
	_, err := Files(context.Background(), opts, []string{path})
	require.ErrorContains(t, err, "another sonde ship")
	r.stop(t)
}

func TestFilesRetriesWithSameKeyWhenAnswersAreLost(t *testing.T) {
	srv := newTestServer(t, nil)
	// Every other request is stored by the server, but its answer lost;
	// the fourth is refused as busy.
	p := newProxy(t, srv.URL, func(n int) action {
		switch {
		case n == 4:
			return unavailable
		case n%2 == 1:
			return dropAnswer
		}
		return pass
	})
	path := filepath.Join(t.TempDir(), "app.log")
	ls := lines("flaky", 0, 200)
	appendLines(t, path, ls[:100])
	opts := testOptions(t, p.URL)
	opts.BatchLines = 20
	r := startFiles(t, opts, path)
	srv.waitCount(t, "g", 100)
	appendLines(t, path, ls[100:])
	srv.waitCount(t, "g", 200)
	waitConfirmed(t, opts.StateDir, path)
	stats := r.stop(t)
	srv.requireStored(t, "g", withStream(path, ls))
	require.Equal(t, int64(200), stats.Lines)
	require.GreaterOrEqual(t, stats.Duplicates, int64(5))
}
