package config

import (
	"fmt"
	"strings"

	"github.com/sonde-dev/sonde/internal/derive"
	"github.com/sonde-dev/sonde/internal/query/insights"
)

// MetricFilter turns the matching log events of a group into a metric, as
// a CloudWatch Logs metric filter does (see derive.FilterRule).
type MetricFilter struct {
	// Metric is the metric's name; counters should end in _total.
	Metric string `yaml:"metric"`
	// LogGroup is the log group, by name or "prefix*".
	LogGroup string `yaml:"log_group"`
	// Filter is a Logs Insights filter expression, e.g.
	// status >= 500 and route like "/checkout".
	Filter string `yaml:"filter"`
	// Type is counter (default), gauge or histogram.
	Type string `yaml:"type"`
	// Value is what a matching event counts: 1 (default), a number, or a
	// numeric field ("latency_ms" or CloudWatch's "$.latency_ms").
	Value string `yaml:"value"`
	// DefaultValue is added (counter) or set (gauge) at a flush when the
	// group got events and none matched. Not with dimensions.
	DefaultValue *float64 `yaml:"default_value"`
	// Dimensions map label names to the fields that give their values.
	Dimensions map[string]string `yaml:"dimensions"`
	// Buckets are a histogram's bounds (default 5ms to 10s in seconds:
	// give bounds in the value's unit).
	Buckets []float64 `yaml:"buckets"`
	Unit    string    `yaml:"unit"`
	Help    string    `yaml:"help"`
	// MaxSeries caps the label sets (default 1000).
	MaxSeries int `yaml:"max_series"`
}

// REDMetrics configures the RED metrics (http_server_requests_total and
// http_server_request_duration_seconds) derived from access logs and
// server spans.
type REDMetrics struct {
	Enabled bool `yaml:"enabled"`
	// Groups are the log groups watched, by name or "prefix*"; empty
	// watches all ("spans" holds the server spans).
	Groups []string `yaml:"groups"`
	// Fields replace, part by part, the field names of access logs
	// (derive.DefaultREDFields). Latency names may end in :ms, :s, :us or
	// :ns.
	Fields derive.REDFields `yaml:"fields"`
	// MaxSeries caps the label sets (default 10000).
	MaxSeries int `yaml:"max_series"`
}

// EMF configures the extraction of CloudWatch embedded metric format
// metrics from log events.
type EMF struct {
	Enabled bool `yaml:"enabled"`
	// MaxSeriesPerNamespace caps the series of one namespace (default 1000).
	MaxSeriesPerNamespace int `yaml:"max_series_per_namespace"`
}

func defaultREDMetrics() REDMetrics {
	return REDMetrics{Enabled: true, MaxSeries: derive.DefaultREDMaxSeries}
}

func defaultEMF() EMF {
	return EMF{Enabled: true, MaxSeriesPerNamespace: derive.DefaultEMFMaxSeriesPerNamespace}
}

// FilterRule returns the derive rule of a metric filter.
func (m MetricFilter) FilterRule() derive.FilterRule {
	return derive.FilterRule{
		Metric: m.Metric, Group: m.LogGroup, Filter: m.Filter, Type: m.Type, Value: m.Value,
		DefaultValue: m.DefaultValue, Dimensions: m.Dimensions, Buckets: m.Buckets, Unit: m.Unit, Help: m.Help,
		MaxSeries: m.MaxSeries,
	}
}

// REDOptions returns the derive options of the RED metrics.
func (r REDMetrics) REDOptions() derive.REDOptions {
	return derive.REDOptions{Enabled: r.Enabled, Groups: r.Groups, Fields: r.Fields, MaxSeries: r.MaxSeries}
}

// validateDerive checks metric_filters, red_metrics and emf.
func (c *Config) validateDerive() []error {
	var errs []error
	metrics := map[string]int{}
	for i, m := range c.MetricFilters {
		key := fmt.Sprintf("metric_filters[%d]", i)
		if m.LogGroup == "" {
			errs = append(errs, c.errorAt(key, "log_group must not be empty"))
		}
		if m.Filter == "" {
			errs = append(errs, c.errorAt(key, "filter must not be empty"))
			continue
		}
		expr, err := insights.ParseFilter(m.Filter)
		if err == nil {
			_, err = insights.CompilePredicate(expr)
		}
		if err != nil {
			errs = append(errs, c.errorAt(key+".filter", "%v", err))
			continue
		}
		if prev, dup := metrics[m.Metric]; dup {
			errs = append(errs, c.errorAt(key+".metric", "metric %q is made by metric_filters[%d] too", m.Metric, prev))
			continue
		}
		metrics[m.Metric] = i
		if m.LogGroup == "" {
			continue
		}
		if err := derive.CompileFilterRule(m.FilterRule()); err != nil {
			errs = append(errs, c.errorAt(key, "%s", strings.TrimPrefix(err.Error(), "filter: ")))
		}
	}
	if c.REDMetrics.MaxSeries < 0 {
		errs = append(errs, c.errorAt("red_metrics.max_series", "must not be negative"))
	}
	if err := derive.CheckRED(c.REDMetrics.REDOptions()); err != nil {
		errs = append(errs, c.errorAt("red_metrics.fields", "%s", strings.TrimPrefix(err.Error(), "red metrics: ")))
	}
	if c.EMF.MaxSeriesPerNamespace < 0 {
		errs = append(errs, c.errorAt("emf.max_series_per_namespace", "must not be negative"))
	}
	return errs
}
