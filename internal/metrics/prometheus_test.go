package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// This file runs Debian's prometheus (2.42) for the tests that compare
// sonde with the real thing. scripts/test-deps.sh installs it; under
// CI=true a missing binary fails the test, locally the test installs it
// when it can and skips only when that is impossible.

var (
	prometheusOnce sync.Once
	prometheusPath string
	prometheusErr  error
)

// prometheusBinary returns the path of Debian's prometheus binary.
func prometheusBinary(t testing.TB) string {
	t.Helper()
	prometheusOnce.Do(func() {
		if p, err := exec.LookPath("prometheus"); err == nil {
			prometheusPath = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "test-deps.sh")
		out, err := exec.Command(script).CombinedOutput()
		if p, lerr := exec.LookPath("prometheus"); lerr == nil {
			prometheusPath = p
			return
		}
		prometheusErr = fmt.Errorf("prometheus is not installed and %s could not install it (%v):\n%s", script, err, out)
	})
	if prometheusErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Debian's prometheus is required under CI=true: %v", prometheusErr)
		}
		t.Skipf("skipping: %v", prometheusErr)
	}
	return prometheusPath
}

// promProcess is a running Prometheus 2.42.
type promProcess struct {
	URL  string
	Dir  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
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

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs prometheus with configYAML on a loopback port and a
// temporary data directory, and waits until it is ready. It is stopped at
// the end of the test.
func startPrometheus(t testing.TB, configYAML string, flags ...string) *promProcess {
	t.Helper()
	bin := prometheusBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(configYAML), 0o644))
	var p *promProcess
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		args := append([]string{
			"--config.file=" + cfgPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
			"--log.level=warn",
		}, flags...)
		p = &promProcess{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, logs: &syncBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, args...)
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		require.NoError(t, p.cmd.Start())
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		if p.waitReady(30 * time.Second) {
			t.Cleanup(func() { p.stop(t) })
			return p
		}
		p.stop(t)
		if !strings.Contains(p.logs.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("prometheus did not become ready:\n%s", p.logs.String())
	return nil
}

func (p *promProcess) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func (p *promProcess) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if t.Failed() {
		t.Logf("prometheus output:\n%s", p.logs.String())
	}
}
