// Package metrics is sonde's metric store: Prometheus' TSDB embedded under
// the data directory, Prometheus' PromQL engine over it, Prometheus' scrape
// manager for scrape_configs, a remote_write receiver, remote_write
// forwarding and remote_read federation through Prometheus' storage/remote,
// and the Prometheus HTTP query API (/api/v1/query and friends) answered
// with Prometheus' JSON shapes so that Grafana and other Prometheus clients
// work against sonde unchanged.
//
// Other metric sources (statsd, Graphite, OTLP, EMF, metric filters) write
// through Store, which implements Prometheus' storage.Appendable and
// storage.AppendableV2:
//
//	app := store.Appender(ctx)
//	ref, err := app.Append(0, labels.FromStrings("__name__", "requests_total", "route", "/"), tsMillis, 42)
//	...
//	_, _ = app.UpdateMetadata(ref, lset, metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests served."})
//	err = app.Commit() // samples are durable and queryable once Commit returns nil
//
// The contract (it is Prometheus' own, restated):
//
//   - Store and its methods are safe for concurrent use. An Appender is not:
//     use one per goroutine and batch, and finish it with Commit or Rollback.
//   - Labels must include __name__ and have unique names; the appender does
//     not sort them for you (labels.FromStrings and labels.ScratchBuilder.Sort
//     do). Timestamps are Unix milliseconds.
//   - A sample older than its series' newest is rejected with
//     storage.ErrOutOfOrderSample, unless metrics.out_of_order_window allows
//     it; a different value at an existing timestamp is
//     storage.ErrDuplicateSampleForTimestamp; samples older than the head's
//     time window are storage.ErrOutOfBounds. These errors reject only that
//     sample: the appender stays usable.
//   - Nothing is visible to queries before Commit. When Commit returns nil
//     the samples are in the write-ahead log, written to the operating
//     system (they survive a crash of sonde, like Prometheus; the log is
//     fsynced when a segment completes), visible to every query that starts
//     afterwards, and queued for each remote_write destination.
//   - Metadata (type, help, unit) is kept per metric family for
//     /api/v1/metadata. Give it with Appender.UpdateMetadata after the
//     series' first Append (the family is the series name without the
//     _bucket/_count/_sum suffixes of histograms and summaries), with
//     AppendV2Options.Metadata and MetricFamilyName, or directly with
//     Store.SetMetadata. Setting it again is cheap.
//
// Scale-out is Prometheus' own: metrics.remote_write forwards every sample
// committed to the TSDB (tailing its write-ahead log, with Prometheus'
// sharded queue and retries; samples older than the queue's start, such as
// those written before a restart, are not sent, as in Prometheus), and
// metrics.remote_read merges the answers of remote stores that speak the
// remote read protocol (Prometheus, Thanos, Mimir, Cortex) into every
// PromQL query and the series endpoint (the label endpoints answer from the
// local TSDB: the protocol has no label call).
// Remote read is what Prometheus users configure for this; stores without
// it (VictoriaMetrics) are queried directly instead.
package metrics
