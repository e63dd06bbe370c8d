package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/api"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest/logs"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor is how long a test waits for a condition.
const waitFor = 15 * time.Second

// testServer is a real sonde log endpoint over a DuckDB store.
type testServer struct {
	URL   string
	store store.Store
}

// newTestServer starts the log endpoint with sonde's default limits, which
// mod may change (and may add tokens).
func newTestServer(t *testing.T, mod func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	if mod != nil {
		mod(cfg)
	}
	tokens, err := cfg.Auth.ResolveTokens()
	require.NoError(t, err)
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	metrics := selfmon.New(func() float64 { return 0 })
	pipe := pipeline.New(st, pipeline.Options{MaxQueuedEvents: cfg.Ingest.QueueEvents, Metrics: metrics})
	a := api.New(api.Options{Store: st, Pipeline: pipe, Metrics: metrics, Tokens: tokens, Ready: st.Ping})
	a.Handle("POST /api/v1/logs", config.ScopeIngest, logs.New(logs.Options{
		Pipeline: pipe, Shapes: event.NewShapes(1000), Metrics: metrics,
		MaxBodyBytes: int64(cfg.Ingest.MaxBodyBytes), MaxEventBytes: int(cfg.Ingest.MaxEventBytes), MaxFields: cfg.Ingest.MaxFields,
	}))
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		srv.Close()
		pipe.Close()
		require.NoError(t, st.Close())
	})
	return &testServer{URL: srv.URL, store: st}
}

// count returns the events stored in group.
func (s *testServer) count(t *testing.T, group string) int64 {
	t.Helper()
	groups, err := s.store.Groups(context.Background())
	require.NoError(t, err)
	for _, g := range groups {
		if g.Name == group {
			return g.Events
		}
	}
	return 0
}

// waitCount waits until group holds at least n events.
func (s *testServer) waitCount(t *testing.T, group string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.count(t, group) >= int64(n) }, waitFor, 5*time.Millisecond,
		"waiting for %d events in %s", n, group)
}

// events returns the stored events of group as "stream|message", sorted.
func (s *testServer) events(t *testing.T, group string) []string {
	t.Helper()
	var out []string
	err := s.store.Scan(context.Background(), store.ScanRequest{Group: group}, func(ev *event.Event) error {
		out = append(out, ev.Stream+"|"+ev.Message)
		return nil
	})
	if err != nil {
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	sort.Strings(out)
	return out
}

// requireStored checks that group holds exactly want (stream|message
// entries, in any order), each as often as it appears in want.
func (s *testServer) requireStored(t *testing.T, group string, want []string) {
	t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	got := s.events(t, group)
	if len(got) == len(want) {
		require.Equal(t, want, got)
		return
	}
	missing, extra := diffMultiset(want, got)
	require.Failf(t, "stored events differ", "want %d, got %d\nmissing: %q\nextra: %q", len(want), len(got), head(missing), head(extra))
}

func diffMultiset(want, got []string) (missing, extra []string) {
	n := map[string]int{}
	for _, w := range want {
		n[w]++
	}
	for _, g := range got {
		n[g]--
	}
	for k, c := range n {
		for ; c > 0; c-- {
			missing = append(missing, k)
		}
		for ; c < 0; c++ {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return missing, extra
}

func head(s []string) []string { return s[:min(len(s), 10)] }

// testOptions are fast options for tests against url.
func testOptions(t *testing.T, url string) Options {
	return Options{
		Server:       url,
		Group:        "g",
		StateDir:     t.TempDir(),
		Poll:         10 * time.Millisecond,
		Flush:        30 * time.Millisecond,
		RotateWait:   150 * time.Millisecond,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		DrainTimeout: 5 * time.Second,
		Compression:  "none",
		Logger:       testLogger(t),
	}
}

// testLogger collects the shipper's log and prints it when the test fails.
func testLogger(t *testing.T) *slog.Logger {
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shipper log:\n%s", buf.String())
		}
	})
	return slogTo(buf)
}

// slogTo returns a logger writing to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a Files call in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	stats  Stats
	err    error
}

func startFiles(t *testing.T, opts Options, patterns ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.stats, r.err = Files(ctx, opts, patterns)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop ends the shipper and returns what Files returned.
func (r *running) stop(t *testing.T) Stats {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(waitFor):
		t.Fatal("Files did not return after its context ended")
	}
	require.NoError(t, r.err)
	return r.stats
}

// lines makes n distinct lines.
func lines(tag string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s line %05d lorem ipsum dolor sit amet", tag, from+i)
	}
	return out
}

// withStream prefixes each line with its stream, as events returns them.
func withStream(stream string, ls ...[]string) []string {
	var out []string
	for _, l := range ls {
		for _, s := range l {
			out = append(out, stream+"|"+s)
		}
	}
	return out
}

// appendLines writes lines, each with a newline, at the end of path.
func appendLines(t *testing.T, path string, ls []string) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range ls {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	appendBytes(t, path, b.Bytes())
}

func appendBytes(t *testing.T, path string, p []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(t, err)
	_, err = f.Write(p)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// readState returns the single state file in dir.
func readState(t *testing.T, dir string) stateFile {
	t.Helper()
	doc, ok := tryReadState(dir)
	require.True(t, ok, "no state file in %s", dir)
	return doc
}

// tryReadState returns the single state file in dir, if there is one.
func tryReadState(dir string) (stateFile, bool) {
	names, _ := filepath.Glob(filepath.Join(dir, "ship-*.json"))
	if len(names) != 1 {
		return stateFile{}, false
	}
	data, err := os.ReadFile(names[0])
	if err != nil {
		return stateFile{}, false
	}
	var doc stateFile
	if json.Unmarshal(data, &doc) != nil {
		return stateFile{}, false
	}
	return doc, true
}

// waitConfirmed waits until the state in dir records path as confirmed up
// to its current size.
func waitConfirmed(t *testing.T, dir, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		doc, ok := tryReadState(dir)
		if !ok {
			return false
		}
		for _, e := range doc.Files {
			if e.Path == path && e.Offset == fi.Size() && e.Pending == nil {
				return true
			}
		}
		return false
	}, waitFor, time.Millisecond, "waiting for %s to be confirmed", path)
}

// testToken is the secret of the token withToken configures.
const testToken = "s3cret-shipper-token"

// withToken makes the server require testToken, granting scope.
func withToken(scope string) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth.Tokens = []config.Token{{Name: "shipper", Token: testToken, Scopes: []string{scope}}}
	}
}

// pollCounter counts the polls of each path, through the test hook.
type pollCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *pollCounter) hook(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[path]++
}

func (c *pollCounter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[path]
}

func withPollCounter(o *Options) *pollCounter {
	c := &pollCounter{n: map[string]int{}}
	o.hooks = &hooks{polled: c.hook}
	return c
}

// action is what the proxy does with one request.
type action int

const (
	pass        action = iota // forward it and return the answer
	dropAnswer                // forward it, then close the connection without an answer
	holdAnswer                // forward it, then keep the answer until the client gives up
	tooManyReqs               // answer 429 with Retry-After: 1 without forwarding
	unavailable               // answer 503 with Retry-After: 1 without forwarding
)

// proxy stands between shipper and server and misbehaves on demand.
type proxy struct {
	URL    string
	target string
	client *http.Client
	decide func(n int) action // n counts requests from 1

	mu    sync.Mutex
	times []time.Time
	keys  []string
}

func newProxy(t *testing.T, target string, decide func(n int) action) *proxy {
	p := &proxy{target: target, decide: decide, client: &http.Client{Transport: &http.Transport{}}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		p.client.CloseIdleConnections()
	})
	return p
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.times = append(p.times, time.Now())
	p.keys = append(p.keys, r.Header.Get("X-Sonde-Batch-Key"))
	n := len(p.times)
	decide := p.decide
	p.mu.Unlock()
	act := decide(n)
	switch act {
	case tooManyReqs, unavailable:
		w.Header().Set("Retry-After", "1")
		status := http.StatusTooManyRequests
		if act == unavailable {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, `{"error":"busy"}`, status)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// The forwarded request completes even when the client gives up.
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch act {
	case dropAnswer:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case holdAnswer:
		<-r.Context().Done()
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// requests returns the arrival times and batch keys of the requests so far.
func (p *proxy) requests() ([]time.Time, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.times...), append([]string(nil), p.keys...)
}

// setDecide changes the proxy's behaviour from the next request on.
func (p *proxy) setDecide(decide func(n int) action) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decide = decide
}
