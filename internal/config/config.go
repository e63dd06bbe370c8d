// Package config is sonde's YAML configuration: the schema, its defaults
// (so that sonde runs with no file at all), strict loading that rejects
// unknown keys, and validation whose errors name the file line at fault.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	// DataDir holds everything sonde stores.
	DataDir   string    `yaml:"data_dir"`
	Listen    Listen    `yaml:"listen"`
	Storage   Storage   `yaml:"storage"`
	Retention Retention `yaml:"retention"`
	Ingest    Ingest    `yaml:"ingest"`
	Query     Query     `yaml:"query"`
	Auth      Auth      `yaml:"auth"`
	// TraceGroups are named trace filter expressions (see trace.go).
	TraceGroups []TraceGroup `yaml:"trace_groups"`
	// TraceSampling holds the X-Ray style sampling rules (see trace.go).
	TraceSampling TraceSampling `yaml:"trace_sampling"`
	// Metrics configures the embedded Prometheus TSDB (see metrics.go).
	Metrics Metrics `yaml:"metrics"`
	// ScrapeConfigs are Prometheus scrape jobs, as in prometheus.yml.
	ScrapeConfigs []ScrapeConfig `yaml:"scrape_configs"`
	// Canaries are synthetic checks run on a schedule (see canary.go).
	Canaries []Canary `yaml:"canaries"`
	// MetricFilters turn matching log events into metrics (see derive.go).
	MetricFilters []MetricFilter `yaml:"metric_filters"`
	// REDMetrics derives request rate, errors and duration per route from
	// access logs and server spans (see derive.go).
	REDMetrics REDMetrics `yaml:"red_metrics"`
	// EMF extracts CloudWatch embedded metric format metrics from log
	// events (see derive.go).
	EMF EMF `yaml:"emf"`

	// lines maps dotted key paths to their line in the file, for errors.
	lines map[string]int
	file  string
}

// Listen holds the listener addresses. An empty address turns a listener off.
type Listen struct {
	HTTP     string `yaml:"http"`
	OTLPHTTP string `yaml:"otlp_http"`
	OTLPGRPC string `yaml:"otlp_grpc"`
	Syslog   string `yaml:"syslog"`
	// XRay is the X-Ray daemon UDP address that X-Ray SDKs send segments to.
	XRay string `yaml:"xray"`
	// Statsd is the statsd/DogStatsD UDP address.
	Statsd string `yaml:"statsd"`
	// Graphite is the Graphite plaintext address, TCP and UDP.
	Graphite string `yaml:"graphite"`
}

// Storage chooses and tunes the event store.
type Storage struct {
	// URL picks the event store: empty for the embedded store under
	// data_dir, or clickhouse://HOST:9000/DB[?cluster=NAME] to keep events
	// in ClickHouse.
	URL string `yaml:"url"`
	// MemoryLimit caps the embedded store's memory ("512MB"; empty: 25% of
	// RAM, at most 2GB).
	MemoryLimit string `yaml:"memory_limit"`
	// Threads is the embedded store's worker count (0: one per CPU).
	Threads int `yaml:"threads"`
}

// Retention says how long events are kept.
type Retention struct {
	// Default applies to groups without their own setting.
	Default Duration `yaml:"default"`
	// Groups sets the retention of named log groups.
	Groups map[string]Duration `yaml:"groups"`
	// Interval is how often old events are deleted.
	Interval Duration `yaml:"interval"`
}

// Ingest limits what clients may send.
type Ingest struct {
	MaxBodyBytes  Size `yaml:"max_body_bytes"`
	MaxEventBytes Size `yaml:"max_event_bytes"`
	// MaxFields caps discovered fields per event.
	MaxFields int `yaml:"max_fields"`
	// QueueEvents bounds the events waiting to be written; beyond it
	// clients get 429 with Retry-After.
	QueueEvents int `yaml:"queue_events"`
	// InflightBytes bounds the request bodies of POST /api/v1/logs being
	// decoded and committed at once. A body that would go over it waits
	// (holding only its bytes) until earlier ones are committed, so a few
	// clients sending large batches cannot hold many parsed copies at once.
	InflightBytes Size `yaml:"inflight_bytes"`
	// SyslogGroup is the log group of syslog messages.
	SyslogGroup string `yaml:"syslog_group"`
}

// Query limits queries.
type Query struct {
	Timeout Duration `yaml:"timeout"`
}

// Auth configures access tokens. Without tokens, sonde only accepts
// listeners on loopback addresses.
type Auth struct {
	Tokens []Token `yaml:"tokens"`
}

// Token grants scopes to a bearer token.
type Token struct {
	// Name identifies the token in logs (the token itself is never logged).
	Name string `yaml:"name"`
	// Token is the secret; TokenEnv names an environment variable holding it.
	Token    string   `yaml:"token"`
	TokenEnv string   `yaml:"token_env"`
	Scopes   []string `yaml:"scopes"`
}

// Scopes a token can grant.
const (
	ScopeIngest = "ingest"
	ScopeRead   = "read"
	ScopeAdmin  = "admin"
)

// Default returns the configuration sonde runs with when there is no file.
func Default() *Config {
	return &Config{
		DataDir: "./sonde-data",
		Listen: Listen{
			HTTP:     "127.0.0.1:4380",
			OTLPHTTP: "127.0.0.1:4318",
			OTLPGRPC: "127.0.0.1:4317",
			Syslog:   "127.0.0.1:5514",
			XRay:     "127.0.0.1:2000",
			Statsd:   "127.0.0.1:8125",
			Graphite: "127.0.0.1:2003",
		},
		Retention: Retention{Default: Duration(30 * 24 * time.Hour), Interval: Duration(time.Hour)},
		Ingest: Ingest{
			MaxBodyBytes:  16 << 20,
			MaxEventBytes: 1 << 20,
			MaxFields:     200,
			QueueEvents:   500_000,
			InflightBytes: 8 << 20,
			SyslogGroup:   "syslog",
		},
		Query:      Query{Timeout: Duration(60 * time.Second)},
		Metrics:    defaultMetrics(),
		REDMetrics: defaultREDMetrics(),
		EMF:        defaultEMF(),
	}
}

// Load parses a configuration file's contents over the defaults. Unknown
// keys are errors. name is used in error messages.
func Load(name string, data []byte) (*Config, error) {
	cfg := Default()
	cfg.file = name
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, cleanYAMLError(err))
	}
	cfg.lines = map[string]int{}
	indexLines(&root, "", cfg.lines)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, cleanYAMLError(err))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadFile reads and parses a configuration file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Load(path, data)
}

// cleanYAMLError turns "yaml: line 3: field x not found in type config.Listen"
// into "line 3: unknown key \"x\"".
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	if i := strings.Index(msg, "field "); i >= 0 && strings.Contains(msg, " not found in type ") {
		key := msg[i+len("field "):]
		key = key[:strings.Index(key, " not found")]
		msg = msg[:i] + fmt.Sprintf("unknown key %q", key)
	}
	return errors.New(msg)
}

// indexLines records the line of every mapping key by its dotted path.
func indexLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			indexLines(v, p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
}

// errorAt formats a validation error with the file and line of key.
func (c *Config) errorAt(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line, ok := c.lines[key]; ok && c.file != "" {
		return fmt.Errorf("%s:%d: %s: %s", c.file, line, key, msg)
	}
	if c.file != "" {
		return fmt.Errorf("%s: %s: %s", c.file, key, msg)
	}
	return fmt.Errorf("%s: %s", key, msg)
}

// Validate checks values that YAML types cannot: addresses, limits, scopes.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, c.errorAt("data_dir", "must not be empty"))
	}
	for key, addr := range map[string]string{
		"listen.http": c.Listen.HTTP, "listen.otlp_http": c.Listen.OTLPHTTP,
		"listen.otlp_grpc": c.Listen.OTLPGRPC, "listen.syslog": c.Listen.Syslog,
		"listen.xray": c.Listen.XRay, "listen.statsd": c.Listen.Statsd, "listen.graphite": c.Listen.Graphite,
	} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, c.errorAt(key, "invalid address %q: %v", addr, strings.TrimPrefix(err.Error(), "address "+addr+": ")))
		} else if port == "" {
			errs = append(errs, c.errorAt(key, "invalid address %q: missing port", addr))
		}
	}
	if c.Storage.URL != "" && !strings.HasPrefix(c.Storage.URL, "clickhouse://") {
		errs = append(errs, c.errorAt("storage.url", "unsupported store %q (want empty for the embedded store, or clickhouse://HOST:9000/DB)", c.Storage.URL))
	}
	if c.Retention.Default < Duration(24*time.Hour) {
		errs = append(errs, c.errorAt("retention.default", "must be at least 1d"))
	}
	for g, d := range c.Retention.Groups {
		if d < Duration(24*time.Hour) {
			errs = append(errs, c.errorAt("retention.groups."+g, "must be at least 1d"))
		}
	}
	if c.Retention.Interval <= 0 {
		errs = append(errs, c.errorAt("retention.interval", "must be positive"))
	}
	if c.Ingest.MaxBodyBytes < 1024 {
		errs = append(errs, c.errorAt("ingest.max_body_bytes", "must be at least 1KiB"))
	}
	if c.Ingest.MaxEventBytes < 256 || c.Ingest.MaxEventBytes > c.Ingest.MaxBodyBytes {
		errs = append(errs, c.errorAt("ingest.max_event_bytes", "must be between 256B and max_body_bytes"))
	}
	if c.Ingest.MaxFields < 1 || c.Ingest.MaxFields > 10000 {
		errs = append(errs, c.errorAt("ingest.max_fields", "must be between 1 and 10000"))
	}
	if c.Ingest.InflightBytes < 64<<10 {
		errs = append(errs, c.errorAt("ingest.inflight_bytes", "must be at least 64KiB"))
	}
	if c.Ingest.QueueEvents < 1000 {
		errs = append(errs, c.errorAt("ingest.queue_events", "must be at least 1000"))
	}
	if c.Ingest.SyslogGroup == "" {
		errs = append(errs, c.errorAt("ingest.syslog_group", "must not be empty"))
	}
	if c.Query.Timeout <= 0 {
		errs = append(errs, c.errorAt("query.timeout", "must be positive"))
	}
	errs = append(errs, c.validateTraces()...)
	errs = append(errs, c.validateMetrics()...)
	errs = append(errs, c.validateCanaries()...)
	errs = append(errs, c.validateDerive()...)
	for i, t := range c.Auth.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		if (t.Token == "") == (t.TokenEnv == "") {
			errs = append(errs, c.errorAt(key, "set exactly one of token and token_env"))
		}
		if len(t.Scopes) == 0 {
			errs = append(errs, c.errorAt(key, "scopes must not be empty"))
		}
		for _, s := range t.Scopes {
			if s != ScopeIngest && s != ScopeRead && s != ScopeAdmin {
				errs = append(errs, c.errorAt(key, "unknown scope %q (want ingest, read or admin)", s))
			}
		}
	}
	if len(errs) == 0 && len(c.Auth.Tokens) == 0 {
		for key, addr := range map[string]string{
			"listen.http": c.Listen.HTTP, "listen.otlp_http": c.Listen.OTLPHTTP, "listen.otlp_grpc": c.Listen.OTLPGRPC,
		} {
			if addr != "" && !IsLoopback(addr) {
				errs = append(errs, c.errorAt(key, "%q is not a loopback address: configure auth.tokens to listen on other interfaces", addr))
			}
		}
	}
	sortErrors(errs)
	return errors.Join(errs...)
}

// IsLoopback reports whether a listen address only accepts local clients.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sortErrors(errs []error) {
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Error() < errs[j-1].Error(); j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

// ResolveTokens returns the configured tokens' secrets with their scopes,
// reading token_env variables.
func (a Auth) ResolveTokens() (map[string]Token, error) {
	out := map[string]Token{}
	for i, t := range a.Tokens {
		secret := t.Token
		if t.TokenEnv != "" {
			secret = os.Getenv(t.TokenEnv)
			if secret == "" {
				return nil, fmt.Errorf("auth.tokens[%d]: environment variable %s is empty", i, t.TokenEnv)
			}
		}
		if t.Name == "" {
			t.Name = fmt.Sprintf("token-%d", i)
		}
		out[secret] = t
	}
	return out, nil
}
