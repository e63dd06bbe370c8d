// Package zipkin receives spans in Zipkin's v2 JSON format (POST
// /api/v2/spans, as Zipkin reporters and Brave send them) and stores them
// as span events (see internal/trace/span for the fields).
//
// Mapping: traceId (16 or 32 hex digits; 64-bit ids are padded with zeros
// on the left, as OpenTelemetry does), id, parentId, name, kind
// (CLIENT/SERVER/PRODUCER/CONSUMER; none is internal), timestamp and
// duration (microseconds), localEndpoint.serviceName (the service;
// "unknown_service" when missing), remoteEndpoint (the peer of client
// spans: its serviceName, else ipv4/ipv6 and port). Tags: http.method,
// http.path, http.route, http.url and http.status_code fill the HTTP
// fields; "error" marks the span as failed (its value is the status
// message); sql.query, db.* and peer.service name database peers; every
// tag is also kept as attributes.<tag>. Annotations become the events JSON
// array ([{"name": value, "timeUs": timestamp}]). A server span sharing its
// id with the client span (Zipkin's "shared" spans) gets an id of its own
// (the shared id with every byte XOR 0x5a) and the client span as parent.
//
// A body that is not a JSON array of spans is refused with 400; spans
// without valid ids are rejected one by one (counted, and named in a 400
// answer only when no span is left). Accepted spans are durable when the
// answer (202) is sent.
package zipkin

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// Span is a Zipkin v2 span.
type Span struct {
	TraceID        string            `json:"traceId"`
	ID             string            `json:"id"`
	ParentID       string            `json:"parentId"`
	Name           string            `json:"name"`
	Kind           string            `json:"kind"`
	Timestamp      int64             `json:"timestamp"`
	Duration       int64             `json:"duration"`
	Debug          bool              `json:"debug"`
	Shared         bool              `json:"shared"`
	LocalEndpoint  *Endpoint         `json:"localEndpoint"`
	RemoteEndpoint *Endpoint         `json:"remoteEndpoint"`
	Annotations    []Annotation      `json:"annotations"`
	Tags           map[string]string `json:"tags"`
}

// Endpoint is a Zipkin endpoint.
type Endpoint struct {
	ServiceName string `json:"serviceName"`
	IPv4        string `json:"ipv4"`
	IPv6        string `json:"ipv6"`
	Port        int64  `json:"port"`
}

// Annotation is a Zipkin annotation: a timestamped event.
type Annotation struct {
	Timestamp int64  `json:"timestamp"`
	Value     string `json:"value"`
}

// Rejected is a span that could not be stored, and why.
type Rejected struct {
	Index  int
	Reason string
}

// UnknownService is the service of spans without a local service name.
const UnknownService = "unknown_service"

// Decode parses a JSON array of v2 spans into span events. now is the
// start of spans without a timestamp. maxFields caps the fields of an event
// (0: no cap); truncated counts the fields dropped.
func Decode(body []byte, now time.Time, maxFields int) (events []event.Event, rejected []Rejected, truncated int, err error) {
	var spans []Span
	if err := json.Unmarshal(body, &spans); err != nil {
		return nil, nil, 0, fmt.Errorf("decode Zipkin v2 JSON spans: %w", err)
	}
	events = make([]event.Event, 0, len(spans))
	var sp span.Span
	for i := range spans {
		if err := mapSpan(&spans[i], &sp, now); err != nil {
			rejected = append(rejected, Rejected{Index: i, Reason: err.Error()})
			continue
		}
		var dropped int
		events, dropped = sp.AppendEvent(events, maxFields)
		truncated += dropped
	}
	return events, rejected, truncated, nil
}

// traceID reads a 16- or 32-digit trace id.
func traceID(s string) (span.TraceID, bool) {
	if len(s) == 16 {
		s = "0000000000000000" + s
	}
	return span.ParseTraceID(s)
}

func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func mapSpan(z *Span, sp *span.Span, now time.Time) error {
	sp.Reset()
	var ok bool
	if sp.TraceID, ok = traceID(z.TraceID); !ok {
		return fmt.Errorf("traceId %q is not 16 or 32 hex digits", z.TraceID)
	}
	if sp.SpanID, ok = span.ParseSpanID(z.ID); !ok {
		return fmt.Errorf("id %q is not 1 to 16 hex digits", z.ID)
	}
	if z.ParentID != "" {
		if sp.ParentID, ok = span.ParseSpanID(z.ParentID); !ok {
			return fmt.Errorf("parentId %q is not 1 to 16 hex digits", z.ParentID)
		}
	}
	switch strings.ToUpper(z.Kind) {
	case "SERVER":
		sp.Kind = span.KindServer
	case "CLIENT":
		sp.Kind = span.KindClient
	case "PRODUCER":
		sp.Kind = span.KindProducer
	case "CONSUMER":
		sp.Kind = span.KindConsumer
	case "":
		sp.Kind = span.KindInternal
	default:
		return fmt.Errorf("unknown kind %q", z.Kind)
	}
	if z.Shared && sp.Kind == span.KindServer {
		sp.ParentID = sp.SpanID
		for i := range sp.SpanID {
			sp.SpanID[i] ^= 0x5a
		}
	}
	if z.Timestamp < 0 || z.Duration < 0 {
		return fmt.Errorf("negative timestamp or duration")
	}
	sp.Start = z.Timestamp * 1000
	if z.Timestamp == 0 {
		sp.Start = now.UnixNano()
	}
	sp.End = sp.Start + z.Duration*1000
	sp.Name = valid(z.Name)
	sp.Service = UnknownService
	if z.LocalEndpoint != nil && z.LocalEndpoint.ServiceName != "" {
		sp.Service = valid(z.LocalEndpoint.ServiceName)
		sp.Stream = endpointAddr(z.LocalEndpoint)
	}

	failed := false
	var dbPeer, peerService string
	for k, v := range z.Tags {
		k, v = valid(k), valid(v)
		switch k {
		case "http.method":
			sp.HTTP.Method = v
		case "http.route":
			sp.HTTP.Route = v
		case "http.url":
			sp.HTTP.URL = v
		case "http.path":
			if sp.HTTP.URL == "" {
				sp.HTTP.URL = v
			}
		case "http.status_code":
			sp.HTTP.Status, _ = strconv.Atoi(v)
		case "error":
			failed = true
			sp.StatusMessage = v
		case "peer.service":
			peerService = v
		case "sql.query", "db.statement", "db.system", "db.type":
			dbPeer = "database"
		}
		sp.Fields = append(sp.Fields, event.Field{Name: span.PrefixAttributes + k, Value: event.TypedString(v)})
	}
	sortFields(sp.Fields)
	if z.Debug {
		sp.Fields = append(sp.Fields, event.Field{Name: span.PrefixAttributes + "debug", Value: event.Bool(true)})
	}
	sp.Status = span.StatusOf(sp.HTTP.Status, failed)
	if sp.HTTP.Route == "" && sp.Kind == span.KindServer {
		sp.HTTP.Route = span.RouteFromName(sp.HTTP.Method, sp.Name)
	}
	if sp.Kind == span.KindClient || sp.Kind == span.KindProducer {
		switch {
		case peerService != "":
			sp.Peer = peerService
		case z.RemoteEndpoint != nil && z.RemoteEndpoint.ServiceName != "":
			sp.Peer = valid(z.RemoteEndpoint.ServiceName)
		case z.RemoteEndpoint != nil:
			sp.Peer = endpointAddr(z.RemoteEndpoint)
		}
		switch {
		case sp.Peer == "":
		case dbPeer != "":
			sp.PeerType = dbPeer
		case sp.HTTP.Method != "":
			sp.PeerType = "http"
		default:
			sp.PeerType = "remote"
		}
	}
	if len(z.Annotations) > 0 {
		var b []byte
		for i, a := range z.Annotations {
			if i == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = event.AppendQuoted(b, valid(a.Value))
			b = append(b, `,"timeUs":`...)
			b = strconv.AppendInt(b, a.Timestamp, 10)
			b = append(b, '}')
		}
		sp.Events = string(append(b, ']'))
	}
	return nil
}

// endpointAddr is an endpoint's address: ip[:port].
func endpointAddr(e *Endpoint) string {
	ip := e.IPv4
	if ip == "" {
		ip = e.IPv6
	}
	return valid(span.FormatPort(ip, e.Port))
}

// sortFields orders tag fields by name: map order is random, and a stable
// order keeps events alike.
func sortFields(f []event.Field) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Name < f[j-1].Name; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}
