// Package xray receives AWS X-Ray segment documents, as X-Ray SDKs send
// them to the X-Ray daemon over UDP (a {"format":"json","version":1}
// header line, then one segment or subsegment document per datagram), and
// stores them as span events (see internal/trace/span).
//
// Mapping: a segment is a span of the service named by its name (kind
// server); its subsegments become child spans of the same service (kind
// client when their namespace is "remote" or "aws", else internal), nested
// as sent. trace_id "1-5759e988-bd862e3fe1be46a994272793" becomes the
// trace id 5759e988bd862e3fe1be46a994272793 (the form OpenTelemetry's X-Ray
// propagator uses); start_time and end_time (epoch seconds) keep their
// microseconds; in_progress segments are kept as such (the complete copy
// sent later replaces them when a trace is read). error/throttle/fault and
// http.response.status give the status; http.request and http.response the
// HTTP fields; annotations become annotation.<key> (typed); metadata is
// flattened under metadata.<namespace>.<path>; aws under aws.<path>; sql
// under sql.<key>; cause.exceptions become the exceptions JSON array (and
// exception.type/message of the first); user, origin, resource_arn,
// service.version and precursor_ids are kept as fields. A subsegment
// calling a remote or AWS namespace names its peer (its name) and the peer
// type ("database" with sql, "aws", "http" with http, else "remote").
//
// Subsegments sent on their own (type "subsegment", with trace_id and
// parent_id) belong to the service of their parent segment, which the
// receiver remembers for the segments it saw lately.
package xray

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// Header is the daemon protocol's first line of every datagram.
const Header = `{"format":"json","version":1}`

// MaxDocumentBytes caps a segment document (X-Ray's limit is 64 KiB).
const MaxDocumentBytes = 64 << 10

// maxDepth caps subsegment nesting and JSON nesting in metadata.
const maxDepth = 32

// Segment is an X-Ray segment or subsegment document.
type Segment struct {
	Name         string                     `json:"name"`
	ID           string                     `json:"id"`
	TraceID      string                     `json:"trace_id"`
	ParentID     string                     `json:"parent_id"`
	Type         string                     `json:"type"`
	StartTime    float64                    `json:"start_time"`
	EndTime      float64                    `json:"end_time"`
	InProgress   bool                       `json:"in_progress"`
	Namespace    string                     `json:"namespace"`
	Origin       string                     `json:"origin"`
	User         string                     `json:"user"`
	ResourceARN  string                     `json:"resource_arn"`
	Error        bool                       `json:"error"`
	Throttle     bool                       `json:"throttle"`
	Fault        bool                       `json:"fault"`
	Service      map[string]json.RawMessage `json:"service"`
	HTTP         *HTTP                      `json:"http"`
	AWS          json.RawMessage            `json:"aws"`
	SQL          json.RawMessage            `json:"sql"`
	Cause        json.RawMessage            `json:"cause"`
	Annotations  map[string]json.RawMessage `json:"annotations"`
	Metadata     json.RawMessage            `json:"metadata"`
	PrecursorIDs []string                   `json:"precursor_ids"`
	Subsegments  []Segment                  `json:"subsegments"`
}

// HTTP is a segment's http object.
type HTTP struct {
	Request *struct {
		Method        string `json:"method"`
		URL           string `json:"url"`
		UserAgent     string `json:"user_agent"`
		ClientIP      string `json:"client_ip"`
		XForwardedFor bool   `json:"x_forwarded_for"`
		Traced        bool   `json:"traced"`
	} `json:"request"`
	Response *struct {
		Status        json.Number `json:"status"`
		ContentLength json.Number `json:"content_length"`
	} `json:"response"`
}

// ServiceOf finds the service of a segment id: the receiver's memory of
// recent segments. It returns "" when it does not know.
type ServiceOf func(segmentID string) string

// Decoder maps segment documents to span events. It is not safe for
// concurrent use.
type Decoder struct {
	// MaxFields caps the fields of an event (0: no cap).
	MaxFields int
	// ServiceOf, when not nil, names the service of separately sent
	// subsegments.
	ServiceOf ServiceOf
	// Seen, when not nil, is told of each segment's id and service.
	Seen func(segmentID, service string)

	sp span.Span
	// Truncated counts the fields dropped beyond MaxFields.
	Truncated int
}

// ParseDatagram splits a daemon datagram into its header and document.
func ParseDatagram(b []byte) ([]byte, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, errors.New(`datagram has no header line (want {"format":"json","version":1})`)
	}
	var h struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b[:nl]), &h); err != nil || h.Format != "json" || h.Version != 1 {
		return nil, fmt.Errorf(`unsupported header %q (want {"format":"json","version":1})`, truncate(b[:nl]))
	}
	return bytes.TrimSpace(b[nl+1:]), nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// Decode appends the spans of one segment document (a segment with its
// subsegments, or a subsegment sent on its own) to dst.
func (d *Decoder) Decode(doc []byte, dst []event.Event) ([]event.Event, error) {
	if len(doc) > MaxDocumentBytes {
		return dst, fmt.Errorf("segment document of %d bytes is larger than %d", len(doc), MaxDocumentBytes)
	}
	if err := checkDepth(doc); err != nil {
		return dst, err
	}
	var s Segment
	if err := json.Unmarshal(doc, &s); err != nil {
		return dst, fmt.Errorf("decode segment: %w", err)
	}
	tid, ok := parseTraceID(s.TraceID)
	if !ok {
		return dst, fmt.Errorf("trace_id %q is not an X-Ray trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx)", s.TraceID)
	}
	service := valid(s.Name)
	sub := s.Type == "subsegment"
	if sub {
		service = ""
		if d.ServiceOf != nil {
			service = d.ServiceOf(s.ParentID)
		}
		if service == "" {
			service = "unknown_service"
		}
	}
	n := len(dst)
	dst, err := d.segment(&s, tid, "", service, sub, 0, dst)
	if err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// parseTraceID reads an X-Ray trace id ("1-" + 8 + "-" + 24 hex digits),
// or 32 hex digits.
func parseTraceID(s string) (span.TraceID, bool) {
	if len(s) == 35 && strings.HasPrefix(s, "1-") && s[10] == '-' {
		return span.ParseTraceID(s)
	}
	if len(s) == 32 {
		return span.ParseTraceID(s)
	}
	return span.TraceID{}, false
}

// checkDepth refuses documents nested deeper than maxDepth*2 brackets
// before encoding/json recurses through them.
func checkDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > 4*maxDepth {
				return fmt.Errorf("segment document nests deeper than %d levels", 4*maxDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

func valid(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// seconds converts X-Ray's epoch seconds to Unix nanoseconds, keeping
// microseconds.
func seconds(f float64) int64 { return int64(math.Round(f*1e6)) * 1000 }

// segment maps s (of service; parentID overrides s.ParentID for nested
// subsegments) and its subsegments.
func (d *Decoder) segment(s *Segment, tid span.TraceID, parentID, service string, sub bool, depth int, dst []event.Event) ([]event.Event, error) {
	if depth > maxDepth {
		return dst, fmt.Errorf("subsegments nested deeper than %d levels", maxDepth)
	}
	sp := &d.sp
	sp.Reset()
	sp.TraceID = tid
	var ok bool
	if sp.SpanID, ok = span.ParseSpanID(s.ID); !ok || len(s.ID) != 16 {
		return dst, fmt.Errorf("id %q is not 16 hex digits", s.ID)
	}
	if parentID == "" {
		parentID = s.ParentID
	}
	if parentID != "" {
		if sp.ParentID, ok = span.ParseSpanID(parentID); !ok {
			return dst, fmt.Errorf("parent_id %q is not 16 hex digits", parentID)
		}
	}
	if s.Name == "" {
		return dst, fmt.Errorf("segment %s has no name", s.ID)
	}
	if s.StartTime <= 0 || math.IsNaN(s.StartTime) || math.IsInf(s.StartTime, 0) || s.StartTime > 1e11 {
		return dst, fmt.Errorf("segment %s has no valid start_time", s.ID)
	}
	if !s.InProgress && (s.EndTime < s.StartTime || math.IsNaN(s.EndTime) || s.EndTime > 1e11) {
		return dst, fmt.Errorf("segment %s needs an end_time after start_time, or in_progress", s.ID)
	}
	sp.Service = service
	sp.Name = valid(s.Name)
	sp.Start = seconds(s.StartTime)
	if s.InProgress {
		sp.InProgress = true
	} else {
		sp.End = seconds(s.EndTime)
	}
	if !sub && depth == 0 && d.Seen != nil {
		d.Seen(s.ID, service)
	}
	switch {
	case depth == 0 && !sub:
		sp.Kind = span.KindServer
	case s.Namespace == "remote" || s.Namespace == "aws":
		sp.Kind = span.KindClient
	default:
		sp.Kind = span.KindInternal
	}
	sp.User, sp.Origin = valid(s.User), valid(s.Origin)
	if s.HTTP != nil {
		if rq := s.HTTP.Request; rq != nil {
			sp.HTTP.Method, sp.HTTP.URL = valid(rq.Method), valid(rq.URL)
			sp.HTTP.UserAgent, sp.HTTP.ClientIP = valid(rq.UserAgent), valid(rq.ClientIP)
			if rq.XForwardedFor {
				d.add("http.request.x_forwarded_for", event.Bool(true))
			}
			if rq.Traced {
				d.add("http.request.traced", event.Bool(true))
			}
		}
		if rs := s.HTTP.Response; rs != nil {
			if n, err := rs.Status.Int64(); err == nil {
				sp.HTTP.Status = int(n)
			}
			if n, err := rs.ContentLength.Int64(); err == nil {
				d.add("http.response.content_length", event.Int(n))
			}
		}
	}
	switch {
	case s.Fault:
		sp.Status = span.StatusFault
	case s.Throttle:
		sp.Status = span.StatusThrottle
	case s.Error:
		sp.Status = span.StatusError
	default:
		sp.Status = span.StatusOf(sp.HTTP.Status, false)
	}
	if sp.Kind == span.KindClient {
		sp.Peer = sp.Name
		switch {
		case len(s.SQL) > 0:
			sp.PeerType = "database"
		case s.Namespace == "aws":
			sp.PeerType = "aws"
		case s.HTTP != nil:
			sp.PeerType = "http"
		default:
			sp.PeerType = "remote"
		}
	}
	if s.ResourceARN != "" {
		d.add("resource_arn", event.TypedString(valid(s.ResourceARN)))
	}
	if v, ok := s.Service["version"]; ok {
		var ver string
		if json.Unmarshal(v, &ver) == nil && ver != "" {
			d.add("service.version", event.TypedString(valid(ver)))
		}
	}
	if s.Namespace != "" {
		d.add("namespace", event.String(valid(s.Namespace)))
	}
	for i, p := range s.PrecursorIDs {
		d.add("precursor_ids."+strconv.Itoa(i), event.TypedString(valid(p)))
	}
	for _, k := range sortedKeys(s.Annotations) {
		if v, ok := annotationValue(s.Annotations[k]); ok {
			d.add(span.PrefixAnnotation+valid(k), v)
		}
	}
	if err := d.flatten("metadata", s.Metadata); err != nil {
		return dst, err
	}
	if err := d.flatten("aws", s.AWS); err != nil {
		return dst, err
	}
	if err := d.flatten("sql", s.SQL); err != nil {
		return dst, err
	}
	if err := d.cause(s.Cause); err != nil {
		return dst, err
	}
	var dropped int
	dst, dropped = sp.AppendEvent(dst, d.MaxFields)
	d.Truncated += dropped
	for i := range s.Subsegments {
		var err error
		if dst, err = d.segment(&s.Subsegments[i], tid, s.ID, service, true, depth+1, dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (d *Decoder) add(name string, v event.Value) {
	d.sp.Fields = append(d.sp.Fields, event.Field{Name: name, Value: v})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// annotationValue types an annotation: string, number or bool, as X-Ray
// allows.
func annotationValue(raw json.RawMessage) (event.Value, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return event.Value{}, false
	}
	return scalar(v)
}

func scalar(v any) (event.Value, bool) {
	switch x := v.(type) {
	case string:
		return event.TypedString(valid(x)), true
	case bool:
		return event.Bool(x), true
	case json.Number:
		if i, err := x.Int64(); err == nil && !strings.ContainsAny(x.String(), ".eE") {
			return event.Int(i), true
		}
		if f, err := x.Float64(); err == nil {
			return event.Float(f), true
		}
	}
	return event.Value{}, false
}

// flatten adds the leaves of a JSON value under prefix ("a.b", arrays
// "a.0").
func (d *Decoder) flatten(prefix string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("decode %s: %w", prefix, err)
	}
	d.leaves(prefix, v, 0)
	return nil
}

func (d *Decoder) leaves(path string, v any, depth int) {
	if depth > maxDepth {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			d.leaves(path+"."+valid(k), x[k], depth+1)
		}
	case []any:
		for i, e := range x {
			d.leaves(path+"."+strconv.Itoa(i), e, depth+1)
		}
	default:
		if val, ok := scalar(x); ok {
			d.add(path, val)
		}
	}
}

// cause keeps a segment's cause: its exceptions as JSON, the first one's
// type and message, and the other cause fields.
func (d *Decoder) cause(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var id string
	if json.Unmarshal(raw, &id) == nil {
		d.add("cause.exception_id", event.TypedString(valid(id)))
		return nil
	}
	var c struct {
		WorkingDirectory string            `json:"working_directory"`
		Paths            []string          `json:"paths"`
		Exceptions       []json.RawMessage `json:"exceptions"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("decode cause: %w", err)
	}
	if c.WorkingDirectory != "" {
		d.add("cause.working_directory", event.String(valid(c.WorkingDirectory)))
	}
	for i, p := range c.Paths {
		d.add("cause.paths."+strconv.Itoa(i), event.String(valid(p)))
	}
	if len(c.Exceptions) == 0 {
		return nil
	}
	var first struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(c.Exceptions[0], &first)
	d.sp.ExceptionType, d.sp.ExceptionMessage = valid(first.Type), valid(first.Message)
	b, err := json.Marshal(c.Exceptions)
	if err != nil {
		return fmt.Errorf("encode exceptions: %w", err)
	}
	d.sp.Exceptions = valid(string(b))
	return nil
}
