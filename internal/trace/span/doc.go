// Package span is the model every trace decoder (OTLP, Zipkin, X-Ray)
// fills, and its mapping to events: every span becomes one event of the
// log group "spans", so that the event store keeps spans with typed
// columns and Logs Insights queries read them ("SOURCE spans").
//
// It imports only internal/event, so that decoders need nothing else.
//
// # Span to event
//
//	event field              kind        from
//	-----------------------  ----------  --------------------------------------------------------
//	@log (Group)             -           "spans" (span.Group), for every protocol and service
//	@logStream (Stream)      -           OTLP service.instance.id, else host.name; Zipkin local
//	                                     endpoint ip:port; X-Ray: empty
//	@timestamp (Time)        -           span start, Unix ms
//	@message (Message)       -           the span name
//	traceId                  id128       32 hex digits (X-Ray 1-xxxxxxxx-yyyy... without dashes,
//	                                     Zipkin 64-bit ids padded with zeros)
//	spanId                   id64        16 hex digits
//	parentSpanId             id64        absent on root spans
//	service                  string      OTLP resource service.name; Zipkin localEndpoint.serviceName;
//	                                     X-Ray segment name ("unknown_service" when missing)
//	name                     string      span name (X-Ray: segment or subsegment name)
//	kind                     string      server | client | producer | consumer | internal
//	startUs                  int         start, Unix microseconds
//	durationMs               float       duration in ms, rounded to the microsecond (absent in progress)
//	inProgress               bool        X-Ray in_progress segments only
//	status                   string      ok | error (4xx) | throttle (429) | fault (5xx, or failed
//	                                     without an HTTP error)
//	statusMessage            string      OTLP status message; Zipkin "error" tag
//	http.method              string      http.method / http.request.method; X-Ray http.request.method
//	http.route               string      http.route; for server spans named "{method} {route}",
//	                                     the route in the name
//	http.status_code         int         http.status_code / http.response.status_code; X-Ray response
//	http.url                 string      http.url / url.full, else scheme://host+path?query of server spans
//	http.user_agent          string      http.user_agent / user_agent.original
//	http.client_ip           string/ipv4 http.client_ip / client.address
//	peer, peerType           string      what a client/producer span calls and its type (database,
//	                                     aws, http, rpc, messaging, remote): the service map's
//	                                     uninstrumented nodes
//	user                     string      enduser.id; X-Ray user
//	origin                   string      X-Ray origin
//	exception.type/.message  string      the first exception
//	exceptions               string      JSON array of every exception ({type,message,stack})
//	events, links            string      JSON arrays of other span events and of links
//	annotation.<key>         typed       X-Ray annotations; OTLP attributes listed in
//	                                     aws.xray.annotations (key with [^A-Za-z0-9_] -> _)
//	metadata.<ns>.<path>     typed       X-Ray metadata, flattened
//	attributes.<key>         typed       OTLP span attributes (except the ones mapped above),
//	                                     Zipkin tags
//	resource.attributes.<k>  typed       OTLP resource attributes (but service.name: see service)
//	scope.name, scope.version string     OTLP instrumentation scope
//	aws.*, sql.*, ...        typed       X-Ray aws and sql objects, flattened
//
// Strings are typed with event.TypedString like every other decoder's, so
// hex ids and IPv4 addresses found in attributes are stored compactly.
//
// Server spans carry service, http.route (or the name), http.method,
// http.status_code, status and durationMs: all that RED metrics (rate,
// errors, duration per service and route) need.
package span
