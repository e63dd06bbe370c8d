// Package insights implements the CloudWatch Logs Insights query language:
//
//	fields @timestamp, route, latency_ms
//	| filter status >= 500 or latency_ms > 1000
//	| stats count(*) as n, pct(latency_ms, 99) as p99 by route, bin(30s)
//	| sort p99 desc
//	| limit 20
//
// The pipeline is lexer → parser → AST (with a printer that round-trips) →
// semantic checks → compilation to one SQL statement for a Dialect. The
// package imports no store implementation: it reads group schemas
// (store.Schema) to turn field names into column expressions, and the caller
// runs the SQL. Semantics follow Logs Insights: commands apply left to
// right, matching is case-sensitive, fields an event lacks are absent (NULL,
// never zero), non-aggregating queries return the newest events first, and
// the default limit is 10,000 rows (at most 100,000).
package insights
