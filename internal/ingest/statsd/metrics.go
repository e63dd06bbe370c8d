package statsd

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonde-dev/sonde/internal/selfmon"
)

// Protocol labels statsd in sonde's own metrics.
const Protocol = "statsd"

// Metric samples are not events, so the metric protocols count them in
// their own families, registered on selfmon.Metrics.Registry. The graphite
// package declares the same families; whichever registers first wins and
// the other reuses them.
var (
	acceptedOpts = prometheus.CounterOpts{
		Name: "sonde_ingest_samples_accepted_total",
		Help: "Metric samples received and accepted (statsd: values aggregated; Graphite: lines parsed).",
	}
	rejectedOpts = prometheus.CounterOpts{
		Name: "sonde_ingest_samples_rejected_total",
		Help: "Metric samples or lines refused, by reason.",
	}
	writtenOpts = prometheus.CounterOpts{
		Name: "sonde_ingest_samples_written_total",
		Help: "Samples appended to the metrics store by metric ingest.",
	}
	writeFailedOpts = prometheus.CounterOpts{
		Name: "sonde_ingest_samples_write_failed_total",
		Help: "Samples the metrics store refused, by reason (out_of_order, too_old, duplicate, error).",
	}
	tagsDroppedOpts = prometheus.CounterOpts{
		Name: "sonde_ingest_tags_dropped_total",
		Help: "Tags that could not become labels (no value, empty key or value).",
	}
)

// Reasons a sample is not written, as the reason label of
// sonde_ingest_samples_write_failed_total.
const (
	writeOutOfOrder = selfmon.ReasonOutOfOrder
	writeTooOld     = selfmon.ReasonTooOld
	writeDuplicate  = selfmon.ReasonDuplicate
	writeError      = "error"
)

// metrics are the server's own counters; all nil when Options.Metrics is.
type metrics struct {
	bytes       prometheus.Counter
	accepted    prometheus.Counter
	rejected    [numReasons]prometheus.Counter
	tagsDropped prometheus.Counter
	written     prometheus.Counter
	writeFailed map[string]prometheus.Counter
	unheld      prometheus.Counter
	series      prometheus.Gauge
	flushTime   prometheus.Observer
}

func newMetrics(m *selfmon.Metrics) metrics {
	var c metrics
	if m == nil {
		return c
	}
	reg := m.Registry
	c.bytes = m.Bytes.WithLabelValues(Protocol)
	c.accepted = registerCounterVec(reg, acceptedOpts, "protocol").WithLabelValues(Protocol)
	rejected := registerCounterVec(reg, rejectedOpts, "protocol", "reason")
	for r := rejectInvalid; r < numReasons; r++ {
		c.rejected[r] = rejected.WithLabelValues(Protocol, reasonNames[r])
	}
	c.tagsDropped = registerCounterVec(reg, tagsDroppedOpts, "protocol").WithLabelValues(Protocol)
	c.written = registerCounterVec(reg, writtenOpts, "protocol").WithLabelValues(Protocol)
	failed := registerCounterVec(reg, writeFailedOpts, "protocol", "reason")
	c.writeFailed = map[string]prometheus.Counter{}
	for _, r := range []string{writeOutOfOrder, writeTooOld, writeDuplicate, writeError} {
		c.writeFailed[r] = failed.WithLabelValues(Protocol, r)
	}
	c.unheld = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sonde_statsd_values_sampled_total",
		Help: "Timer values and set members beyond the statsd memory budget (max_values): timers keep a uniform sample for percentiles, sets undercount.",
	}))
	c.series = register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sonde_statsd_series",
		Help: "Distinct statsd series (name, type and tags as sent) held between flushes.",
	}))
	c.flushTime = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sonde_statsd_flush_duration_seconds",
		Help:    "Time to compute and store one statsd flush.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}))
	return c
}

// registerCounterVec registers a counter family, or returns the one
// already registered under the same name (by the other metric protocol,
// or another server on the same registry).
func registerCounterVec(reg *prometheus.Registry, opts prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(opts, labels))
}

func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	return selfmon.Register(reg, c)
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}
