package otlp

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// TracesPath is the OTLP/HTTP traces endpoint, fixed by the OTLP
// specification.
//
// Every span of an export (HTTP POST /v1/traces, protobuf or JSON; gRPC
// TraceService/Export) becomes an event of the log group "spans", mapped as
// package span documents: ids as binary, service from the resource's
// service.name, the HTTP attributes of both semantic-convention
// generations normalized into http.method/route/status_code/url/...,
// exception events into the exception fields, attributes listed in
// aws.xray.annotations into annotation.<key>, the others under
// attributes.<key>, resource attributes under resource.attributes.<key>.
// A span without a trace or span id, nested deeper than 64 levels or
// larger than MaxEventBytes is rejected alone and reported in the
// response's partial_success, like log records. MaxFields caps the fields
// beyond the span's own (which are never dropped).
const TracesPath = "/v1/traces"

// attrXRayAnnotations lists the span attributes that are X-Ray annotations
// (indexed), as the AWS Distro for OpenTelemetry marks them.
const attrXRayAnnotations = "aws.xray.annotations"

// exportTraces maps a decoded request to span events, writes the accepted
// ones and returns the response to send. The error is the pipeline's:
// nothing of the request may be reported as stored when it is not nil.
func (r *Receiver) exportTraces(ctx context.Context, protocol string, td ptrace.Traces) (ptraceotlp.ExportResponse, error) {
	events, res := mapTraces(td, time.Now(), r.limits)
	r.count(protocol, res)
	if len(events) > 0 {
		if err := r.opts.Pipeline.Submit(ctx, protocol, "", events); err != nil {
			r.countRefused(protocol, err, len(events))
			return ptraceotlp.ExportResponse{}, err
		}
	}
	resp := ptraceotlp.NewExportResponse()
	if n := res.rejected(); n > 0 {
		ps := resp.PartialSuccess()
		ps.SetRejectedSpans(int64(n))
		ps.SetErrorMessage(res.message("spans"))
	}
	return resp, nil
}

// mapTraces turns every span of td into an event of the spans group,
// rejecting the ones that cannot be stored. It never fails as a whole.
func mapTraces(td ptrace.Traces, now time.Time, lim limits) ([]event.Event, *batchResult) {
	res := &batchResult{}
	events := make([]event.Event, 0, td.SpanCount())
	m := &spanMapper{fs: newFieldSet(lim.maxFields), lim: lim, now: now.UnixNano()}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		attrs := rs.Resource().Attributes()
		service, stream := spanResource(attrs)
		m.fs.reset(nil)
		var resErr error
		if err := m.resource(attrs); err != nil {
			resErr = fmt.Errorf("resource attributes: %w", err)
		}
		resFields, resDropped, resSize := m.fs.fields, m.fs.dropped, m.fs.size
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scopeErr := resErr
			var scopeFields []event.Field
			var scopeDropped int
			if scopeErr == nil {
				scopeFields, scopeDropped, scopeErr = scopeSection(m.fs, ss.Scope())
			}
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				if scopeErr != nil {
					res.reject(false, spanLoc(i, j, k), scopeErr.Error())
					continue
				}
				m.sp.Reset()
				m.sp.Service, m.sp.Stream = service, stream
				tooLarge, err := m.mapSpan(spans.At(k), resSize)
				if err != nil {
					res.reject(tooLarge, spanLoc(i, j, k), err.Error())
					continue
				}
				m.fs.addAll(resFields, resDropped)
				m.fs.addAll(scopeFields, scopeDropped)
				m.sp.Fields = m.fs.fields
				var dropped int
				events, dropped = m.sp.AppendEvent(events, lim.maxFields)
				m.scratch = m.fs.fields[:0]
				res.truncated += m.fs.dropped + dropped
			}
		}
	}
	res.accepted = len(events)
	return events, res
}

// resource flattens a resource's attributes under "resource.attributes.",
// except service.name, which every span holds in its service field.
func (m *spanMapper) resource(attrs pcommon.Map) error {
	fs := m.fs
	for k, v := range attrs.All() {
		if k == attrServiceName {
			continue
		}
		fs.path = append(fs.path[:0], span.PrefixResource...)
		fs.path = appendKey(fs.path, k)
		if err := fs.addValue(v, 1); err != nil {
			return err
		}
	}
	return nil
}

// spanLoc names a span in rejection reasons by its indexes.
func spanLoc(resource, scope, sp int) string {
	return fmt.Sprintf("resource %d scope %d span %d", resource, scope, sp)
}

// spanResource picks the service and the log stream of a resource's spans.
func spanResource(attrs pcommon.Map) (service, stream string) {
	if v, ok := attrs.Get(attrServiceName); ok {
		service = validUTF8(v.AsString())
	}
	if service == "" {
		service = UnknownService
	}
	for _, key := range []string{attrServiceInstanceID, attrHostName} {
		if v, ok := attrs.Get(key); ok {
			if stream = validUTF8(v.AsString()); stream != "" {
				break
			}
		}
	}
	if len(stream) > 512 || hasControl(stream) {
		stream = ""
	}
	return service, stream
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// spanMapper maps spans, reusing its buffers from span to span.
type spanMapper struct {
	fs      *fieldSet
	lim     limits
	now     int64
	sp      span.Span
	scratch []event.Field
	annot   map[string]bool
	buf     []byte
}

// hints are the attributes that name a span's URL and peer.
type hints struct {
	urlPath, urlQuery, scheme, host, target string
	serverAddr, peerName, netHost           string
	serverPort                              int64
	peerService, dbSystem, dbName           string
	rpcSystem, rpcService                   string
	msgSystem, msgDest                      string
}

// mapSpan fills m.sp from s and leaves its own fields in m.fs.
func (m *spanMapper) mapSpan(s ptrace.Span, resSize int) (tooLarge bool, err error) {
	sp := &m.sp
	tid, sid := s.TraceID(), s.SpanID()
	if tid.IsEmpty() {
		return false, fmt.Errorf("trace id is missing or zero")
	}
	if sid.IsEmpty() {
		return false, fmt.Errorf("span id is missing or zero")
	}
	sp.TraceID, sp.SpanID, sp.ParentID = span.TraceID(tid), span.SpanID(sid), span.SpanID(s.ParentSpanID())
	sp.Name = validUTF8(s.Name())
	sp.Kind = spanKind(s.Kind())
	sp.Start, sp.End = int64(s.StartTimestamp()), int64(s.EndTimestamp())
	switch {
	case sp.Start <= 0 && sp.End > 0:
		sp.Start = sp.End
	case sp.Start <= 0:
		sp.Start, sp.End = m.now, m.now
	case sp.End < sp.Start:
		sp.End = sp.Start
	}
	st := s.Status()
	failed := st.Code() == ptrace.StatusCodeError
	if msg := st.Message(); msg != "" {
		sp.StatusMessage = validUTF8(msg)
	}

	m.fs.reset(m.scratch[:0])
	var h hints
	if err := m.attributes(s.Attributes(), &h); err != nil {
		return false, fmt.Errorf("attributes: %w", err)
	}
	sp.Status = span.StatusOf(sp.HTTP.Status, failed)
	if sp.HTTP.URL == "" {
		sp.HTTP.URL = composeURL(&h)
	}
	if sp.HTTP.Route == "" && sp.Kind == span.KindServer {
		sp.HTTP.Route = span.RouteFromName(sp.HTTP.Method, sp.Name)
	}
	if sp.Kind == span.KindClient || sp.Kind == span.KindProducer {
		sp.Peer, sp.PeerType = peerOf(&h, sp.HTTP.URL, sp.HTTP.Method != "")
	}
	if err := m.events(s.Events()); err != nil {
		return false, fmt.Errorf("events: %w", err)
	}
	if err := m.links(s.Links()); err != nil {
		return false, fmt.Errorf("links: %w", err)
	}
	size := m.fs.size + resSize + len(sp.Name) + len(sp.HTTP.URL) + len(sp.Exceptions) + len(sp.Events) + len(sp.Links) + 128
	if size > m.lim.maxEventBytes {
		return true, fmt.Errorf("span of %d bytes is larger than the %d-byte limit", size, m.lim.maxEventBytes)
	}
	return false, nil
}

func spanKind(k ptrace.SpanKind) span.Kind {
	switch k {
	case ptrace.SpanKindServer:
		return span.KindServer
	case ptrace.SpanKindClient:
		return span.KindClient
	case ptrace.SpanKindProducer:
		return span.KindProducer
	case ptrace.SpanKindConsumer:
		return span.KindConsumer
	case ptrace.SpanKindInternal:
		return span.KindInternal
	}
	return span.KindUnspecified
}

// attributes reads the attributes with a meaning for sonde into m.sp and
// h, and flattens the others under "attributes." (or "annotation." for
// the ones aws.xray.annotations lists).
func (m *spanMapper) attributes(attrs pcommon.Map, h *hints) error {
	clear(m.annot)
	if v, ok := attrs.Get(attrXRayAnnotations); ok && v.Type() == pcommon.ValueTypeSlice {
		if m.annot == nil {
			m.annot = map[string]bool{}
		}
		sl := v.Slice()
		for i := 0; i < sl.Len(); i++ {
			m.annot[sl.At(i).AsString()] = true
		}
	}
	sp := &m.sp
	fs := m.fs
	fs.section()
	for k, v := range attrs.All() {
		str := func() string { return strOf(v) }
		switch k {
		case "http.method", "http.request.method":
			sp.HTTP.Method = str()
			continue
		case "http.route":
			sp.HTTP.Route = str()
			continue
		case "http.status_code", "http.response.status_code":
			sp.HTTP.Status = intOf(v)
			continue
		case "http.url", "url.full":
			sp.HTTP.URL = str()
			continue
		case "http.user_agent", "user_agent.original":
			sp.HTTP.UserAgent = str()
			continue
		case "http.client_ip", "client.address":
			sp.HTTP.ClientIP = str()
			continue
		case attrXRayAnnotations:
			continue
		case "enduser.id":
			sp.User = str()
		case "url.path":
			h.urlPath = str()
		case "url.query":
			h.urlQuery = str()
		case "url.scheme", "http.scheme":
			h.scheme = str()
		case "http.host":
			h.host = str()
		case "http.target":
			h.target = str()
		case "server.address":
			h.serverAddr = str()
		case "server.port", "net.peer.port":
			h.serverPort = int64(intOf(v))
		case "net.peer.name":
			h.peerName = str()
		case "net.host.name":
			h.netHost = str()
		case "peer.service":
			h.peerService = str()
		case "db.system", "db.system.name":
			h.dbSystem = str()
		case "db.name", "db.namespace":
			h.dbName = str()
		case "rpc.system":
			h.rpcSystem = str()
		case "rpc.service":
			h.rpcService = str()
		case "messaging.system":
			h.msgSystem = str()
		case "messaging.destination.name", "messaging.destination":
			h.msgDest = str()
		}
		prefix := span.PrefixAttributes
		key := k
		if m.annot[k] {
			prefix, key = span.PrefixAnnotation, span.AnnotationKey(k)
		}
		fs.path = append(fs.path[:0], prefix...)
		fs.path = appendKey(fs.path, key)
		if err := fs.addValue(v, 1); err != nil {
			return err
		}
	}
	return nil
}

// strOf reads a string attribute ("" for other types).
func strOf(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return validUTF8(v.Str())
	}
	return ""
}

// intOf reads an int attribute, or a string holding one.
func intOf(v pcommon.Value) int {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return int(v.Int())
	case pcommon.ValueTypeDouble:
		return int(v.Double())
	case pcommon.ValueTypeStr:
		n, _ := strconv.Atoi(v.Str())
		return n
	}
	return 0
}

// composeURL builds the URL of a server span from its parts, as the X-Ray
// exporter does when url.full is absent.
func composeURL(h *hints) string {
	path := h.urlPath
	if path == "" {
		path = h.target
	} else if h.urlQuery != "" {
		path += "?" + h.urlQuery
	}
	host := h.host
	if host == "" {
		host = span.FormatPort(h.serverAddr, h.serverPort)
	}
	if host == "" {
		host = h.netHost
	}
	if host == "" || path == "" {
		return path
	}
	scheme := h.scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + host + path
}

// peerOf names what a client span calls, and what kind of thing it is.
func peerOf(h *hints, url string, isHTTP bool) (peer, typ string) {
	host := span.FormatPort(h.serverAddr, h.serverPort)
	if host == "" {
		host = span.FormatPort(h.peerName, h.serverPort)
	}
	if host == "" {
		host = span.PeerFromURL(url)
	}
	switch {
	case h.dbSystem != "":
		typ = "database"
		switch {
		case h.peerService != "":
			peer = h.peerService
		case h.dbName != "" && host != "":
			peer = h.dbName + "@" + host
		case h.dbName != "":
			peer = h.dbName
		case host != "":
			peer = h.dbSystem + "@" + host
		default:
			peer = h.dbSystem
		}
		return peer, typ
	case h.rpcSystem == "aws-api":
		typ, peer = "aws", h.rpcService
	case h.msgSystem != "":
		typ, peer = "messaging", h.msgDest
		if peer == "" {
			peer = h.msgSystem
		}
	case h.rpcSystem != "":
		typ, peer = "rpc", h.rpcService
	case isHTTP || url != "":
		typ = "http"
	}
	if h.peerService != "" {
		peer = h.peerService
	}
	if peer == "" {
		peer = host
	}
	if peer == "" {
		typ = ""
	}
	return peer, typ
}

// events keeps a span's exceptions in the exception fields and its other
// events as a JSON array.
func (m *spanMapper) events(evs ptrace.SpanEventSlice) error {
	var exc, other []byte
	for i := 0; i < evs.Len(); i++ {
		e := evs.At(i)
		attrs := e.Attributes()
		if e.Name() == "exception" {
			typ := attrString(attrs, "exception.type")
			msg := attrString(attrs, "exception.message")
			if m.sp.ExceptionType == "" && m.sp.ExceptionMessage == "" {
				m.sp.ExceptionType, m.sp.ExceptionMessage = typ, msg
			}
			exc = appendSep(exc, '[')
			exc = append(exc, `{"type":`...)
			exc = event.AppendQuoted(exc, typ)
			exc = append(exc, `,"message":`...)
			exc = event.AppendQuoted(exc, msg)
			if st := attrString(attrs, "exception.stacktrace"); st != "" {
				exc = append(exc, `,"stack":`...)
				exc = event.AppendQuoted(exc, st)
			}
			exc = append(exc, '}')
			continue
		}
		other = appendSep(other, '[')
		other = append(other, `{"name":`...)
		other = event.AppendQuoted(other, validUTF8(e.Name()))
		other = append(other, `,"timeUs":`...)
		other = strconv.AppendInt(other, int64(e.Timestamp())/1e3, 10)
		if attrs.Len() > 0 {
			other = append(other, `,"attributes":`...)
			var err error
			if other, err = appendMapJSON(other, attrs); err != nil {
				return err
			}
		}
		other = append(other, '}')
	}
	if len(exc) > 0 {
		m.sp.Exceptions = string(append(exc, ']'))
	}
	if len(other) > 0 {
		m.sp.Events = string(append(other, ']'))
	}
	return nil
}

// links keeps a span's links as a JSON array.
func (m *spanMapper) links(ls ptrace.SpanLinkSlice) error {
	if ls.Len() == 0 {
		return nil
	}
	b := m.buf[:0]
	for i := 0; i < ls.Len(); i++ {
		l := ls.At(i)
		b = appendSep(b, '[')
		tid, sid := l.TraceID(), l.SpanID()
		b = append(b, `{"traceId":"`...)
		b = hex.AppendEncode(b, tid[:])
		b = append(b, `","spanId":"`...)
		b = hex.AppendEncode(b, sid[:])
		b = append(b, '"')
		if l.Attributes().Len() > 0 {
			b = append(b, `,"attributes":`...)
			var err error
			if b, err = appendMapJSON(b, l.Attributes()); err != nil {
				return err
			}
		}
		b = append(b, '}')
	}
	m.sp.Links = string(append(b, ']'))
	m.buf = b
	return nil
}

// appendSep starts a JSON array with open, or continues it with a comma.
func appendSep(b []byte, open byte) []byte {
	if len(b) == 0 {
		return append(b, open)
	}
	return append(b, ',')
}

// appendMapJSON writes attributes as a JSON object.
func appendMapJSON(b []byte, attrs pcommon.Map) ([]byte, error) {
	b = append(b, '{')
	first := true
	for k, v := range attrs.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = event.AppendQuoted(b, validUTF8(k))
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, v, 1); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func attrString(attrs pcommon.Map, key string) string {
	if v, ok := attrs.Get(key); ok {
		return validUTF8(v.AsString())
	}
	return ""
}
