package graphite

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	writeOutOfOrder = "out_of_order"
	writeTooOld     = "too_old"
	writeDuplicate  = "duplicate"
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

// register registers c, or returns the collector already registered
// under its name (by the other metric protocol, or another server on the
// same registry).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("BUG: register graphite metrics: %v", err))
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// warnInterval is the least time between two warnings of a kind.
const warnInterval = time.Second

// warnLimiter rate-limits warnings: at most one per warnInterval for each
// kind, with the number suppressed since the last one.
type warnLimiter struct {
	mu    sync.Mutex
	state map[string]*warnState
}

type warnState struct {
	next       time.Time
	suppressed int
}

// warn logs msg unless a warning of kind was logged less than
// warnInterval ago.
func (w *warnLimiter) warn(log *slog.Logger, kind, msg string, args ...any) {
	now := time.Now()
	w.mu.Lock()
	if w.state == nil {
		w.state = map[string]*warnState{}
	}
	st := w.state[kind]
	if st == nil {
		st = &warnState{}
		w.state[kind] = st
	}
	if now.Before(st.next) {
		st.suppressed++
		w.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.next, st.suppressed = now.Add(warnInterval), 0
	w.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Warn(msg, args...)
}
