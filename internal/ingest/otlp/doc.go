// Package otlp receives OpenTelemetry Protocol (OTLP) data: logs, traces
// and metrics, over OTLP/HTTP (POST /v1/logs, /v1/traces, /v1/metrics,
// protobuf or JSON) and OTLP/gRPC (the LogsService, TraceService and
// MetricsService Export methods). Payloads are decoded with
// go.opentelemetry.io/collector/pdata. Logs and spans are mapped to events
// and written through the pipeline; metrics go to the metric store (see
// metrics.go). A request is answered only once what it carried is durable.
// The three signals share the HTTP handler (signalHTTP), the gRPC codec,
// value flattening and the nesting guard.
//
// See https://opentelemetry.io/docs/specs/otlp/ for the protocol.
//
// # Log record to event
//
//	event                     from
//	------------------------  ---------------------------------------------------------------
//	@log (Group)              the explicit group (HTTP: ?group= or X-Sonde-Log-Group;
//	                          gRPC: metadata x-sonde-log-group), else resource attribute
//	                          service.name, else "unknown_service" (OTel's convention)
//	@logStream (Stream)       resource service.instance.id, else host.name, else ""
//	@timestamp (Time, ms)     time_unix_nano, else observed_time_unix_nano, else now
//	@message (Message)        the body's text when it is a string; the JSON of a map or
//	                          array body; the text of other scalars; "" without a body
//	severityText              severity_text (omitted when empty)
//	severityNumber            severity_number, int (omitted when 0, UNSPECIFIED)
//	traceId                   trace_id as 32 lowercase hex digits: kind id128
//	spanId                    span_id as 16 lowercase hex digits: kind id64
//	flags                     flags, int (omitted when 0)
//	eventName                 event_name, for records that are events (omitted when empty)
//	body.<path>               the leaves of a map or array body
//	attributes.<path>         the record's attributes
//	resource.attributes.<p>   the resource's attributes
//	scope.name, scope.version the instrumentation scope (omitted when empty)
//	scope.attributes.<path>   the scope's attributes
//
// Nested maps and arrays are flattened as in CloudWatch Logs: "a.b" for a map
// key, "a.0" for an array element. Strings are typed by their content with
// event.TypedString (so a hex trace id found in an attribute is stored as
// binary, exactly as the native log endpoint would store it), ints become
// int, doubles float, bools bool, bytes their base64 text; empty values and
// empty maps and arrays give no field. Event.Shape stays nil: the raw
// message is kept as it came. Invalid UTF-8 is replaced by U+FFFD.
//
// An event keeps at most MaxFields fields, in the order of the table above;
// the rest are dropped and counted in sonde_ingest_fields_truncated_total.
// When a map has the same key twice the first value wins.
//
// # Rejections
//
// A payload that does not decode is refused as a whole: HTTP 400 with a
// google.rpc.Status body, gRPC Internal (what grpc-go reports for messages
// its codec cannot decode). Every decodable record is judged on its own; a
// record is rejected, and the rest of the batch kept, when
//
//   - its group or stream name is not a valid name (ingest.CheckName),
//   - a value in it is nested deeper than 64 levels, or
//   - its size, the length of @message plus the names and values of its
//     attributes, is over MaxEventBytes.
//
// Rejections are counted in sonde_ingest_events_rejected_total (reasons
// "invalid" and "too_large") and reported to the client in the response's
// partial_success, as the OTLP specification asks; such a response is still
// a success (HTTP 200, gRPC OK), so clients do not retry records that would
// only be rejected again.
//
// Payloads whose values nest deeper than 128 levels are refused before
// decoding: pdata's decoders recurse without a limit, so such a payload can
// exhaust the stack or memory (see
// https://github.com/open-telemetry/opentelemetry-collector/issues/15301).
// For gRPC this guard needs the server built with GRPCServerOptions.
//
// # Backpressure
//
// When the pipeline is full the client gets HTTP 429 or gRPC
// ResourceExhausted, when sonde is shutting down or the store is unavailable
// HTTP 503 or gRPC Unavailable; both carry the delay to wait (Retry-After,
// or google.rpc.RetryInfo), which makes OpenTelemetry SDKs retry. The
// statuses come from apierr.Status, like every other endpoint's.
package otlp
