package load

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// installArtillery runs scripts/install-artillery.sh (idempotent, cached
// under bench/out, which git ignores) and returns the artillery binary.
// The test is skipped only when npm is not installed.
func installArtillery(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed: skipping the comparison with Artillery")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "install-artillery.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "install artillery")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

func TestSameCountsAsArtillery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs Artillery")
	}
	bin := installArtillery(t)
	srv, url := startMock(t, sessionsStub)
	// The ramp, 5 s long: 1, 3, 6, 8 and 10 arrivals (Artillery
	// rounds each second's rate; the reference's floor would give 28).
	script := strings.Replace(strings.ReplaceAll(rampScript, "{{TARGET}}", url), "duration: 120", "duration: 5", 1)
	dir := writeFiles(t, map[string]string{"sessions.csv": sessionsCSV, "ramp.yml": script})

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	report := filepath.Join(dir, "artillery.json")
	cmd := exec.CommandContext(ctx, bin, "run", "--output", report, filepath.Join(dir, "ramp.yml"))
	cmd.Env = append(os.Environ(), "ARTILLERY_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=1", "ARTILLERY_NO_UPDATE_CHECK=true")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Equal(t, 28, countRequests(t, srv, "POST", "/sessions"), string(out))

	data, err := os.ReadFile(report)
	require.NoError(t, err)
	var art Report
	require.NoError(t, json.Unmarshal(data, &art))

	srv.ResetRequests()
	res, console := runYAML(t, dir, script, url, Options{})
	require.Equal(t, 28, countRequests(t, srv, "POST", "/sessions"))
	for _, name := range []string{"vusers.created", "vusers.completed", "vusers.failed", "http.requests", "http.responses", "http.codes.201", "vusers.created_by_name.0"} {
		require.Equal(t, art.Aggregate.Counters[name], res.Report.Aggregate.Counters[name], "%s\nartillery:\n%s\nsonde:\n%s", name, out, console)
	}
	require.EqualValues(t, 28, art.Aggregate.Counters["http.codes.201"])
	require.Equal(t, art.Aggregate.Summaries["http.response_time"].Count, res.Report.Aggregate.Summaries["http.response_time"].Count)

	// Both reports have the same keys for the metrics they share.
	for name := range art.Aggregate.Counters {
		if strings.HasPrefix(name, "plugins.metrics-by-endpoint") {
			continue // Artillery's default plugin, not built in
		}
		require.Contains(t, res.Report.Aggregate.Counters, name)
	}
	for name := range art.Aggregate.Summaries {
		if strings.HasPrefix(name, "plugins.") {
			continue
		}
		require.Contains(t, res.Report.Aggregate.Summaries, name)
	}
	// The console summaries have the same lines for shared counters.
	for _, name := range []string{"http.codes.201", "http.requests", "vusers.created"} {
		line := padded(name, "28")
		require.Contains(t, string(out), line)
		require.Contains(t, console, line)
	}
}
