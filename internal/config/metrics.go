package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
)

// Metrics configures the embedded Prometheus TSDB, its PromQL engine and
// the exchange of samples with other Prometheus-compatible systems. The key
// names follow Prometheus' own configuration file, so that a section copied
// from a prometheus.yml works unchanged (for the keys sonde supports).
type Metrics struct {
	// Retention is how long samples are kept (Prometheus'
	// --storage.tsdb.retention.time). Whole 2h blocks are deleted, so data
	// may outlive it by up to a block.
	Retention Duration `yaml:"retention"`
	// RetentionSize caps the bytes of persisted blocks (0: no cap), like
	// --storage.tsdb.retention.size. The oldest blocks go first.
	RetentionSize Size `yaml:"retention_size"`
	// OutOfOrderWindow accepts samples up to this far behind a series'
	// newest sample (0: reject them, as Prometheus does by default). Push
	// sources with several senders (statsd, OTLP) may need a few minutes.
	OutOfOrderWindow Duration `yaml:"out_of_order_window"`
	// ScrapeInterval and ScrapeTimeout are the defaults of scrape_configs
	// entries (Prometheus' global section).
	ScrapeInterval Duration `yaml:"scrape_interval"`
	ScrapeTimeout  Duration `yaml:"scrape_timeout"`
	// ExternalLabels are added to samples sent with remote_write and
	// removed from remote_read selectors, as in Prometheus.
	ExternalLabels map[string]string `yaml:"external_labels"`
	// Query limits PromQL queries.
	Query MetricsQuery `yaml:"query"`
	// RemoteWrite forwards every stored sample to other stores.
	RemoteWrite []RemoteWrite `yaml:"remote_write"`
	// RemoteRead adds other stores to every PromQL query, with the
	// Prometheus remote read protocol.
	RemoteRead []RemoteRead `yaml:"remote_read"`
}

// MetricsQuery limits PromQL queries (Prometheus' --query.* flags).
type MetricsQuery struct {
	// Timeout aborts queries that run longer.
	Timeout Duration `yaml:"timeout"`
	// MaxSamples caps the samples one query may hold in memory.
	MaxSamples int `yaml:"max_samples"`
	// LookbackDelta is how far back an instant selector looks for a sample.
	LookbackDelta Duration `yaml:"lookback_delta"`
	// MaxConcurrency is the number of queries run at once; the others wait.
	MaxConcurrency int `yaml:"max_concurrency"`
}

// HTTPClient is how sonde authenticates to a scrape target or a remote
// store: the subset of Prometheus' HTTP client settings sonde supports.
type HTTPClient struct {
	BasicAuth       *BasicAuth     `yaml:"basic_auth"`
	Authorization   *Authorization `yaml:"authorization"`
	BearerToken     string         `yaml:"bearer_token"`
	BearerTokenFile string         `yaml:"bearer_token_file"`
	TLSConfig       *TLSConfig     `yaml:"tls_config"`
	ProxyURL        string         `yaml:"proxy_url"`
	FollowRedirects *bool          `yaml:"follow_redirects"`
}

// BasicAuth sends HTTP basic authentication.
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Authorization sends an Authorization header ("Bearer" by default).
type Authorization struct {
	Type            string `yaml:"type"`
	Credentials     string `yaml:"credentials"`
	CredentialsFile string `yaml:"credentials_file"`
}

// TLSConfig configures TLS to a target or remote store.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// ScrapeConfig is one Prometheus scrape job.
type ScrapeConfig struct {
	JobName        string              `yaml:"job_name"`
	ScrapeInterval Duration            `yaml:"scrape_interval"`
	ScrapeTimeout  Duration            `yaml:"scrape_timeout"`
	MetricsPath    string              `yaml:"metrics_path"`
	Scheme         string              `yaml:"scheme"`
	Params         map[string][]string `yaml:"params"`
	// HonorLabels keeps the target's labels when they clash with the
	// job's (instead of renaming them exported_*).
	HonorLabels bool `yaml:"honor_labels"`
	// HonorTimestamps keeps timestamps the target exposes (default true).
	HonorTimestamps *bool `yaml:"honor_timestamps"`
	// SampleLimit fails a scrape with more samples (0: no limit).
	SampleLimit          int             `yaml:"sample_limit"`
	StaticConfigs        []StaticConfig  `yaml:"static_configs"`
	RelabelConfigs       []RelabelConfig `yaml:"relabel_configs"`
	MetricRelabelConfigs []RelabelConfig `yaml:"metric_relabel_configs"`
	HTTPClient           `yaml:",inline"`
}

// StaticConfig is a fixed list of targets with common labels.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// RelabelConfig is a Prometheus relabelling rule. Unset fields take
// Prometheus' defaults (action replace, regex (.*), separator ";",
// replacement $1).
type RelabelConfig struct {
	SourceLabels []string `yaml:"source_labels"`
	Separator    *string  `yaml:"separator"`
	Regex        *string  `yaml:"regex"`
	Modulus      uint64   `yaml:"modulus"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  *string  `yaml:"replacement"`
	Action       string   `yaml:"action"`
}

// RemoteWrite forwards samples to a Prometheus remote write endpoint
// (Prometheus, Mimir, Cortex, Thanos Receive, VictoriaMetrics...).
type RemoteWrite struct {
	URL           string            `yaml:"url"`
	Name          string            `yaml:"name"`
	RemoteTimeout Duration          `yaml:"remote_timeout"`
	Headers       map[string]string `yaml:"headers"`
	// WriteRelabelConfigs choose and rewrite the series sent.
	WriteRelabelConfigs []RelabelConfig `yaml:"write_relabel_configs"`
	QueueConfig         QueueConfig     `yaml:"queue_config"`
	// SendMetadata sends metric type and help (default true).
	SendMetadata *bool `yaml:"send_metadata"`
	HTTPClient   `yaml:",inline"`
}

// QueueConfig tunes a remote_write queue; zero values take Prometheus'
// defaults.
type QueueConfig struct {
	Capacity          int      `yaml:"capacity"`
	MinShards         int      `yaml:"min_shards"`
	MaxShards         int      `yaml:"max_shards"`
	MaxSamplesPerSend int      `yaml:"max_samples_per_send"`
	BatchSendDeadline Duration `yaml:"batch_send_deadline"`
	MinBackoff        Duration `yaml:"min_backoff"`
	MaxBackoff        Duration `yaml:"max_backoff"`
	// RetryOnRateLimit retries batches answered with 429.
	RetryOnRateLimit bool `yaml:"retry_on_http_429"`
}

// RemoteRead queries another store with the Prometheus remote read
// protocol (served by Prometheus, Thanos, Mimir, Cortex...).
type RemoteRead struct {
	URL           string            `yaml:"url"`
	Name          string            `yaml:"name"`
	RemoteTimeout Duration          `yaml:"remote_timeout"`
	Headers       map[string]string `yaml:"headers"`
	// ReadRecent also reads time ranges that the local TSDB holds.
	ReadRecent bool `yaml:"read_recent"`
	// RequiredMatchers only sends selectors with these equality matchers.
	RequiredMatchers map[string]string `yaml:"required_matchers"`
	// FilterExternalLabels strips external_labels from selectors (default true).
	FilterExternalLabels *bool `yaml:"filter_external_labels"`
	HTTPClient           `yaml:",inline"`
}

// defaultMetrics is the metrics section sonde runs with when there is none.
func defaultMetrics() Metrics {
	return Metrics{
		Retention:      Duration(15 * 24 * time.Hour),
		ScrapeInterval: Duration(15 * time.Second),
		ScrapeTimeout:  Duration(10 * time.Second),
		Query: MetricsQuery{
			Timeout:        Duration(2 * time.Minute),
			MaxSamples:     50_000_000,
			LookbackDelta:  Duration(5 * time.Minute),
			MaxConcurrency: 20,
		},
	}
}

// validateMetrics checks the metrics section and scrape_configs.
func (c *Config) validateMetrics() []error {
	var errs []error
	m := c.Metrics
	if m.Retention < Duration(time.Hour) {
		errs = append(errs, c.errorAt("metrics.retention", "must be at least 1h"))
	}
	if m.RetentionSize < 0 {
		errs = append(errs, c.errorAt("metrics.retention_size", "must not be negative"))
	}
	if m.OutOfOrderWindow < 0 {
		errs = append(errs, c.errorAt("metrics.out_of_order_window", "must not be negative"))
	}
	if m.ScrapeInterval <= 0 {
		errs = append(errs, c.errorAt("metrics.scrape_interval", "must be positive"))
	}
	if m.ScrapeTimeout <= 0 {
		errs = append(errs, c.errorAt("metrics.scrape_timeout", "must be positive"))
	}
	for name := range m.ExternalLabels {
		if !validLabelName(name) {
			errs = append(errs, c.errorAt("metrics.external_labels."+name, "invalid label name"))
		}
	}
	if m.Query.Timeout <= 0 {
		errs = append(errs, c.errorAt("metrics.query.timeout", "must be positive"))
	}
	if m.Query.MaxSamples < 1 {
		errs = append(errs, c.errorAt("metrics.query.max_samples", "must be at least 1"))
	}
	if m.Query.LookbackDelta <= 0 {
		errs = append(errs, c.errorAt("metrics.query.lookback_delta", "must be positive"))
	}
	if m.Query.MaxConcurrency < 1 {
		errs = append(errs, c.errorAt("metrics.query.max_concurrency", "must be at least 1"))
	}

	names := map[string]bool{}
	for i, rw := range m.RemoteWrite {
		key := fmt.Sprintf("metrics.remote_write[%d]", i)
		errs = append(errs, c.validateRemoteURL(key, rw.URL)...)
		if rw.Name != "" {
			if names[rw.Name] {
				errs = append(errs, c.errorAt(key+".name", "duplicate remote_write name %q", rw.Name))
			}
			names[rw.Name] = true
		}
		if rw.RemoteTimeout < 0 {
			errs = append(errs, c.errorAt(key+".remote_timeout", "must not be negative"))
		}
		q := rw.QueueConfig
		if q.Capacity < 0 || q.MinShards < 0 || q.MaxShards < 0 || q.MaxSamplesPerSend < 0 ||
			q.BatchSendDeadline < 0 || q.MinBackoff < 0 || q.MaxBackoff < 0 {
			errs = append(errs, c.errorAt(key+".queue_config", "values must not be negative"))
		}
		if q.MinShards > 0 && q.MaxShards > 0 && q.MinShards > q.MaxShards {
			errs = append(errs, c.errorAt(key+".queue_config", "min_shards must not exceed max_shards"))
		}
		errs = append(errs, c.validateHTTPClient(key, rw.HTTPClient)...)
		errs = append(errs, c.validateRelabel(key+".write_relabel_configs", rw.WriteRelabelConfigs)...)
	}
	for i, rr := range m.RemoteRead {
		key := fmt.Sprintf("metrics.remote_read[%d]", i)
		errs = append(errs, c.validateRemoteURL(key, rr.URL)...)
		if rr.RemoteTimeout < 0 {
			errs = append(errs, c.errorAt(key+".remote_timeout", "must not be negative"))
		}
		for name := range rr.RequiredMatchers {
			if !model.UTF8Validation.IsValidLabelName(name) {
				errs = append(errs, c.errorAt(key+".required_matchers."+name, "invalid label name"))
			}
		}
		errs = append(errs, c.validateHTTPClient(key, rr.HTTPClient)...)
	}

	jobs := map[string]bool{}
	for i, sc := range c.ScrapeConfigs {
		key := fmt.Sprintf("scrape_configs[%d]", i)
		switch {
		case sc.JobName == "":
			errs = append(errs, c.errorAt(key, "job_name must not be empty"))
		case jobs[sc.JobName]:
			errs = append(errs, c.errorAt(key+".job_name", "duplicate job_name %q", sc.JobName))
		}
		jobs[sc.JobName] = true
		interval, timeout := sc.ScrapeInterval, sc.ScrapeTimeout
		if interval < 0 {
			errs = append(errs, c.errorAt(key+".scrape_interval", "must be positive"))
		}
		if timeout < 0 {
			errs = append(errs, c.errorAt(key+".scrape_timeout", "must be positive"))
		}
		if interval == 0 {
			interval = m.ScrapeInterval
		}
		if sc.ScrapeTimeout > 0 && interval > 0 && sc.ScrapeTimeout > interval {
			errs = append(errs, c.errorAt(key+".scrape_timeout", "%s is longer than the scrape interval %s", sc.ScrapeTimeout, interval))
		}
		if sc.MetricsPath != "" && !strings.HasPrefix(sc.MetricsPath, "/") {
			errs = append(errs, c.errorAt(key+".metrics_path", "must start with /"))
		}
		if sc.Scheme != "" && sc.Scheme != "http" && sc.Scheme != "https" {
			errs = append(errs, c.errorAt(key+".scheme", "must be http or https, not %q", sc.Scheme))
		}
		if sc.SampleLimit < 0 {
			errs = append(errs, c.errorAt(key+".sample_limit", "must not be negative"))
		}
		if len(sc.StaticConfigs) == 0 {
			errs = append(errs, c.errorAt(key, "static_configs must list at least one target"))
		}
		for j, st := range sc.StaticConfigs {
			skey := fmt.Sprintf("%s.static_configs[%d]", key, j)
			if len(st.Targets) == 0 {
				errs = append(errs, c.errorAt(skey, "targets must not be empty"))
			}
			for _, t := range st.Targets {
				if _, port, err := net.SplitHostPort(t); err != nil || port == "" || strings.Contains(t, "/") {
					errs = append(errs, c.errorAt(skey+".targets", "target %q must be host:port", t))
				}
			}
			for name := range st.Labels {
				if !model.UTF8Validation.IsValidLabelName(name) {
					errs = append(errs, c.errorAt(skey+".labels."+name, "invalid label name"))
				}
			}
		}
		errs = append(errs, c.validateHTTPClient(key, sc.HTTPClient)...)
		errs = append(errs, c.validateRelabel(key+".relabel_configs", sc.RelabelConfigs)...)
		errs = append(errs, c.validateRelabel(key+".metric_relabel_configs", sc.MetricRelabelConfigs)...)
	}
	return errs
}

func (c *Config) validateRemoteURL(key, raw string) []error {
	if raw == "" {
		return []error{c.errorAt(key, "url must not be empty")}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []error{c.errorAt(key+".url", "%q is not an http(s) URL", raw)}
	}
	return nil
}

func (c *Config) validateHTTPClient(key string, h HTTPClient) []error {
	var errs []error
	auths := 0
	if h.BasicAuth != nil {
		auths++
		if h.BasicAuth.Password != "" && h.BasicAuth.PasswordFile != "" {
			errs = append(errs, c.errorAt(key+".basic_auth", "set at most one of password and password_file"))
		}
	}
	if h.Authorization != nil {
		auths++
		if h.Authorization.Credentials != "" && h.Authorization.CredentialsFile != "" {
			errs = append(errs, c.errorAt(key+".authorization", "set at most one of credentials and credentials_file"))
		}
		if strings.EqualFold(h.Authorization.Type, "basic") {
			errs = append(errs, c.errorAt(key+".authorization.type", "use basic_auth for basic authentication"))
		}
	}
	if h.BearerToken != "" || h.BearerTokenFile != "" {
		auths++
		if h.BearerToken != "" && h.BearerTokenFile != "" {
			errs = append(errs, c.errorAt(key+".bearer_token", "set at most one of bearer_token and bearer_token_file"))
		}
	}
	if auths > 1 {
		errs = append(errs, c.errorAt(key, "set at most one of basic_auth, authorization and bearer_token"))
	}
	if h.TLSConfig != nil && (h.TLSConfig.CertFile == "") != (h.TLSConfig.KeyFile == "") {
		errs = append(errs, c.errorAt(key+".tls_config", "set both cert_file and key_file, or neither"))
	}
	if h.ProxyURL != "" {
		if u, err := url.Parse(h.ProxyURL); err != nil || u.Host == "" {
			errs = append(errs, c.errorAt(key+".proxy_url", "%q is not a URL", h.ProxyURL))
		}
	}
	return errs
}

func (c *Config) validateRelabel(key string, rules []RelabelConfig) []error {
	var errs []error
	for i, r := range rules {
		if _, err := r.Prometheus(); err != nil {
			errs = append(errs, c.errorAt(fmt.Sprintf("%s[%d]", key, i), "%v", err))
		}
	}
	return errs
}

// Prometheus returns the rule as Prometheus' relabel.Config, with its
// defaults and validation.
func (r RelabelConfig) Prometheus() (*relabel.Config, error) {
	rc := relabel.DefaultRelabelConfig
	rc.SourceLabels = nil
	for _, l := range r.SourceLabels {
		rc.SourceLabels = append(rc.SourceLabels, model.LabelName(l))
	}
	if r.Separator != nil {
		rc.Separator = *r.Separator
	}
	if r.Regex != nil {
		re, err := relabel.NewRegexp(*r.Regex)
		if err != nil {
			return nil, fmt.Errorf("invalid regex %q: %w", *r.Regex, err)
		}
		rc.Regex = re
	}
	rc.Modulus = r.Modulus
	rc.TargetLabel = r.TargetLabel
	if r.Replacement != nil {
		rc.Replacement = *r.Replacement
	}
	if r.Action != "" {
		act := relabel.Action(strings.ToLower(r.Action))
		switch act {
		case relabel.Replace, relabel.Keep, relabel.Drop, relabel.HashMod, relabel.LabelMap, relabel.LabelDrop,
			relabel.LabelKeep, relabel.Lowercase, relabel.Uppercase, relabel.KeepEqual, relabel.DropEqual:
			rc.Action = act
		default:
			return nil, fmt.Errorf("unknown relabel action %q", r.Action)
		}
	}
	if err := rc.Validate(model.UTF8Validation); err != nil {
		return nil, err
	}
	return &rc, nil
}

// validLabelName accepts what Prometheus 3 accepts: any non-empty UTF-8
// name, except the reserved double-underscore prefix.
func validLabelName(name string) bool {
	return model.UTF8Validation.IsValidLabelName(name) && !strings.HasPrefix(name, "__")
}
