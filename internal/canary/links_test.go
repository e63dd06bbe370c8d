package canary

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// site is a small web site with good and broken links on two levels, a
// redirect, and a link to another host whose own links must not be
// crawled. It counts the requests the other host gets for its inner page.
func site(t *testing.T) (home string, external *httptest.Server, innerHits *atomic.Int64) {
	innerHits = &atomic.Int64{}
	ext := http.NewServeMux()
	ext.HandleFunc("/x", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<a href="/y">inner page of another host</a>`)
	})
	ext.HandleFunc("/y", func(w http.ResponseWriter, _ *http.Request) { innerHits.Add(1) })
	external = httptest.NewServer(ext)
	t.Cleanup(external.Close)

	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><html><body>"+body+"</body></html>")
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", page(`
		<a href="/a">A</a> <a href="b">B (broken)</a> <a href="/doc.txt">text</a>
		<a href="`+external.URL+`/x">elsewhere</a> <a href="#top">top</a> <a href="mailto:x@example.com">mail</a>
		<a href="/a#section">A again</a> <a href="/redir">moved</a> <a>no href</a>`))
	mux.HandleFunc("/a", page(`<a href="/a/deep">deep</a> <a href="/broken-deep">broken deep</a> <a href="/">home</a>`))
	mux.HandleFunc("/a/deep", page(`<a href="deeper">deeper (broken)</a>`))
	mux.HandleFunc("/broken-deep", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/doc.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, `<a href="/not-a-page-link">text files are not parsed</a>`)
	})
	mux.HandleFunc("/redir", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/moved", page(`<base href="/base/"><a href="rel">relative to base</a>`))
	mux.HandleFunc("/base/rel", page(`fine`))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/", external, innerHits
}

// checked returns the outcome of every checked URL, with the URLs of the
// home site relative to it.
func checked(home string, run *Run) map[string]string {
	out := map[string]string{}
	for _, st := range run.Steps {
		u := st.URL
		if rest, ok := strings.CutPrefix(u, home); ok {
			u = "/" + rest
		}
		out[u] = "ok"
		if !st.Success {
			out[u] = st.Error
		}
	}
	return out
}

func TestBrokenLinksDepth(t *testing.T) {
	home, external, inner := site(t)
	r := NewRunner(RunnerOptions{})
	cfg := func(extra string) string {
		return "canaries:\n  - name: links\n    kind: broken_links\n    url: " + home + "\n" + extra
	}

	run := runOne(t, r, cfg("    max_depth: 1\n"))
	require.False(t, run.Success)
	require.Equal(t, map[string]string{
		"/": "ok", "/a": "ok", "/b": "status 404", "/doc.txt": "ok", "/redir": "ok", external.URL + "/x": "ok",
	}, checked(home, run))
	require.Equal(t, "1 broken link(s): "+home+"b (status 404)", run.Error)
	require.Zero(t, run.LinksSkipped)
	for _, st := range run.Steps[1:] {
		require.Equal(t, 1, st.Depth)
		require.Equal(t, home, st.FoundOn)
	}

	run = runOne(t, r, cfg("    max_depth: 2\n"))
	require.Equal(t, map[string]string{
		"/": "ok", "/a": "ok", "/b": "status 404", "/doc.txt": "ok", "/redir": "ok", external.URL + "/x": "ok",
		"/a/deep": "ok", "/broken-deep": "status 500", "/base/rel": "ok",
	}, checked(home, run))

	run = runOne(t, r, cfg("    max_depth: 3\n"))
	got := checked(home, run)
	require.Equal(t, "status 404", got["/a/deeper"])
	require.Len(t, got, 10)
	require.Contains(t, run.Error, "3 broken link(s)")
	require.Zero(t, inner.Load(), "pages of other hosts are not crawled")
}

func TestBrokenLinksLimits(t *testing.T) {
	home, external, _ := site(t)
	r := NewRunner(RunnerOptions{})
	run := runOne(t, r, "canaries:\n  - name: links\n    kind: broken_links\n    max_links: 3\n    url: "+home+"\n")
	require.Len(t, run.Steps, 3, "the start URL counts")
	require.Equal(t, []string{home, home + "a", home + "b"}, []string{run.Steps[0].URL, run.Steps[1].URL, run.Steps[2].URL})
	// Found but not checked: doc.txt, the external link and redir on the
	// home page, a/deep and broken-deep on /a.
	require.Equal(t, 5, run.LinksSkipped)

	run = runOne(t, r, "canaries:\n  - name: links\n    kind: broken_links\n    skip_external: true\n    url: "+home+"\n")
	require.NotContains(t, checked(home, run), external.URL+"/x")
	require.Contains(t, checked(home, run), "/redir")
}
