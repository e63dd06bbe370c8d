// Package e2e tests the sonde binary as users run it: it builds
// cmd/sonde, starts servers on free ports with a temporary data directory,
// talks to them over every protocol with real clients, and kills them.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binary is the sonde binary built once for all tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sonde-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sonde")
	build := exec.Command("go", "build", "-o", binary, "../cmd/sonde")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sonde:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running sonde process.
type server struct {
	t     *testing.T
	cmd   *exec.Cmd
	addrs map[string]string
	done  chan struct{}
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`msg=Listening listener=(\S+) addr=(\S+)`)

// start runs "sonde serve" on dataDir with every listener on a free port and
// waits until it answers /readyz.
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0",
		"--otlp-http-addr", "127.0.0.1:0", "--otlp-grpc-addr", "127.0.0.1:0", "--syslog-addr", "127.0.0.1:0",
		"--statsd-addr", "127.0.0.1:0", "--graphite-addr", "127.0.0.1:0", "--xray-addr", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(binary, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &server{t: t, cmd: cmd, addrs: map[string]string{}, done: make(chan struct{}), log: &syncBuffer{}}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.log, line)
			if m := listening.FindStringSubmatch(line); m != nil {
				s.addrs[m[1]] = m[2]
			}
			if strings.Contains(line, "sonde is running") && !signalled {
				signalled = true
			}
			if signalled && s.addrs["http"] != "" && !isClosed(found) {
				close(found)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	select {
	case <-found:
	case <-s.done:
		t.Fatalf("sonde exited at start:\n%s", s.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("sonde did not start:\n%s", s.log)
	}
	s.waitReady()
	t.Cleanup(func() { s.kill() })
	return s
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *server) url(path string) string { return "http://" + s.addrs["http"] + path }

func (s *server) waitReady() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("sonde never became ready:\n%s", s.log)
}

// kill sends SIGKILL: no checkpoint, no flush, no goodbye.
func (s *server) kill() {
	if s.cmd.Process != nil && !isClosed(s.done) {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("sonde did not stop:\n%s", s.log)
	}
}

// query runs a Logs Insights query over all time.
func (s *server) query(q string, groups ...string) [][]any {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "start": 0, "end": "now+1d", "groups": groups})
	resp, err := http.Post(s.url("/api/v1/logs/query"), "application/json", bytes.NewReader(body))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	require.Equal(s.t, http.StatusOK, resp.StatusCode, string(data))
	var res struct {
		Rows [][]any `json:"rows"`
	}
	require.NoError(s.t, json.Unmarshal(data, &res))
	return res.Rows
}

// postLogs sends NDJSON lines to a group and reports whether sonde
// acknowledged them.
func postLogs(ctx context.Context, url, group string, lines []string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v1/logs?group="+group, strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK, nil
}

func TestStartsWithNoConfigAndAnswersHealth(t *testing.T) {
	s := start(t, t.TempDir())
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(s.url(path))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		if path == "/metrics" {
			require.Contains(t, string(body), "sonde_store_disk_bytes")
		}
	}
	for _, l := range []string{"http", "otlp_http", "otlp_grpc", "syslog_udp", "syslog_tcp", "statsd_udp", "graphite_tcp", "graphite_udp", "xray_udp"} {
		require.NotEmpty(t, s.addrs[l], "listener %s", l)
	}
	s.stop()
}

func TestCheckConfigPointsAtTheBadLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "sonde.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("listen:\n  http: 127.0.0.1:4380\n  htpp: x\n"), 0o644))
	out, err := exec.Command(binary, "check", "config", bad).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "line 3: unknown key \"htpp\"")

	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("retention:\n  default: 7d\n"), 0o644))
	out, err = exec.Command(binary, "check", "config", good).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "valid")
}

func TestFlagsOverrideTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sonde.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "from-file")+"\nlisten:\n  syslog: 127.0.0.1:0\n"), 0o644))
	s := start(t, filepath.Join(dir, "from-flag"), "--config", cfg, "--syslog-addr", "")
	require.Empty(t, s.addrs["syslog_udp"], "an empty flag turns the listener off")
	ok, err := postLogs(context.Background(), s.url(""), "g", []string{`{"a":1}`})
	require.NoError(t, err)
	require.True(t, ok)
	s.stop()
	require.DirExists(t, filepath.Join(dir, "from-flag", "events"))
	require.NoDirExists(t, filepath.Join(dir, "from-file"))
}
