// Package dataset loads the fixed test dataset of the query language,
// internal/query/testdata/dataset.yaml: a few groups of log lines that the
// golden tests of every store (querytest) and the Go evaluator of filter
// expressions (insights) run against. It is a leaf, so that both can use
// it without an import cycle.
package dataset

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/sonde-dev/sonde/internal/event"
)

// Base is the dataset's day: 2026-11-20T00:00:00Z, the @timestamp of lines
// that carry none.
const Base = int64(1_795_132_800_000)

// Dir is internal/query/testdata, where the dataset, the queries and the
// golden answers live.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Load parses dataset.yaml into events, group by group. Each group's
// events get the stream "stream-<group without slashes>".
func Load(t testing.TB) []event.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(), "dataset.yaml"))
	require.NoError(t, err)
	var groups yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &groups))
	p := event.NewParser(event.NewShapes(1000), event.ParserOptions{})
	var out []event.Event
	m := groups.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		name := m.Content[i].Value
		for _, line := range strings.Split(strings.TrimRight(m.Content[i+1].Value, "\n"), "\n") {
			var ev event.Event
			_, err := p.Parse(line, Base, &ev)
			require.NoError(t, err, line)
			ev.Group, ev.Stream = name, "stream-"+strings.Trim(name, "/")
			out = append(out, ev)
		}
	}
	return out
}
