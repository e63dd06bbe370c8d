package selfmon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

func TestWarnerLogsOncePerIntervalAndCountsTheRest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var w Warner
	for i := 0; i < 5; i++ {
		w.Warn(log, "invalid", "Rejected line", "line", i)
	}
	w.Warn(log, "too_large", "Rejected big line")
	require.Equal(t, 2, strings.Count(buf.String(), "level=WARN"), buf.String())
	require.Contains(t, buf.String(), "line=0")
	ok, suppressed := w.Allow("invalid")
	require.False(t, ok)
	require.Zero(t, suppressed)
	w.state["invalid"].next = w.state["invalid"].next.Add(-2 * WarnInterval)
	ok, suppressed = w.Allow("invalid")
	require.True(t, ok)
	require.Equal(t, 5, suppressed, "four suppressed warnings and one refused Allow")
}

func TestRegisterReturnsTheExistingCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "x_total", Help: "x"}
	a := Register(reg, prometheus.NewCounterVec(opts, []string{"p"}))
	b := Register(reg, prometheus.NewCounterVec(opts, []string{"p"}))
	require.Same(t, a, b)
	require.Panics(t, func() { Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "x"})) })
}

func TestNewRegistersEverything(t *testing.T) {
	m := New(func() float64 { return 42 })
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	require.True(t, names["sonde_store_disk_bytes"])
	require.True(t, names["go_goroutines"])
}
