// Package trace answers distributed-tracing questions from the event store,
// where every span is an event of the group "spans" (see package span):
//
//   - Get: a whole trace as a tree with timings (offset, self time), its
//     critical path, errors, annotations and metadata, and the log events of
//     other groups that carry its id (under any of DefaultLogTraceFields, as
//     32 hex digits or in X-Ray's form). The logs are found with a Logs
//     Insights query compiled through the store's insights.Dialect, so typed
//     id columns are compared as binary.
//   - Search: the traces matching an X-Ray filter expression (package
//     filter) in a time range, newest first, with their root service, name,
//     duration and status.
//   - ServiceMap and Distribution: nodes (services and the uninstrumented
//     peers their client spans call), edges (calls across services) and
//     response-time histograms, for all traces or those of a trace group.
//   - Groups (named filter expressions) and Sampling (X-Ray sampling rules
//     mapped onto Jaeger remote sampling strategies).
//
// Handler serves all of it over HTTP. The package writes SQL only through
// insights.Dialect and never imports a store implementation.
//
// # How a filter becomes SQL
//
// A filter is compiled to a formula over atoms. An atom is the set of traces
// that have one span (or, for edge(), one parent-child pair) matching a
// predicate in the time range: "SELECT traceId, ts FROM spans WHERE ts in
// range AND predicate", which reads only the typed columns it names and
// lets the store push the time range and the predicate into its scan.
// Keywords about the request (responsetime, http.*) are predicates on the
// root span; fault, error, throttle, annotations, user, name and message
// match any span; service("x") { f } matches x's entry spans (server,
// consumer, roots) or client spans calling the peer x where f holds on
// them; edge("a", "b") { f } joins a's spans with their children in b, or
// matches a's client spans whose peer is b, f holding on the caller's span
// (client-observed); duration is the only trace-level aggregate (first start
// to last end). AND, OR and NOT combine atoms by trace-id membership.
//
// Only candidate traces are grouped: a formula without NOT in the way
// starts from the union of the atoms it cannot do without, one with NOT
// from the root spans of the range. Search walks the range newest first in
// windows that double (1/32 of the range, at least 5 minutes, first), so the
// newest matches are found by reading recent spans only; atoms read 5
// minutes around each window, so that a trace is judged on its spans just
// outside it. The summaries are then aggregated (GROUP BY trace id) only over
// the spans of the traces found, within 15 minutes of them.
//
// Semantics to know: spans outside the time range (beyond the slack above)
// do not count; a trace whose root span is missing is found only by
// filters without NOT; ok means no span of the trace has another status.
package trace
