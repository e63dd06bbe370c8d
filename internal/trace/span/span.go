package span

import (
	"encoding/hex"
	"math"
	"strconv"

	"github.com/sonde-dev/sonde/internal/event"
)

// Group is the log group every span is stored in, whatever its protocol or
// service: Insights queries read spans with "SOURCE spans".
const Group = "spans"

// The fields of a span event; see the package documentation for their kinds.
const (
	FieldTraceID          = "traceId"
	FieldSpanID           = "spanId"
	FieldParentID         = "parentSpanId"
	FieldService          = "service"
	FieldName             = "name"
	FieldKind             = "kind"
	FieldStart            = "startUs"
	FieldDuration         = "durationMs"
	FieldStatus           = "status"
	FieldStatusMessage    = "statusMessage"
	FieldHTTPMethod       = "http.method"
	FieldHTTPRoute        = "http.route"
	FieldHTTPStatus       = "http.status_code"
	FieldHTTPURL          = "http.url"
	FieldHTTPUserAgent    = "http.user_agent"
	FieldHTTPClientIP     = "http.client_ip"
	FieldPeer             = "peer"
	FieldPeerType         = "peerType"
	FieldUser             = "user"
	FieldOrigin           = "origin"
	FieldInProgress       = "inProgress"
	FieldExceptionType    = "exception.type"
	FieldExceptionMessage = "exception.message"
	FieldExceptions       = "exceptions"
	FieldEvents           = "events"
	FieldLinks            = "links"
	PrefixAnnotation      = "annotation."
	PrefixMetadata        = "metadata."
	PrefixAttributes      = "attributes."
	PrefixResource        = "resource.attributes."
	FieldScopeName        = "scope.name"
	FieldScopeVersion     = "scope.version"
)

// Kind is what a span measures, as OpenTelemetry names it.
type Kind uint8

// The span kinds. KindUnspecified is stored as "internal".
const (
	KindUnspecified Kind = iota
	KindInternal
	KindServer
	KindClient
	KindProducer
	KindConsumer
)

var kindNames = [...]string{"internal", "internal", "server", "client", "producer", "consumer"}

// String returns the kind's stored name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "internal"
}

// Status is the outcome of a span, as X-Ray classifies segments.
type Status uint8

// The statuses. Throttle is an error too (X-Ray sets both flags for 429).
const (
	StatusOK Status = iota
	StatusError
	StatusThrottle
	StatusFault
)

var statusNames = [...]string{"ok", "error", "throttle", "fault"}

// String returns the status's stored name.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "ok"
}

// StatusOf classifies a span from its HTTP status (0: none) and whether
// the instrumentation flagged it as failed: 429 is throttle, other 4xx
// error, 5xx fault; a failed span without an HTTP error is a fault, as the
// OpenTelemetry X-Ray exporter maps it.
func StatusOf(httpStatus int, failed bool) Status {
	switch {
	case httpStatus == 429:
		return StatusThrottle
	case httpStatus >= 400 && httpStatus < 500:
		return StatusError
	case httpStatus >= 500 && httpStatus < 600:
		return StatusFault
	case failed:
		return StatusFault
	}
	return StatusOK
}

// TraceID is a 128-bit trace id.
type TraceID [16]byte

// SpanID is a 64-bit span id.
type SpanID [8]byte

// IsZero reports whether the id is all zeros (invalid, or absent).
func (t TraceID) IsZero() bool { return t == TraceID{} }

// IsZero reports whether the id is all zeros (absent).
func (s SpanID) IsZero() bool { return s == SpanID{} }

// String returns 32 lowercase hex digits.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// String returns 16 lowercase hex digits.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// Value returns the id as an event value of kind id128.
func (t TraceID) Value() event.Value {
	return event.Value{Kind: event.KindID128, X: be64(t[:8]), Y: be64(t[8:])}
}

// Value returns the id as an event value of kind id64.
func (s SpanID) Value() event.Value { return event.Value{Kind: event.KindID64, X: be64(s[:])} }

func be64(b []byte) uint64 {
	var x uint64
	for _, c := range b {
		x = x<<8 | uint64(c)
	}
	return x
}

// HTTP is what a span tells about an HTTP request.
type HTTP struct {
	Method, Route, URL, UserAgent, ClientIP string
	// Status is the response status code (0: none).
	Status int
}

// Span is one span as every decoder describes it, before it becomes an
// event. Decoders fill it, call AppendEvent, and may reuse it afterwards.
type Span struct {
	TraceID TraceID
	SpanID  SpanID
	// ParentID is zero for a root span.
	ParentID SpanID
	// Service is the name of the service that recorded the span.
	Service string
	// Stream is the log stream (an instance or host name; may be empty).
	Stream string
	Name   string
	Kind   Kind
	// Start and End are Unix nanoseconds; End is 0 for a span in progress.
	Start, End int64
	InProgress bool
	Status     Status
	// StatusMessage explains an error status (may be empty).
	StatusMessage string
	HTTP          HTTP
	// Peer names what a client span calls (a database, a host, a service)
	// and PeerType what it is ("database", "http", "aws", "rpc",
	// "messaging"); both may be empty.
	Peer, PeerType string
	// User is the end user of the request (X-Ray user).
	User string
	// Origin is the X-Ray origin (AWS::EC2::Instance...).
	Origin string
	// ExceptionType and ExceptionMessage describe the first exception;
	// Exceptions is the JSON array of all of them ([{type,message,stack}]).
	ExceptionType, ExceptionMessage, Exceptions string
	// Events and Links are JSON arrays (OpenTelemetry span events other
	// than exceptions, and span links).
	Events, Links string
	// Fields are the other fields, named already (annotation.*,
	// metadata.*, attributes.*, resource.attributes.*...).
	Fields []event.Field
}

// Reset clears the span for reuse, keeping the capacity of Fields.
func (s *Span) Reset() {
	f := s.Fields[:0]
	*s = Span{Fields: f}
}

// DurationMs is the span's duration in milliseconds, rounded to the
// microsecond (0 while in progress).
func (s *Span) DurationMs() float64 {
	if s.End == 0 || s.End < s.Start {
		return 0
	}
	return math.Round(float64(s.End-s.Start)/1e3) / 1e3
}

// AppendEvent appends the span's event to dst. Fields beyond max (0: no
// cap) are dropped; the number dropped is returned. The event shares the
// strings of s but not its Fields slice.
func (s *Span) AppendEvent(dst []event.Event, maxFields int) ([]event.Event, int) {
	n := 12 + len(s.Fields)
	fields := make([]event.Field, 0, n)
	add := func(name string, v event.Value) { fields = append(fields, event.Field{Name: name, Value: v}) }
	str := func(name, v string) {
		if v != "" {
			add(name, event.TypedString(v))
		}
	}
	add(FieldTraceID, s.TraceID.Value())
	add(FieldSpanID, s.SpanID.Value())
	if !s.ParentID.IsZero() {
		add(FieldParentID, s.ParentID.Value())
	}
	add(FieldService, event.String(s.Service))
	add(FieldName, event.String(s.Name))
	add(FieldKind, event.String(s.Kind.String()))
	add(FieldStart, event.Int(s.Start/1e3))
	if !s.InProgress {
		add(FieldDuration, event.Float(s.DurationMs()))
	} else {
		add(FieldInProgress, event.Bool(true))
	}
	add(FieldStatus, event.String(s.Status.String()))
	str(FieldStatusMessage, s.StatusMessage)
	str(FieldHTTPMethod, s.HTTP.Method)
	str(FieldHTTPRoute, s.HTTP.Route)
	if s.HTTP.Status != 0 {
		add(FieldHTTPStatus, event.Int(int64(s.HTTP.Status)))
	}
	str(FieldHTTPURL, s.HTTP.URL)
	str(FieldHTTPUserAgent, s.HTTP.UserAgent)
	str(FieldHTTPClientIP, s.HTTP.ClientIP)
	str(FieldPeer, s.Peer)
	str(FieldPeerType, s.PeerType)
	str(FieldUser, s.User)
	str(FieldOrigin, s.Origin)
	str(FieldExceptionType, s.ExceptionType)
	str(FieldExceptionMessage, s.ExceptionMessage)
	if s.Exceptions != "" {
		add(FieldExceptions, event.String(s.Exceptions))
	}
	if s.Events != "" {
		add(FieldEvents, event.String(s.Events))
	}
	if s.Links != "" {
		add(FieldLinks, event.String(s.Links))
	}
	dropped := 0
	rest := s.Fields
	if maxFields > 0 && len(fields)+len(rest) > maxFields {
		keep := max(0, maxFields-len(fields))
		dropped = len(rest) - keep
		rest = rest[:keep]
	}
	fields = append(fields, rest...)
	dst = append(dst, event.Event{
		Group:   Group,
		Stream:  s.Stream,
		Time:    s.Start / 1e6,
		Message: s.Name,
		Fields:  fields,
	})
	return dst, dropped
}

// ParseTraceID reads a trace id written as 32 hex digits (any case) or in
// X-Ray's form "1-5759e988-bd862e3fe1be46a994272793".
func ParseTraceID(s string) (TraceID, bool) {
	var t TraceID
	if len(s) == 35 && s[0] == '1' && s[1] == '-' && s[10] == '-' {
		s = s[2:10] + s[11:]
	}
	if len(s) != 32 || !decodeHex(t[:], s) || t.IsZero() {
		return TraceID{}, false
	}
	return t, true
}

// ParseSpanID reads a span id of 16 hex digits (any case); shorter ids are
// padded with zeros on the left, as Zipkin allows.
func ParseSpanID(s string) (SpanID, bool) {
	var id SpanID
	if len(s) == 0 || len(s) > 16 {
		return SpanID{}, false
	}
	if len(s) < 16 {
		s = "0000000000000000"[:16-len(s)] + s
	}
	if !decodeHex(id[:], s) || id.IsZero() {
		return SpanID{}, false
	}
	return id, true
}

// XRayTraceID writes a trace id in X-Ray's form: the first 8 hex digits
// are the epoch second of X-Ray ids.
func XRayTraceID(t TraceID) string {
	h := t.String()
	return "1-" + h[:8] + "-" + h[8:]
}

func decodeHex(dst []byte, s string) bool {
	for i := 0; i < len(dst); i++ {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// PeerFromURL returns the host[:port] of an absolute URL, or "".
func PeerFromURL(u string) string {
	i := 0
	for i < len(u) && u[i] != ':' {
		i++
	}
	if i+3 > len(u) || u[i:i+3] != "://" {
		return ""
	}
	rest := u[i+3:]
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '/', '?', '#':
			rest = rest[:j]
			j = len(rest)
		}
	}
	if at := lastByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return rest
}

func lastByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// FormatPort joins a host and a port as host:port (host alone when port
// is 0).
func FormatPort(host string, port int64) string {
	if port <= 0 || host == "" {
		return host
	}
	return host + ":" + strconv.FormatInt(port, 10)
}

// AnnotationKey makes an attribute name a valid X-Ray annotation key:
// characters other than ASCII letters, digits and '_' become '_', as the
// OpenTelemetry X-Ray exporter does.
func AnnotationKey(k string) string {
	b := []byte(k)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// RouteFromName returns the route in the name of an HTTP server span named
// "{method} {route}", as the OpenTelemetry semantic conventions name them
// (instrumentations such as otelhttp put the route only in the name), or
// "" when the name is not of that form.
func RouteFromName(method, name string) string {
	if method == "" || len(name) < len(method)+2 || name[len(method)] != ' ' || name[len(method)+1] != '/' {
		return ""
	}
	for i := 0; i < len(method); i++ {
		a, b := method[i], name[i]
		if a|0x20 != b|0x20 {
			return ""
		}
	}
	return name[len(method)+1:]
}
