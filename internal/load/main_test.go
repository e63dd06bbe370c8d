package load

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/mock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startMock serves WireMock mappings on a real listener.
func startMock(t *testing.T, mappings ...string) (*mock.Server, string) {
	t.Helper()
	s := mock.New(mock.Options{Seed: 1})
	for _, js := range mappings {
		_, err := s.AddMappingsJSON([]byte(js))
		require.NoError(t, err, js)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

// writeFiles writes name -> content files into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

// runYAML parses a script (with {{TARGET}} replaced) in dir and runs it.
func runYAML(t *testing.T, dir, script, target string, opts Options) (*Result, string) {
	t.Helper()
	script = strings.ReplaceAll(script, "{{TARGET}}", target)
	s, err := Parse([]byte(script), dir, opts.Environment)
	require.NoError(t, err)
	var out bytes.Buffer
	opts.Out = &out
	res, err := Run(context.Background(), s, opts)
	require.NoError(t, err)
	return res, out.String()
}

// counter returns an aggregate counter.
func counter(res *Result, name string) int64 { return res.Report.Aggregate.Counters[name] }

// countRequests counts the requests a mock received for method and path.
func countRequests(t *testing.T, s *mock.Server, method, urlPath string) int {
	t.Helper()
	n, err := s.CountRequests(mock.RequestPattern{Method: method, URLPath: urlPath})
	require.NoError(t, err)
	return n
}

// headerValue returns the first value of a journal header, by any case.
func headerValue(h mock.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// mockURL is a request pattern for an exact URL with any method.
func mockURL(u string) mock.RequestPattern { return mock.RequestPattern{Method: "ANY", URL: u} }
