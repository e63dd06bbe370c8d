package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

type env struct {
	t     *testing.T
	store store.Store
	pipe  *pipeline.Pipeline
	srv   *httptest.Server
}

func newEnv(t *testing.T, opts Options) *env {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "128MB", Threads: 1})
	require.NoError(t, err)
	e := &env{t: t, store: db}
	if opts.Pipeline == nil {
		opts.Pipeline = pipeline.New(db, pipeline.Options{})
	}
	e.pipe = opts.Pipeline
	opts.Shapes = event.NewShapes(100)
	opts.Metrics = selfmon.New(func() float64 { return 0 })
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxEventBytes == 0 {
		opts.MaxEventBytes = 4096
	}
	e.srv = httptest.NewServer(New(opts))
	t.Cleanup(func() {
		e.srv.Close()
		e.pipe.Close()
		db.Close()
	})
	return e
}

func (e *env) post(query string, body []byte, headers ...string) (int, Response, http.Header) {
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/logs"+query, bytes.NewReader(body))
	require.NoError(e.t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var r Response
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest {
		_ = json.Unmarshal(data, &r)
	}
	return resp.StatusCode, r, resp.Header
}

func (e *env) messages(group string) []string {
	var out []string
	err := e.store.Scan(context.Background(), store.ScanRequest{Group: group}, func(ev *event.Event) error {
		out = append(out, ev.Message)
		return nil
	})
	require.NoError(e.t, err)
	return out
}

func TestBadLinesDoNotSinkTheBatch(t *testing.T) {
	e := newEnv(t, Options{})
	body := "{\"a\":1}\nplain text line\n\n{\"broken\": }\n   \n{\"b\":\"x\"}\r\n" + `{"c":` + strings.Repeat("9", 5000) + "}\n"
	status, resp, _ := e.post("?group=app&stream=s1", []byte(body))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 3, resp.Accepted)
	require.Equal(t, 2, resp.Rejected)
	require.Equal(t, []LineError{
		{Line: 4, Reason: "invalid JSON at column 12: unexpected character '}'"},
		{Line: 7, Reason: "event of 5006 bytes is larger than the 4096-byte limit"},
	}, resp.Errors)
	require.ElementsMatch(t, []string{`{"a":1}`, "plain text line", `{"b":"x"}`}, e.messages("app"))
}

func TestEveryLineBadIsABadRequest(t *testing.T) {
	e := newEnv(t, Options{})
	status, resp, _ := e.post("?group=app", []byte("{oops}\n"))
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, 1, resp.Rejected)
}

func TestJSONArrayBody(t *testing.T) {
	e := newEnv(t, Options{})
	status, resp, _ := e.post("?group=arr", []byte(` [{"a":1}, "plain", 42, {"b":[1,2]}] `))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 3, resp.Accepted)
	require.Equal(t, []LineError{{Line: 3, Reason: "invalid JSON at column 1: array element is neither an object nor a string"}}, resp.Errors)
	require.ElementsMatch(t, []string{`{"a":1}`, "plain", `{"b":[1,2]}`}, e.messages("arr"))
}

func TestPlainLinesStartingWithABracketStayLines(t *testing.T) {
	e := newEnv(t, Options{})
	body := []byte("[2026-11-20 10:00:00] INFO started\n[2026-11-20 10:00:01] WARN slow\n")
	status, resp, _ := e.post("?group=br", body)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 2, resp.Accepted)
	status, resp, _ = e.post("?group=br", []byte(`["a","b"]`), "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, resp.Accepted, "NDJSON is never an array")
	status, resp, _ = e.post("?group=br", []byte(`[{"a":1},]`), "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, resp.Accepted, "a declared array keeps the elements before a syntax error")
	require.Equal(t, 1, resp.Rejected)
}

func TestCompressedBodies(t *testing.T) {
	e := newEnv(t, Options{})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("{\"z\":1}\n{\"z\":2}\n"))
	w.Close()
	status, resp, _ := e.post("?group=gz", gz.Bytes(), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 2, resp.Accepted)

	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll([]byte("{\"z\":3}\n"), nil)
	status, resp, _ = e.post("?group=gz", zs, "Content-Encoding", "zstd")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, resp.Accepted)
	require.Len(t, e.messages("gz"), 3)

	status, _, _ = e.post("?group=gz", []byte("x"), "Content-Encoding", "br")
	require.Equal(t, http.StatusUnsupportedMediaType, status)
}

func TestBodyLimits(t *testing.T) {
	e := newEnv(t, Options{MaxBodyBytes: 2048, MaxEventBytes: 1024})
	status, _, _ := e.post("?group=big", bytes.Repeat([]byte("x"), 4096))
	require.Equal(t, http.StatusRequestEntityTooLarge, status)

	// A small gzip body that expands beyond the limit is refused too.
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(bytes.Repeat([]byte("y"), 100_000))
	w.Close()
	require.Less(t, gz.Len(), 2048)
	status, _, _ = e.post("?group=big", gz.Bytes(), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
}

func TestGroupAndStreamNames(t *testing.T) {
	e := newEnv(t, Options{})
	status, _, _ := e.post("", []byte("hello\n"))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"hello"}, e.messages("default"))
	status, _, _ = e.post("?group=%01bad", []byte("hello\n"))
	require.Equal(t, http.StatusBadRequest, status)
	status, _, _ = e.post("?group=g&stream="+strings.Repeat("s", 600), []byte("hello\n"))
	require.Equal(t, http.StatusBadRequest, status)
}

func TestBatchKeyMakesRetriesSafe(t *testing.T) {
	e := newEnv(t, Options{})
	body := []byte("{\"n\":1}\n{\"n\":2}\n")
	status, resp, _ := e.post("?group=k", body, "X-Sonde-Batch-Key", "file-1:0-16")
	require.Equal(t, http.StatusOK, status)
	require.False(t, resp.Duplicate)
	status, resp, _ = e.post("?group=k", body, "X-Sonde-Batch-Key", "file-1:0-16")
	require.Equal(t, http.StatusOK, status)
	require.True(t, resp.Duplicate)
	require.Equal(t, 2, resp.Accepted)
	require.Len(t, e.messages("k"), 2)
}

func TestTimestampFieldParameter(t *testing.T) {
	e := newEnv(t, Options{})
	status, _, _ := e.post("?group=t&timestamp_field=when", []byte(`{"when":"2026-11-20T01:02:03.004Z","timestamp":"2000-01-01T00:00:00Z"}`))
	require.Equal(t, http.StatusOK, status)
	var ts int64
	err := e.store.Scan(context.Background(), store.ScanRequest{Group: "t"}, func(ev *event.Event) error { ts = ev.Time; return nil })
	require.NoError(t, err)
	require.Equal(t, int64(1795136523004), ts)
}

// busyStore never finishes appending, so the queue fills.
type busyStore struct {
	store.Store
	block chan struct{}
}

func (b *busyStore) Append(ctx context.Context, batch *store.Batch) error {
	<-b.block
	return b.Store.Append(ctx, batch)
}

func TestFullQueueAnswers429WithRetryAfter(t *testing.T) {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "128MB", Threads: 1})
	require.NoError(t, err)
	bs := &busyStore{Store: db, block: make(chan struct{})}
	p := pipeline.New(bs, pipeline.Options{MaxQueuedEvents: 2})
	e := newEnv(t, Options{Pipeline: p})
	t.Cleanup(func() { close(bs.block) })
	go e.post("?group=b", []byte("1\n2\n"))
	require.Eventually(t, func() bool { return p.Queued() == 2 }, 10e9, 1e6)
	status, _, header := e.post("?group=b", []byte("3\n"))
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, "1", header.Get("Retry-After"))
}

// FuzzDecode feeds arbitrary bodies to the decoder: it must not panic, and
// every non-blank line must be either accepted or rejected.
// Decoders (parser memory and event slices) are reused from one request to
// the next: concurrent requests of different sizes must each store exactly
// their own events.
func TestReusedDecodersKeepEveryEvent(t *testing.T) {
	e := newEnv(t, Options{})
	var want []string
	bodies := make([][]byte, 24)
	for i := range bodies {
		var b bytes.Buffer
		for j := 0; j < 50+(i%5)*70; j++ {
			line := fmt.Sprintf(`{"req":%d,"line":%d,"route":"/r%d","note":"q\"%d"}`, i, j, (i*j)%7, j)
			b.WriteString(line + "\n")
			want = append(want, line)
		}
		bodies[i] = b.Bytes()
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := w; i < len(bodies); i += 4 {
				status, resp, _ := e.post("?group=reuse", bodies[i])
				assert.Equal(t, http.StatusOK, status)
				assert.Zero(t, resp.Rejected)
			}
		})
	}
	wg.Wait()
	require.ElementsMatch(t, want, e.messages("reuse"))
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("{\"a\":1}\nplain\n{bad\n"))
	f.Add([]byte(`[{"a":1},"x",3]`))
	f.Add([]byte("\n\n\r\n"))
	h := New(Options{Shapes: event.NewShapes(100), MaxEventBytes: 1 << 20, MaxFields: 200})
	// One decoder for every input, reset in between as the handler does.
	dec := &decoder{parser: event.NewParser(event.NewShapes(100), event.ParserOptions{})}
	f.Fuzz(func(t *testing.T, body []byte) {
		defer dec.reset()
		resp := &Response{}
		events, _ := h.decode(dec, body, 0, "g", "s", modeDetect, resp)
		if len(events) != 0 && resp.Accepted != 0 {
			t.Fatal("decode must not set Accepted")
		}
		if strings.HasPrefix(strings.TrimLeft(string(body), " \t\r\n"), "[") {
			if _, err := event.SplitJSONArray(string(body)); err == nil {
				return
			}
		}
		lines := 0
		for _, l := range strings.Split(string(body), "\n") {
			if !isBlank(l) {
				lines++
			}
		}
		if len(events)+resp.Rejected != lines {
			t.Fatalf("%d lines, %d events, %d rejected", lines, len(events), resp.Rejected)
		}
	})
}
