package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startMock runs "sonde mock" on a free port with the given mappings and
// returns its base URL.
func startMock(t *testing.T, mappings map[string]string) string {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "mappings"), 0o755))
	for name, body := range mappings {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "mappings", name), []byte(body), 0o644))
	}
	addr := freeAddr(t)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, "mock", "--port", port, filepath.Join(dir, "mappings"))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("sonde mock did not start")
	}
	return "http://127.0.0.1:" + port
}

// exitCode runs the binary and returns its exit code and output.
func exitCode(t *testing.T, dir string, args ...string) (int, string) {
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

func TestLoadAgainstMockWithArtilleryExitCodes(t *testing.T) {
	target := startMock(t, map[string]string{
		"sessions.json": `{"request":{"method":"POST","urlPath":"/sessions","bodyPatterns":[{"matchesJsonPath":"$.speaker.firstName"}]},
		  "response":{"status":201,"jsonBody":{"id":42},"fixedDelayMilliseconds":5}}`,
	})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sessions.csv"), []byte("Observability,Ada\nTracing,Grace\n"), 0o644))
	script := func(extra string) string {
		return fmt.Sprintf(`config:
  target: %q
  phases:
    - duration: 2
      arrivalRate: 5
  payload:
    path: "sessions.csv"
    fields: ["subject", "firstName"]
%s
scenarios:
  - flow:
      - post:
          url: "/sessions"
          json: {subject: "{{ subject }}", speaker: {firstName: "{{ firstName }}"}}
          capture: {json: "$.id", as: id}
      - log: "created {{ id }}"
`, target, extra)
	}
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	write("ok.yml", script("  ensure:\n    thresholds:\n      - http.response_time.p99: 5000"))
	code, out := exitCode(t, dir, "load", "--output", "report.json", "ok.yml")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "http.codes.201: ")
	require.Contains(t, out, "vusers.created: ")
	require.Contains(t, out, "created 42")
	require.FileExists(t, filepath.Join(dir, "report.json"))

	write("slow.yml", script("  ensure:\n    thresholds:\n      - http.response_time.p99: 1"))
	code, out = exitCode(t, dir, "load", "slow.yml")
	require.Equal(t, 1, code, "a failed ensure threshold exits 1:\n%s", out)

	write("expect.yml", strings.Replace(script("  plugins:\n    expect: {}"), `capture: {json: "$.id", as: id}`, "expect:\n            - statusCode: 200", 1))
	code, out = exitCode(t, dir, "load", "expect.yml")
	require.Equal(t, 21, code, "a failed expectation exits 21, as Artillery does:\n%s", out)

	code, out = exitCode(t, dir, "load", "report", "-o", "report.html", "report.json")
	require.Equal(t, 0, code, out)
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	require.NoError(t, err)
	require.Contains(t, string(html), "<svg")
}

func TestCanaryRunFromConfig(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"status":"UP"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`canaries:
  - name: health
    kind: heartbeat
    url: %s/health
    conditions: ["[STATUS] == 200", "[BODY].status == UP"]
  - name: missing
    kind: heartbeat
    url: %s/nope
`, api.URL, api.URL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sonde.yaml"), []byte(cfg), 0o644))
	code, out := exitCode(t, dir, "canary", "run", "--config", "sonde.yaml", "--har", "health.har", "health")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "[pass] [BODY].status (UP) == UP")
	har, err := os.ReadFile(filepath.Join(dir, "health.har"))
	require.NoError(t, err)
	require.Contains(t, string(har), `"entries"`)

	code, out = exitCode(t, dir, "canary", "run", "--config", "sonde.yaml", "missing")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "404")
}
