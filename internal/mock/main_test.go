package mock

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startMock starts a Server with the given mapping JSON documents behind a
// real HTTP listener.
func startMock(t *testing.T, opts Options, mappings ...string) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	for _, js := range mappings {
		_, err := s.AddMappingsJSON([]byte(js))
		require.NoError(t, err, js)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// call sends a request and returns the response with its body read.
// Headers are given as "Name: value" strings.
func call(t *testing.T, ts *httptest.Server, method, path, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	require.NoError(t, err)
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		require.True(t, ok, h)
		req.Header.Add(k, strings.TrimSpace(v))
	}
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

// startMockWith serves an existing Server on a real listener.
func startMockWith(t *testing.T, s *Server) (*Server, *httptest.Server) {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

// writeFile writes a file under dir, creating its directories.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// newServerNoCleanup starts a listener the test closes itself.
func newServerNoCleanup(s *Server) *httptest.Server { return httptest.NewServer(s) }
