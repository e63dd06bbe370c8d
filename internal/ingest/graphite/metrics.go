package graphite

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonde-dev/sonde/internal/selfmon"
)

const (
	// ProtocolTCP labels Graphite plaintext over TCP in sonde's own metrics.
	ProtocolTCP = "graphite_tcp"
	// ProtocolUDP labels Graphite plaintext over UDP in sonde's own metrics.
	ProtocolUDP = "graphite_udp"
)

// Metric samples are not events, so the metric protocols count them in
// their own families, registered on selfmon.Metrics.Registry. The statsd
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
)

// Reasons a line is rejected, as the reason label of
// sonde_ingest_samples_rejected_total.
const (
	rejectInvalid  = "invalid"
	rejectTooLarge = "too_large"
	rejectFuture   = "future"
)

// Reasons a sample is not written, as the reason label of
// sonde_ingest_samples_write_failed_total.
const (
	writeOutOfOrder = selfmon.ReasonOutOfOrder
	writeTooOld     = selfmon.ReasonTooOld
	writeDuplicate  = selfmon.ReasonDuplicate
	writeError      = "error"
)

// protoMetrics are one protocol's counters; all nil when Options.Metrics
// is.
type protoMetrics struct {
	bytes, accepted, written prometheus.Counter
	rejected                 map[string]prometheus.Counter
	writeFailed              map[string]prometheus.Counter
}

func newProtoMetrics(m *selfmon.Metrics, proto string) *protoMetrics {
	c := &protoMetrics{}
	if m == nil {
		return c
	}
	reg := m.Registry
	c.bytes = m.Bytes.WithLabelValues(proto)
	c.accepted = register(reg, prometheus.NewCounterVec(acceptedOpts, []string{"protocol"})).WithLabelValues(proto)
	c.written = register(reg, prometheus.NewCounterVec(writtenOpts, []string{"protocol"})).WithLabelValues(proto)
	rejected := register(reg, prometheus.NewCounterVec(rejectedOpts, []string{"protocol", "reason"}))
	c.rejected = map[string]prometheus.Counter{}
	for _, r := range []string{rejectInvalid, rejectTooLarge, rejectFuture} {
		c.rejected[r] = rejected.WithLabelValues(proto, r)
	}
	failed := register(reg, prometheus.NewCounterVec(writeFailedOpts, []string{"protocol", "reason"}))
	c.writeFailed = map[string]prometheus.Counter{}
	for _, r := range []string{writeOutOfOrder, writeTooOld, writeDuplicate, writeError} {
		c.writeFailed[r] = failed.WithLabelValues(proto, r)
	}
	return c
}

func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	return selfmon.Register(reg, c)
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}
