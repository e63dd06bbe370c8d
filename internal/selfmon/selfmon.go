// Package selfmon holds sonde's own Prometheus metrics, served on /metrics:
// what each ingest protocol accepted and rejected, how long batches took to
// become durable, how full the write queue is and how big the store is.
// The metrics live in a registry owned by the application, not in globals.
package selfmon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are sonde's self-monitoring metrics.
type Metrics struct {
	Registry *prometheus.Registry

	// EventsAccepted counts events committed to the store, by protocol.
	EventsAccepted *prometheus.CounterVec
	// EventsRejected counts events refused, by protocol and reason
	// ("invalid", "too_large", "busy", "unavailable").
	EventsRejected *prometheus.CounterVec
	// Bytes counts request bytes received (before decompression), by protocol.
	Bytes *prometheus.CounterVec
	// FieldsTruncated counts fields beyond the per-event cap, kept only in
	// @message.
	FieldsTruncated *prometheus.CounterVec
	// BatchSeconds is the time from a batch's arrival to its commit.
	BatchSeconds *prometheus.HistogramVec
	// QueueEvents is the number of events waiting to be written.
	QueueEvents prometheus.Gauge
	// StoreBytes is the size of the event store on disk.
	StoreBytes prometheus.GaugeFunc
	// RetentionDeleted counts events deleted by retention.
	RetentionDeleted prometheus.Counter
	// DuplicateBatches counts retried batches that were already committed.
	DuplicateBatches prometheus.Counter
	// Retries counts batches a receiver resubmitted because the write queue
	// was full (receivers without a client to answer 429 to, like TCP
	// syslog, wait instead).
	Retries *prometheus.CounterVec
}

// New creates the metrics in a new registry. storeBytes is called at scrape
// time for the store size gauge.
func New(storeBytes func() float64) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		EventsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_ingest_events_accepted_total", Help: "Events committed to the store.",
		}, []string{"protocol"}),
		EventsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_ingest_events_rejected_total", Help: "Events refused, by reason.",
		}, []string{"protocol", "reason"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_ingest_bytes_total", Help: "Bytes received by ingest endpoints.",
		}, []string{"protocol"}),
		FieldsTruncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_ingest_fields_truncated_total", Help: "Fields beyond the per-event cap, kept only in @message.",
		}, []string{"protocol"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sonde_ingest_batch_duration_seconds",
			Help:    "Time from a batch's arrival until it is durable.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"protocol"}),
		QueueEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sonde_ingest_queue_events", Help: "Events waiting to be written.",
		}),
		StoreBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sonde_store_disk_bytes", Help: "Size of the event store on disk.",
		}, storeBytes),
		RetentionDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_retention_deleted_events_total", Help: "Events deleted by retention.",
		}),
		DuplicateBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_ingest_duplicate_batches_total", Help: "Retried batches that had been committed before.",
		}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_ingest_retries_total", Help: "Batches resubmitted because the write queue was full.",
		}, []string{"protocol"}),
	}
	r.MustRegister(m.EventsAccepted, m.EventsRejected, m.Bytes, m.FieldsTruncated, m.BatchSeconds,
		m.QueueEvents, m.StoreBytes, m.RetentionDeleted, m.DuplicateBatches, m.Retries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
