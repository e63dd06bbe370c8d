package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGoodConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	t.Setenv("SONDE_INGEST_TOKEN", "t0ken")
	for _, f := range files {
		cfg, err := LoadFile(f)
		require.NoError(t, err, f)
		_, err = cfg.Auth.ResolveTokens()
		require.NoError(t, err, f)
	}
}

func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
		require.NoError(t, err, f)
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = Load(filepath.Base(f), data)
		require.Error(t, err, f)
		require.Contains(t, err.Error(), strings.TrimSpace(string(want)), f)
	}
}

func TestFullConfigValues(t *testing.T) {
	t.Setenv("SONDE_INGEST_TOKEN", "t0ken")
	cfg, err := LoadFile("testdata/full.good.yaml")
	require.NoError(t, err)
	require.Equal(t, "", cfg.Listen.OTLPGRPC)
	require.Equal(t, Duration(14*24*time.Hour), cfg.Retention.Default)
	require.Equal(t, 90, cfg.Retention.Groups["/aws/lambda/checkout"].Days())
	require.Equal(t, Size(8<<20), cfg.Ingest.MaxBodyBytes)
	require.Equal(t, Size(512<<10), cfg.Ingest.MaxEventBytes)
	tokens, err := cfg.Auth.ResolveTokens()
	require.NoError(t, err)
	require.Equal(t, []string{"ingest"}, tokens["t0ken"].Scopes)
	require.Equal(t, "grafana", tokens["s3cret"].Name)
}

func TestDefaultsAreValid(t *testing.T) {
	require.NoError(t, Default().Validate())
	require.Equal(t, "127.0.0.1:4380", Default().Listen.HTTP)
}

func TestUnits(t *testing.T) {
	d, err := ParseDuration("1d12h")
	require.NoError(t, err)
	require.Equal(t, Duration(36*time.Hour), d)
	require.Equal(t, "30d", Duration(30*24*time.Hour).String())
	s, err := ParseSize("16MiB")
	require.NoError(t, err)
	require.Equal(t, Size(16<<20), s)
	_, err = ParseSize("-1")
	require.Error(t, err)
}
