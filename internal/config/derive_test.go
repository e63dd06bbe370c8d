package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeriveConfigValues(t *testing.T) {
	cfg, err := LoadFile("testdata/derive-full.good.yaml")
	require.NoError(t, err)
	require.Len(t, cfg.MetricFilters, 3)
	r := cfg.MetricFilters[1].FilterRule()
	require.Equal(t, "api-*", r.Group)
	require.Equal(t, "$.latency_ms", r.Value)
	require.Equal(t, []float64{10, 50, 100, 500, 1000, 5000}, r.Buckets)
	require.Equal(t, "1", cfg.MetricFilters[2].Value)
	require.Equal(t, 0.0, *cfg.MetricFilters[2].DefaultValue)
	red := cfg.REDMetrics.REDOptions()
	require.True(t, red.Enabled)
	require.Equal(t, []string{"latency_ms", "took:s"}, red.Fields.Latency)
	require.Nil(t, red.Fields.Method, "parts not configured keep the defaults")
	require.Equal(t, 500, cfg.EMF.MaxSeriesPerNamespace)

	def := Default()
	require.True(t, def.REDMetrics.Enabled)
	require.True(t, def.EMF.Enabled)
	require.Empty(t, def.MetricFilters)
}
