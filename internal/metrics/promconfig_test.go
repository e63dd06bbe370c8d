package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/config"
)

// TestPrometheusConfigFromSondeConfig translates the config package's
// complete metrics example into Prometheus' configuration.
func TestPrometheusConfigFromSondeConfig(t *testing.T) {
	cfg, err := config.LoadFile("../config/testdata/metrics.good.yaml")
	require.NoError(t, err)
	pc, err := PrometheusConfig(cfg)
	require.NoError(t, err)

	require.Equal(t, model.Duration(30*time.Second), pc.GlobalConfig.ScrapeInterval)
	require.Equal(t, "eu-1", pc.GlobalConfig.ExternalLabels.Get("cluster"))

	scs, err := pc.GetScrapeConfigs()
	require.NoError(t, err)
	require.Len(t, scs, 2)
	api, node := scs[0], scs[1]
	require.Equal(t, "api", api.JobName)
	require.Equal(t, model.Duration(30*time.Second), api.ScrapeInterval, "global default")
	require.Equal(t, model.Duration(5*time.Second), api.ScrapeTimeout)
	require.Equal(t, "/metrics", api.MetricsPath)
	require.True(t, api.HonorTimestamps)
	require.Equal(t, "node", node.JobName)
	require.Equal(t, model.Duration(time.Minute), node.ScrapeInterval)
	require.Equal(t, model.Duration(30*time.Second), node.ScrapeTimeout)
	require.Equal(t, "https", node.Scheme)
	require.Equal(t, []string{"http_2xx"}, node.Params["module"])
	require.True(t, node.HonorLabels)
	require.False(t, node.HonorTimestamps)
	require.Equal(t, uint(50000), node.SampleLimit)
	require.NotNil(t, node.HTTPClientConfig.Authorization)
	require.Equal(t, "/var/run/token", node.HTTPClientConfig.Authorization.CredentialsFile)
	require.Equal(t, "node.internal", node.HTTPClientConfig.TLSConfig.ServerName)
	require.Len(t, node.RelabelConfigs, 1)
	require.Equal(t, "host", node.RelabelConfigs[0].TargetLabel)
	require.Len(t, node.MetricRelabelConfigs, 1)
	require.Equal(t, "labeldrop", string(node.MetricRelabelConfigs[0].Action))

	require.Len(t, pc.RemoteWriteConfigs, 2)
	rw := pc.RemoteWriteConfigs[0]
	require.Equal(t, "https://mimir.example.com/api/v1/push", rw.URL.String())
	require.Equal(t, "mimir", rw.Name)
	require.Equal(t, model.Duration(10*time.Second), rw.RemoteTimeout)
	require.Equal(t, "team-a", rw.Headers["X-Scope-OrgID"])
	require.Equal(t, "sonde", rw.HTTPClientConfig.BasicAuth.Username)
	require.Equal(t, 20000, rw.QueueConfig.Capacity)
	require.Equal(t, 10, rw.QueueConfig.MaxShards)
	require.Equal(t, 5000, rw.QueueConfig.MaxSamplesPerSend)
	require.True(t, rw.QueueConfig.RetryOnRateLimit)
	require.False(t, rw.MetadataConfig.Send)
	require.Len(t, rw.WriteRelabelConfigs, 1)
	require.True(t, pc.RemoteWriteConfigs[1].MetadataConfig.Send, "Prometheus' default")

	require.Len(t, pc.RemoteReadConfigs, 1)
	rr := pc.RemoteReadConfigs[0]
	require.Equal(t, "long-term", rr.Name)
	require.False(t, rr.ReadRecent)
	require.Equal(t, model.LabelValue("prod"), rr.RequiredMatchers["env"])
	require.Equal(t, "s3cret", string(rr.HTTPClientConfig.Authorization.Credentials))
	require.True(t, rr.FilterExternalLabels)
}

func TestPrometheusConfigDefaults(t *testing.T) {
	pc, err := PrometheusConfig(config.Default())
	require.NoError(t, err)
	require.Equal(t, model.Duration(15*time.Second), pc.GlobalConfig.ScrapeInterval)
	require.Empty(t, pc.ScrapeConfigs)
	require.Empty(t, pc.RemoteWriteConfigs)
	require.Empty(t, pc.RemoteReadConfigs)
}
