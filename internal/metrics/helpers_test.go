package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// tsdbHistogram is a small native histogram for remote write tests.
func tsdbHistogram() *histogram.Histogram {
	return &histogram.Histogram{
		Count:           5,
		ZeroCount:       1,
		ZeroThreshold:   0.001,
		Sum:             12.5,
		Schema:          0,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{2, 0},
	}
}

// testServer is a Store behind an HTTP server with the API mounted.
type testServer struct {
	store *Store
	srv   *httptest.Server
}

func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil && os.Getenv("SONDE_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := Open(opts)
	require.NoError(t, err)
	ts := &testServer{store: s, srv: serveAPI(s)}
	t.Cleanup(func() {
		ts.srv.Close()
		require.NoError(t, s.Close())
	})
	return ts
}

func serveAPI(s *Store) *httptest.Server {
	mux := http.NewServeMux()
	for _, r := range s.NewAPI().Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
	return httptest.NewServer(mux)
}

// postWrite sends a remote write 1.0 request and returns the status and body.
func postWrite(t testing.TB, url string, req *prompb.WriteRequest) (int, string) {
	t.Helper()
	buf, err := req.Marshal()
	require.NoError(t, err)
	return postRaw(t, url, snappy.Encode(nil, buf), "application/x-protobuf", "snappy")
}

func postRaw(t testing.TB, url string, body []byte, contentType, encoding string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url+"/api/v1/write", bytes.NewReader(body))
	require.NoError(t, err)
	r.Header.Set("Content-Type", contentType)
	if encoding != "" {
		r.Header.Set("Content-Encoding", encoding)
	}
	r.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// apiResponse is Prometheus' API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

// get calls an API endpoint with GET and decodes the envelope.
func get(t testing.TB, base, path string, params url.Values) (int, apiResponse) {
	t.Helper()
	u := base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	require.NoError(t, err)
	return decodeResponse(t, resp)
}

// postForm calls an API endpoint with a form body, as Grafana does.
func postForm(t testing.TB, base, path string, params url.Values) (int, apiResponse) {
	t.Helper()
	resp, err := http.PostForm(base+path, params)
	require.NoError(t, err)
	return decodeResponse(t, resp)
}

func decodeResponse(t testing.TB, resp *http.Response) (int, apiResponse) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var r apiResponse
	require.NoError(t, json.Unmarshal(b, &r), "body: %s", b)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, r
}

// queryResult is the data of a query answer.
type queryResult struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type matrixSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// instantVector runs an instant query and returns the vector.
func instantVector(t testing.TB, base, q string, ts time.Time) []vectorSample {
	t.Helper()
	code, r := get(t, base, "/api/v1/query", url.Values{"query": {q}, "time": {formatTime(ts)}})
	require.Equal(t, http.StatusOK, code, "%s: %s", q, r.Error)
	var qr queryResult
	require.NoError(t, json.Unmarshal(r.Data, &qr))
	require.Equal(t, "vector", qr.ResultType)
	var v []vectorSample
	require.NoError(t, json.Unmarshal(qr.Result, &v))
	return v
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}
