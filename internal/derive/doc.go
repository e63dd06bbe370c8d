// Package derive turns committed events into metrics: the embedded metric
// format (EMF) of CloudWatch, metric filters, and RED metrics (rate, errors,
// duration) of HTTP endpoints from access logs and server spans, so that a
// service gets p99 per route without any instrumentation.
//
// A Deriver is a pipeline.Observer: the pipeline's writer hands it every
// batch after the store committed it and before the senders are
// acknowledged, so no uncommitted event is counted and every committed one
// is counted once. Observe only aggregates in memory (counters, classic
// histogram buckets and native histograms per label set); the aggregates
// are appended to the metric store (a Prometheus storage.AppendableV2)
// every FlushInterval (10s) and on Close. Counters and histograms are
// cumulative from the start of the process, as a Prometheus client library
// keeps them, and their samples carry the time of the flush, not of the
// events: old events replayed into sonde count as arriving now. A restart
// starts them from zero again, which rate() and increase() read as a
// counter reset.
//
// # RED metrics
//
//	http_server_requests_total{service,route,method,status}            counter
//	http_server_request_duration_seconds_bucket{service,route,method,status,le}
//	http_server_request_duration_seconds_sum / _count                  histogram
//
// with buckets 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s and
// 10s (Prometheus' default buckets), so that
//
//	histogram_quantile(0.99, sum by (le, route) (rate(http_server_request_duration_seconds_bucket[5m])))
//
// is the p99 per route. An event yields them when it is
//
//   - a server span (group "spans", kind "server") with an http.method or
//     http.route: service, http.route, http.method, http.status_code and
//     durationMs; or
//   - an access log line: an event of a watched group with a status, a
//     latency and a method or route (or path), found under the field names
//     of REDFields (genlogs' method, route, status, latency_ms and service,
//     and the common variants: http.method, path, status_code, duration_ms,
//     response_time...). Latencies are converted to seconds by the unit of
//     their name (_ms, _us, _ns, _s...; milliseconds when it names none,
//     seconds for nginx's request_time). The service is the first service
//     field found, else the log group. A route taken from a path field
//     loses its query string, and its segments that look like ids (numbers,
//     UUIDs, long hex) become "{id}", so that paths do not explode into
//     series.
//
// Events carrying EMF metrics that were extracted are not counted again as
// access logs.
//
// # EMF
//
// An event with _aws.CloudWatchMetrics is validated as CloudWatch does (see
// validateEMF for the rules); a valid one yields, for every metric of every
// directive and every dimension set, one native histogram series
//
//	<Name>{namespace="<Namespace>", <dimension>="<value>"...}
//
// that every value of the metric (a number or an array of up to 100) is
// observed into: histogram_quantile, histogram_avg, histogram_count and
// histogram_sum over rate() give CloudWatch's statistics. Names are
// sanitized to Prometheus' legacy character set; a dimension called
// "namespace" becomes exported_namespace. Invalid events keep their log
// line but yield no metrics: they are counted in
// sonde_emf_rejected_total{reason} and logged (at most one warning per
// reason and second).
// Each namespace holds at most EMFOptions.MaxSeriesPerNamespace series.
//
// # Metric filters
//
// A FilterRule turns the events of a log group that match a Logs Insights
// filter expression into a counter (the sum of the rule's value: 1, or a
// numeric field), a gauge (the last value) or a classic histogram, with
// labels from fields (dimensions), like CloudWatch metric filters.
//
// # Bounds
//
// Every derivation caps its series; a new label set beyond the cap is
// dropped and counted in sonde_derive_series_dropped_total{derivation}. A
// series not updated for IdleTimeout (15m) is forgotten, with a staleness
// marker.
package derive
