package metrics

import (
	"fmt"
	"log/slog"
	"time"

	promconfig "github.com/prometheus/prometheus/config"
	yaml "go.yaml.in/yaml/v2"

	"github.com/sonde-dev/sonde/internal/config"
)

// PrometheusConfig translates sonde's metrics settings and scrape_configs
// into Prometheus' configuration, which the scrape manager and remote
// storage consume. sonde's keys are Prometheus' keys, so the translation
// writes a prometheus.yml and loads it with Prometheus' own loader: every
// default and check is Prometheus' own.
func PrometheusConfig(cfg *config.Config) (*promconfig.Config, error) {
	doc := prometheusYAML(cfg)
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode Prometheus configuration: %w", err)
	}
	pc, err := promconfig.Load(string(out), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("metrics configuration: %w", err)
	}
	return pc, nil
}

// emptyPrometheusConfig is a loaded configuration with nothing configured.
func emptyPrometheusConfig() *promconfig.Config {
	pc, err := promconfig.Load("", slog.New(slog.DiscardHandler))
	if err != nil {
		panic("BUG: empty Prometheus configuration does not load: " + err.Error())
	}
	return pc
}

// yamlMap keeps key order stable in the generated document.
type yamlMap = yaml.MapSlice

func prometheusYAML(cfg *config.Config) yamlMap {
	m := cfg.Metrics
	global := yamlMap{
		{Key: "scrape_interval", Value: promDuration(m.ScrapeInterval)},
		{Key: "scrape_timeout", Value: promDuration(min(m.ScrapeTimeout, m.ScrapeInterval))},
	}
	if len(m.ExternalLabels) > 0 {
		global = append(global, yaml.MapItem{Key: "external_labels", Value: m.ExternalLabels})
	}
	doc := yamlMap{{Key: "global", Value: global}}

	var scrapes []yamlMap
	for _, sc := range cfg.ScrapeConfigs {
		j := yamlMap{{Key: "job_name", Value: sc.JobName}}
		if sc.ScrapeInterval > 0 {
			j = append(j, yaml.MapItem{Key: "scrape_interval", Value: promDuration(sc.ScrapeInterval)})
		}
		if sc.ScrapeTimeout > 0 {
			j = append(j, yaml.MapItem{Key: "scrape_timeout", Value: promDuration(sc.ScrapeTimeout)})
		} else if sc.ScrapeInterval > 0 && sc.ScrapeInterval < m.ScrapeTimeout {
			j = append(j, yaml.MapItem{Key: "scrape_timeout", Value: promDuration(sc.ScrapeInterval)})
		}
		if sc.MetricsPath != "" {
			j = append(j, yaml.MapItem{Key: "metrics_path", Value: sc.MetricsPath})
		}
		if sc.Scheme != "" {
			j = append(j, yaml.MapItem{Key: "scheme", Value: sc.Scheme})
		}
		if len(sc.Params) > 0 {
			j = append(j, yaml.MapItem{Key: "params", Value: sc.Params})
		}
		j = append(j, yaml.MapItem{Key: "honor_labels", Value: sc.HonorLabels})
		if sc.HonorTimestamps != nil {
			j = append(j, yaml.MapItem{Key: "honor_timestamps", Value: *sc.HonorTimestamps})
		}
		if sc.SampleLimit > 0 {
			j = append(j, yaml.MapItem{Key: "sample_limit", Value: sc.SampleLimit})
		}
		j = append(j, httpClientYAML(sc.HTTPClient)...)
		var statics []yamlMap
		for _, st := range sc.StaticConfigs {
			e := yamlMap{{Key: "targets", Value: st.Targets}}
			if len(st.Labels) > 0 {
				e = append(e, yaml.MapItem{Key: "labels", Value: st.Labels})
			}
			statics = append(statics, e)
		}
		j = append(j, yaml.MapItem{Key: "static_configs", Value: statics})
		if len(sc.RelabelConfigs) > 0 {
			j = append(j, yaml.MapItem{Key: "relabel_configs", Value: relabelYAML(sc.RelabelConfigs)})
		}
		if len(sc.MetricRelabelConfigs) > 0 {
			j = append(j, yaml.MapItem{Key: "metric_relabel_configs", Value: relabelYAML(sc.MetricRelabelConfigs)})
		}
		scrapes = append(scrapes, j)
	}
	if len(scrapes) > 0 {
		doc = append(doc, yaml.MapItem{Key: "scrape_configs", Value: scrapes})
	}

	var writes []yamlMap
	for _, rw := range m.RemoteWrite {
		w := yamlMap{{Key: "url", Value: rw.URL}}
		if rw.Name != "" {
			w = append(w, yaml.MapItem{Key: "name", Value: rw.Name})
		}
		if rw.RemoteTimeout > 0 {
			w = append(w, yaml.MapItem{Key: "remote_timeout", Value: promDuration(rw.RemoteTimeout)})
		}
		if len(rw.Headers) > 0 {
			w = append(w, yaml.MapItem{Key: "headers", Value: rw.Headers})
		}
		if len(rw.WriteRelabelConfigs) > 0 {
			w = append(w, yaml.MapItem{Key: "write_relabel_configs", Value: relabelYAML(rw.WriteRelabelConfigs)})
		}
		q := rw.QueueConfig
		queue := yamlMap{}
		for _, kv := range []struct {
			key string
			v   int
		}{{"capacity", q.Capacity}, {"min_shards", q.MinShards}, {"max_shards", q.MaxShards}, {"max_samples_per_send", q.MaxSamplesPerSend}} {
			if kv.v > 0 {
				queue = append(queue, yaml.MapItem{Key: kv.key, Value: kv.v})
			}
		}
		for _, kv := range []struct {
			key string
			v   config.Duration
		}{{"batch_send_deadline", q.BatchSendDeadline}, {"min_backoff", q.MinBackoff}, {"max_backoff", q.MaxBackoff}} {
			if kv.v > 0 {
				queue = append(queue, yaml.MapItem{Key: kv.key, Value: promDuration(kv.v)})
			}
		}
		if q.RetryOnRateLimit {
			queue = append(queue, yaml.MapItem{Key: "retry_on_http_429", Value: true})
		}
		if len(queue) > 0 {
			w = append(w, yaml.MapItem{Key: "queue_config", Value: queue})
		}
		if rw.SendMetadata != nil {
			w = append(w, yaml.MapItem{Key: "metadata_config", Value: yamlMap{{Key: "send", Value: *rw.SendMetadata}}})
		}
		w = append(w, httpClientYAML(rw.HTTPClient)...)
		writes = append(writes, w)
	}
	if len(writes) > 0 {
		doc = append(doc, yaml.MapItem{Key: "remote_write", Value: writes})
	}

	var reads []yamlMap
	for _, rr := range m.RemoteRead {
		r := yamlMap{{Key: "url", Value: rr.URL}}
		if rr.Name != "" {
			r = append(r, yaml.MapItem{Key: "name", Value: rr.Name})
		}
		if rr.RemoteTimeout > 0 {
			r = append(r, yaml.MapItem{Key: "remote_timeout", Value: promDuration(rr.RemoteTimeout)})
		}
		if len(rr.Headers) > 0 {
			r = append(r, yaml.MapItem{Key: "headers", Value: rr.Headers})
		}
		r = append(r, yaml.MapItem{Key: "read_recent", Value: rr.ReadRecent})
		if len(rr.RequiredMatchers) > 0 {
			r = append(r, yaml.MapItem{Key: "required_matchers", Value: rr.RequiredMatchers})
		}
		if rr.FilterExternalLabels != nil {
			r = append(r, yaml.MapItem{Key: "filter_external_labels", Value: *rr.FilterExternalLabels})
		}
		r = append(r, httpClientYAML(rr.HTTPClient)...)
		reads = append(reads, r)
	}
	if len(reads) > 0 {
		doc = append(doc, yaml.MapItem{Key: "remote_read", Value: reads})
	}
	return doc
}

func httpClientYAML(h config.HTTPClient) yamlMap {
	var out yamlMap
	if b := h.BasicAuth; b != nil {
		ba := yamlMap{{Key: "username", Value: b.Username}}
		if b.Password != "" {
			ba = append(ba, yaml.MapItem{Key: "password", Value: b.Password})
		}
		if b.PasswordFile != "" {
			ba = append(ba, yaml.MapItem{Key: "password_file", Value: b.PasswordFile})
		}
		out = append(out, yaml.MapItem{Key: "basic_auth", Value: ba})
	}
	if a := h.Authorization; a != nil {
		au := yamlMap{}
		if a.Type != "" {
			au = append(au, yaml.MapItem{Key: "type", Value: a.Type})
		}
		if a.Credentials != "" {
			au = append(au, yaml.MapItem{Key: "credentials", Value: a.Credentials})
		}
		if a.CredentialsFile != "" {
			au = append(au, yaml.MapItem{Key: "credentials_file", Value: a.CredentialsFile})
		}
		out = append(out, yaml.MapItem{Key: "authorization", Value: au})
	}
	if h.BearerToken != "" {
		out = append(out, yaml.MapItem{Key: "authorization", Value: yamlMap{{Key: "credentials", Value: h.BearerToken}}})
	}
	if h.BearerTokenFile != "" {
		out = append(out, yaml.MapItem{Key: "authorization", Value: yamlMap{{Key: "credentials_file", Value: h.BearerTokenFile}}})
	}
	if t := h.TLSConfig; t != nil {
		tc := yamlMap{}
		for _, kv := range [][2]string{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"server_name", t.ServerName}} {
			if kv[1] != "" {
				tc = append(tc, yaml.MapItem{Key: kv[0], Value: kv[1]})
			}
		}
		tc = append(tc, yaml.MapItem{Key: "insecure_skip_verify", Value: t.InsecureSkipVerify})
		out = append(out, yaml.MapItem{Key: "tls_config", Value: tc})
	}
	if h.ProxyURL != "" {
		out = append(out, yaml.MapItem{Key: "proxy_url", Value: h.ProxyURL})
	}
	if h.FollowRedirects != nil {
		out = append(out, yaml.MapItem{Key: "follow_redirects", Value: *h.FollowRedirects})
	}
	return out
}

func relabelYAML(rules []config.RelabelConfig) []yamlMap {
	out := make([]yamlMap, 0, len(rules))
	for _, r := range rules {
		m := yamlMap{}
		if len(r.SourceLabels) > 0 {
			m = append(m, yaml.MapItem{Key: "source_labels", Value: r.SourceLabels})
		}
		if r.Separator != nil {
			m = append(m, yaml.MapItem{Key: "separator", Value: *r.Separator})
		}
		if r.Regex != nil {
			m = append(m, yaml.MapItem{Key: "regex", Value: *r.Regex})
		}
		if r.Modulus > 0 {
			m = append(m, yaml.MapItem{Key: "modulus", Value: r.Modulus})
		}
		if r.TargetLabel != "" {
			m = append(m, yaml.MapItem{Key: "target_label", Value: r.TargetLabel})
		}
		if r.Replacement != nil {
			m = append(m, yaml.MapItem{Key: "replacement", Value: *r.Replacement})
		}
		if r.Action != "" {
			m = append(m, yaml.MapItem{Key: "action", Value: r.Action})
		}
		out = append(out, m)
	}
	return out
}

// promDuration writes a duration in milliseconds, a form Prometheus'
// duration parser always accepts.
func promDuration(d config.Duration) string {
	return fmt.Sprintf("%dms", time.Duration(d).Milliseconds())
}
