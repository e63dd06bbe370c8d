package load

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// edgeServer answers in the ways a real server may: chunked, with
// Connection: close, redirects, HEAD, large bodies.
func edgeServer(t *testing.T, seen *atomic.Value) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var posted atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Part", "c")
		for i := 0; i < 3; i++ {
			_, _ = io.WriteString(w, `{"part":`)
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, `"token-7"}`)
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/final?from=302", http.StatusFound)
	})
	mux.HandleFunc("/r307", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "final "+r.URL.RawQuery)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posted.Add(1)
		w.Header().Set("X-Method", r.Method)
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100_000)+"END-42")
	})
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		if r.Method != http.MethodHead {
			_, _ = w.Write(make([]byte, 1000))
		}
	})
	srv := httptest.NewUnstartedServer(wrapEcho(mux, seen))
	// Idle connections are closed by the server quickly, so that reused
	// connections are found stale and requests retried.
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &posted
}

const edgeScript = `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 4 } ]
scenarios:
  - flow:
      - get:
          url: /chunked
          capture:
            - { regexp: "(token-\\d)", group: 1, as: token }
            - { header: x-part, as: part }
      - get: { url: /close }
      - think: 0.05
      - get:
          url: /redirect
          capture: { regexp: "final (.*)", group: 1, as: q }
      - post:
          url: /r307
          json: { t: "{{ token }}" }
          capture:
            - { json: "$.t", as: echoed }
            - { header: x-method, as: method }
      - get:
          url: /big
          capture: { regexp: "END-(\\d+)", group: 1, as: end }
      - head: { url: /head }
      - post: { url: "/echo?all={{ token }},{{ part }},{{ q }},{{ echoed }},{{ method }},{{ end }}", body: "{{ $loopCount }}" }
`

func TestHTTPEdgeCases(t *testing.T) {
	t.Parallel()
	for _, std := range []bool{false, true} {
		var seen atomic.Value
		srv, posted := edgeServer(t, &seen)
		res, out := runYAML(t, t.TempDir(), edgeScript, srv.URL, Options{NetHTTP: std})
		require.EqualValues(t, 4, counter(res, "vusers.completed"), "net/http=%v\n%s", std, out)
		require.EqualValues(t, 0, counter(res, "vusers.failed"))
		require.EqualValues(t, 28, counter(res, "http.codes.200"), "the redirects are followed")
		require.EqualValues(t, 8, posted.Load())
		require.Equal(t, "token-7,c,from=302,token-7,POST,42", seen.Load(), "net/http=%v", std)
		// 100,000 + 6 bytes each for /big, nothing for HEAD.
		require.Greater(t, counter(res, "http.downloaded_bytes"), int64(4*100_006))
		require.Less(t, counter(res, "http.downloaded_bytes"), int64(4*100_006+4*1000))
	}
}

// wrapEcho records the all= query of /echo requests.
func wrapEcho(h http.Handler, seen *atomic.Value) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("all"); v != "" {
			seen.Store(v)
		}
		h.ServeHTTP(w, r)
	})
}

func TestFastPathPoolLimit(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
	}))
	defer srv.Close()
	res, _ := runYAML(t, t.TempDir(), `
config:
  target: "{{TARGET}}"
  http: { pool: 3 }
  phases: [ { duration: 1, arrivalCount: 30 } ]
scenarios:
  - flow: [ { get: { url: /slow } }, { get: { url: /slow } } ]
`, srv.URL, Options{Speed: 10})
	require.EqualValues(t, 60, counter(res, "http.codes.200"))
	require.LessOrEqual(t, peak.Load(), int64(3), "http.pool caps the connections")
}

func TestCookieJar(t *testing.T) {
	t.Parallel()
	for _, std := range []bool{false, true} {
		var seen atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/login":
				http.SetCookie(w, &http.Cookie{Name: "session", Value: "s-" + r.URL.Query().Get("u"), Path: "/"})
			case "/me":
				seen.Store(r.Header.Get("Cookie"))
			}
		}))
		res, _ := runYAML(t, t.TempDir(), `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 1 } ]
  http: { defaults: { cookie: { lang: en } } }
scenarios:
  - flow:
      - get: { url: "/login?u=ada" }
      - get: { url: "/me", cookie: { theme: dark } }
`, srv.URL, Options{NetHTTP: std})
		srv.Close()
		require.EqualValues(t, 2, counter(res, "http.codes.200"))
		require.Equal(t, "lang=en; session=s-ada; theme=dark", seen.Load(), "net/http=%v", std)
	}
}
