package config

import (
	"fmt"

	"github.com/sonde-dev/sonde/internal/trace/filter"
)

// TraceGroup is a named trace filter expression (X-Ray's groups): it gets
// its own figures and service map in the trace API.
type TraceGroup struct {
	// Name has 1 to 32 letters, digits, '-', '_' or '.'.
	Name string `yaml:"name"`
	// Filter is an X-Ray filter expression, e.g. service("api") { fault }.
	Filter string `yaml:"filter"`
}

// TraceSampling holds X-Ray style sampling rules, served to OpenTelemetry
// SDKs through the Jaeger remote sampling API (/api/sampling).
type TraceSampling struct {
	// Default is the rule for requests no other rule matches (X-Ray's
	// default: reservoir 1, rate 0.05).
	Default *SamplingDefault `yaml:"default"`
	// Rules apply by ascending priority; the first match decides.
	Rules []SamplingRule `yaml:"rules"`
}

// SamplingDefault is the default sampling rule's reservoir and rate.
type SamplingDefault struct {
	ReservoirSize int     `yaml:"reservoir_size"`
	FixedRate     float64 `yaml:"fixed_rate"`
}

// SamplingRule is an X-Ray sampling rule. Match fields take * and ?
// wildcards; empty means *.
type SamplingRule struct {
	RuleName string `yaml:"rule_name"`
	// Priority is 1 to 9999; lower applies first.
	Priority int `yaml:"priority"`
	// ReservoirSize is the requests a second sampled before FixedRate
	// applies.
	ReservoirSize int `yaml:"reservoir_size"`
	// FixedRate is the fraction (0 to 1) of the other requests sampled.
	FixedRate   float64           `yaml:"fixed_rate"`
	ServiceName string            `yaml:"service_name"`
	ServiceType string            `yaml:"service_type"`
	Host        string            `yaml:"host"`
	HTTPMethod  string            `yaml:"http_method"`
	URLPath     string            `yaml:"url_path"`
	Attributes  map[string]string `yaml:"attributes"`
}

// validateTraces checks trace groups and sampling rules.
func (c *Config) validateTraces() []error {
	var errs []error
	names := map[string]bool{}
	for i, g := range c.TraceGroups {
		key := fmt.Sprintf("trace_groups[%d]", i)
		if g.Name == "" || len(g.Name) > 32 {
			errs = append(errs, c.errorAt(key, "name must have 1 to 32 characters"))
		}
		for _, r := range g.Name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				errs = append(errs, c.errorAt(key, "name %q may hold only letters, digits, '-', '_' and '.'", g.Name))
				break
			}
		}
		if names[g.Name] {
			errs = append(errs, c.errorAt(key, "duplicate trace group %q", g.Name))
		}
		names[g.Name] = true
		if _, err := filter.Parse(g.Filter); err != nil {
			errs = append(errs, c.errorAt(key+".filter", "%v", err))
		}
	}
	if d := c.TraceSampling.Default; d != nil {
		if d.ReservoirSize < 0 {
			errs = append(errs, c.errorAt("trace_sampling.default.reservoir_size", "must not be negative"))
		}
		if d.FixedRate < 0 || d.FixedRate > 1 {
			errs = append(errs, c.errorAt("trace_sampling.default.fixed_rate", "must be between 0 and 1"))
		}
	}
	rules := map[string]bool{}
	for i, r := range c.TraceSampling.Rules {
		key := fmt.Sprintf("trace_sampling.rules[%d]", i)
		if r.RuleName == "" {
			errs = append(errs, c.errorAt(key, "rule_name must not be empty"))
		} else if rules[r.RuleName] {
			errs = append(errs, c.errorAt(key, "duplicate rule_name %q", r.RuleName))
		}
		rules[r.RuleName] = true
		if r.Priority < 1 || r.Priority > 9999 {
			errs = append(errs, c.errorAt(key, "priority must be between 1 and 9999"))
		}
		if r.ReservoirSize < 0 {
			errs = append(errs, c.errorAt(key, "reservoir_size must not be negative"))
		}
		if r.FixedRate < 0 || r.FixedRate > 1 {
			errs = append(errs, c.errorAt(key, "fixed_rate must be between 0 and 1"))
		}
	}
	return errs
}
