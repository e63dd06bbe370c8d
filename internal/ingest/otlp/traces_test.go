package otlp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

var (
	spanStart = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	tid       = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	rootID    = pcommon.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	childID   = pcommon.SpanID{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}
)

// sampleTraces is a checkout service's server span (new HTTP semantic
// conventions, an annotation, an exception) and its database client span.
func sampleTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("service.instance.id", "pod-7")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("net/http")
	ss.Scope().SetVersion("0.70.0")

	s := ss.Spans().AppendEmpty()
	s.SetTraceID(tid)
	s.SetSpanID(rootID)
	s.SetName("POST /api/checkout")
	s.SetKind(ptrace.SpanKindServer)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(spanStart))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(spanStart.Add(12345678 * time.Nanosecond)))
	s.Status().SetCode(ptrace.StatusCodeError)
	s.Status().SetMessage("payment declined")
	a := s.Attributes()
	a.PutStr("http.request.method", "POST")
	a.PutStr("http.route", "/api/checkout")
	a.PutInt("http.response.status_code", 502)
	a.PutStr("url.scheme", "https")
	a.PutStr("server.address", "shop.example.com")
	a.PutStr("url.path", "/api/checkout")
	a.PutStr("url.query", "v=2")
	a.PutStr("user_agent.original", "curl/8.5")
	a.PutStr("client.address", "10.1.2.3")
	a.PutStr("enduser.id", "alice")
	a.PutStr("PaymentStatus", "FAILED")
	a.PutInt("cart.items", 3)
	a.PutEmptySlice("aws.xray.annotations").AppendEmpty().SetStr("PaymentStatus")
	ev := s.Events().AppendEmpty()
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.type", "PaymentError")
	ev.Attributes().PutStr("exception.message", "card declined")
	ev.Attributes().PutStr("exception.stacktrace", "at pay()")
	ev2 := s.Events().AppendEmpty()
	ev2.SetName("retry")
	ev2.SetTimestamp(pcommon.NewTimestampFromTime(spanStart.Add(time.Millisecond)))
	ev2.Attributes().PutInt("attempt", 2)
	l := s.Links().AppendEmpty()
	l.SetTraceID(tid)
	l.SetSpanID(childID)

	c := ss.Spans().AppendEmpty()
	c.SetTraceID(tid)
	c.SetSpanID(childID)
	c.SetParentSpanID(rootID)
	c.SetName("SELECT orders")
	c.SetKind(ptrace.SpanKindClient)
	c.SetStartTimestamp(pcommon.NewTimestampFromTime(spanStart.Add(time.Millisecond)))
	c.SetEndTimestamp(pcommon.NewTimestampFromTime(spanStart.Add(3 * time.Millisecond)))
	c.Attributes().PutStr("db.system", "postgresql")
	c.Attributes().PutStr("db.name", "orders")
	c.Attributes().PutStr("server.address", "db.internal")
	c.Attributes().PutInt("server.port", 5432)
	return td
}

func TestMapTraces(t *testing.T) {
	events, res := mapTraces(sampleTraces(), time.Now(), limits{maxEventBytes: 1 << 20, maxFields: 200})
	require.Equal(t, 0, res.rejected())
	require.Len(t, events, 2)
	root := events[0]
	require.Equal(t, span.Group, root.Group)
	require.Equal(t, "pod-7", root.Stream)
	require.Equal(t, spanStart.UnixMilli(), root.Time)
	require.Equal(t, "POST /api/checkout", root.Message)
	require.Equal(t, map[string]string{
		"traceId":                   "id128:4bf92f3577b34da6a3ce929d0e0e4736",
		"spanId":                    "id64:00f067aa0ba902b7",
		"service":                   "string:checkout",
		"name":                      "string:POST /api/checkout",
		"kind":                      "string:server",
		"startUs":                   "int:1772366400123456",
		"durationMs":                "float:12.346",
		"status":                    "string:fault",
		"statusMessage":             "string:payment declined",
		"http.method":               "string:POST",
		"http.route":                "string:/api/checkout",
		"http.status_code":          "int:502",
		"http.url":                  "string:https://shop.example.com/api/checkout?v=2",
		"http.user_agent":           "string:curl/8.5",
		"http.client_ip":            "ipv4:10.1.2.3",
		"user":                      "string:alice",
		"exception.type":            "string:PaymentError",
		"exception.message":         "string:card declined",
		"exceptions":                `string:[{"type":"PaymentError","message":"card declined","stack":"at pay()"}]`,
		"events":                    `string:[{"name":"retry","timeUs":1772366400124456,"attributes":{"attempt":2}}]`,
		"links":                     `string:[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"53995c3f42cd8ad8"}]`,
		"annotation.PaymentStatus":  "string:FAILED",
		"attributes.url.scheme":     "string:https",
		"attributes.server.address": "string:shop.example.com",
		"attributes.url.path":       "string:/api/checkout",
		"attributes.url.query":      "string:v=2",
		"attributes.enduser.id":     "string:alice",
		"attributes.cart.items":     "int:3",
		"resource.attributes.service.instance.id": "string:pod-7",
		"scope.name":    "string:net/http",
		"scope.version": "string:0.70.0",
	}, fieldTexts(root))

	child := fieldTexts(events[1])
	require.Equal(t, "id64:00f067aa0ba902b7", child["parentSpanId"])
	require.Equal(t, "string:client", child["kind"])
	require.Equal(t, "string:ok", child["status"])
	require.Equal(t, "float:2", child["durationMs"])
	require.Equal(t, "string:orders@db.internal:5432", child["peer"])
	require.Equal(t, "string:database", child["peerType"])
	require.Equal(t, "string:postgresql", child["attributes.db.system"])
}

func TestMapTracesStatusAndPeers(t *testing.T) {
	tests := []struct {
		kind   ptrace.SpanKind
		code   ptrace.StatusCode
		attrs  map[string]any
		status string
		peer   string
	}{
		{ptrace.SpanKindServer, ptrace.StatusCodeUnset, map[string]any{"http.status_code": int64(404)}, "error", ""},
		{ptrace.SpanKindServer, ptrace.StatusCodeUnset, map[string]any{"http.status_code": "429"}, "throttle", ""},
		{ptrace.SpanKindServer, ptrace.StatusCodeError, nil, "fault", ""},
		{ptrace.SpanKindServer, ptrace.StatusCodeOk, map[string]any{"http.status_code": int64(503)}, "fault", ""},
		{ptrace.SpanKindClient, ptrace.StatusCodeUnset, map[string]any{"http.method": "GET", "http.url": "http://user@api.example.com:8443/x?y"}, "ok", "api.example.com:8443|http"},
		{ptrace.SpanKindClient, ptrace.StatusCodeUnset, map[string]any{"peer.service": "billing", "http.request.method": "GET"}, "ok", "billing|http"},
		{ptrace.SpanKindClient, ptrace.StatusCodeUnset, map[string]any{"rpc.system": "aws-api", "rpc.service": "DynamoDB"}, "ok", "DynamoDB|aws"},
		{ptrace.SpanKindClient, ptrace.StatusCodeUnset, map[string]any{"rpc.system": "grpc", "rpc.service": "shop.Cart"}, "ok", "shop.Cart|rpc"},
		{ptrace.SpanKindProducer, ptrace.StatusCodeUnset, map[string]any{"messaging.system": "kafka", "messaging.destination.name": "orders"}, "ok", "orders|messaging"},
		{ptrace.SpanKindClient, ptrace.StatusCodeUnset, map[string]any{"db.system": "redis", "net.peer.name": "cache", "net.peer.port": int64(6379)}, "ok", "redis@cache:6379|database"},
		{ptrace.SpanKindInternal, ptrace.StatusCodeUnset, map[string]any{"peer.service": "ignored"}, "ok", ""},
	}
	for i, tc := range tests {
		td := ptrace.NewTraces()
		s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(rootID)
		s.SetKind(tc.kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(spanStart))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(spanStart))
		s.Status().SetCode(tc.code)
		require.NoError(t, s.Attributes().FromRaw(tc.attrs))
		events, res := mapTraces(td, time.Now(), limits{maxEventBytes: 1 << 20, maxFields: 200})
		require.Equal(t, 0, res.rejected())
		f := fieldTexts(events[0])
		require.Equal(t, "string:"+tc.status, f["status"], i)
		peer := ""
		if f["peer"] != "" {
			peer = f["peer"][len("string:"):] + "|" + f["peerType"][len("string:"):]
		}
		require.Equal(t, tc.peer, peer, i)
		require.Equal(t, "string:unknown_service", f["service"])
	}
}

func TestMapTracesRejects(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	noTrace := spans.AppendEmpty()
	noTrace.SetSpanID(rootID)
	noSpan := spans.AppendEmpty()
	noSpan.SetTraceID(tid)
	big := spans.AppendEmpty()
	big.SetTraceID(tid)
	big.SetSpanID(rootID)
	big.Attributes().PutStr("blob", string(make([]byte, 4096)))
	ok := spans.AppendEmpty()
	ok.SetTraceID(tid)
	ok.SetSpanID(childID)
	// No timestamps at all: the span happened now.
	now := time.Unix(1800000000, 0)
	events, res := mapTraces(td, now, limits{maxEventBytes: 1024, maxFields: 200})
	require.Len(t, events, 1)
	require.Equal(t, now.UnixMilli(), events[0].Time)
	require.Equal(t, 2, res.invalid)
	require.Equal(t, 1, res.tooLarge)
	require.Equal(t, "3 of 4 spans rejected: resource 0 scope 0 span 0: trace id is missing or zero; "+
		"resource 0 scope 0 span 1: span id is missing or zero; resource 0 scope 0 span 2: span of 4239 bytes is larger than the 1024-byte limit",
		res.message("spans"))
}

func TestMapTracesFieldCap(t *testing.T) {
	td := sampleTraces()
	// The span's own fields (21 here) are never dropped; the others are,
	// beyond the cap.
	events, res := mapTraces(td, time.Now(), limits{maxEventBytes: 1 << 20, maxFields: 25})
	require.Len(t, events, 2)
	require.Len(t, events[0].Fields, 25)
	require.Equal(t, "attributes.url.scheme", events[0].Fields[21].Name)
	require.Equal(t, 6, res.truncated)
}

func TestTracesHTTP(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()
	body, err := ptraceotlp.NewExportRequestFromTraces(sampleTraces()).MarshalProto()
	require.NoError(t, err)
	resp, rb := post(t, srv.URL+TracesPath, "application/x-protobuf", body, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(rb))
	require.Equal(t, "application/x-protobuf", resp.Header.Get("Content-Type"))
	r := ptraceotlp.NewExportResponse()
	require.NoError(t, r.UnmarshalProto(rb))
	require.Equal(t, int64(0), r.PartialSuccess().RejectedSpans())

	// JSON, with one span without ids: a partial success.
	td := sampleTraces()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty().SetName("no ids")
	body, err = ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	require.NoError(t, err)
	resp, rb = post(t, srv.URL+TracesPath, "application/json", body, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(rb))
	r = ptraceotlp.NewExportResponse()
	require.NoError(t, r.UnmarshalJSON(rb))
	require.Equal(t, int64(1), r.PartialSuccess().RejectedSpans())
	require.Contains(t, r.PartialSuccess().ErrorMessage(), "span 2: trace id is missing or zero")
	require.Equal(t, 1.0, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolHTTP, "invalid")))

	events := env.scan(t, span.Group)
	require.Len(t, events, 4)
	require.Equal(t, 4.0, testutil.ToFloat64(env.metrics.EventsAccepted.WithLabelValues(ProtocolHTTP)))

	resp, rb = post(t, srv.URL+TracesPath, "application/x-protobuf", []byte{0xff, 0xff}, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, decodeStatus(t, resp, rb).GetMessage(), "decode OTLP protobuf traces")
	resp, _ = post(t, srv.URL+TracesPath, "text/plain", body, nil)
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)

	// Logs still work next to traces.
	resp, rb = post(t, srv.URL+LogsPath, "application/x-protobuf", marshalProto(t, sampleLogs()), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(rb))
}

func TestTracesHTTPBackpressure(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{MaxQueuedEvents: 1}, Options{})
	srv := httptest.NewServer(env.recv.TracesHandler())
	defer srv.Close()
	body, err := ptraceotlp.NewExportRequestFromTraces(sampleTraces()).MarshalProto()
	require.NoError(t, err)
	resp, _ := post(t, srv.URL, "application/x-protobuf", body, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
}

func TestTracesGRPC(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	addr := startGRPC(t, env.recv)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	c := ptraceotlp.NewGRPCClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces()))
	require.NoError(t, err)
	require.Equal(t, int64(0), resp.PartialSuccess().RejectedSpans())
	require.Len(t, env.scan(t, span.Group), 2)

	// The nesting guard covers trace payloads too.
	_, err = c.Export(ctx, ptraceotlp.NewExportRequestFromTraces(deepTraces(maxWireDepth+1)))
	require.Equal(t, codes.Internal, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "payload nests values deeper than 128 levels")
	resp, err = c.Export(ctx, ptraceotlp.NewExportRequestFromTraces(deepTraces(maxWireDepth)))
	require.NoError(t, err)
	require.Equal(t, int64(1), resp.PartialSuccess().RejectedSpans())
}

// deepTraces is a span whose event attribute nests n arrays.
func deepTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetTraceID(tid)
	s.SetSpanID(rootID)
	v := s.Events().AppendEmpty().Attributes().PutEmptySlice("deep")
	for range n - 1 {
		v = v.AppendEmpty().SetEmptySlice()
	}
	return td
}

func TestCheckTracesProtoDepth(t *testing.T) {
	for _, n := range []int{maxWireDepth, maxWireDepth + 1} {
		b, err := ptraceotlp.NewExportRequestFromTraces(deepTraces(n)).MarshalProto()
		require.NoError(t, err)
		err = checkProtoDepth(b, msgTracesRequest)
		if n > maxWireDepth {
			require.Error(t, err)
		} else {
			require.NoError(t, err)
		}
	}
	// Links' attributes are walked too.
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	v := s.Links().AppendEmpty().Attributes().PutEmptySlice("deep")
	for range maxWireDepth {
		v = v.AppendEmpty().SetEmptySlice()
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	require.Error(t, checkProtoDepth(b, msgTracesRequest))
}

// FuzzDecodeTraces feeds the same bytes to the protobuf and the JSON
// decoders and maps whatever decodes: nothing may panic, and every span
// must become an event of the spans group or a counted rejection.
func FuzzDecodeTraces(f *testing.F) {
	for _, td := range []ptrace.Traces{sampleTraces(), deepTraces(10)} {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(f, err)
		f.Add(b)
		j, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
		require.NoError(f, err)
		f.Add(j)
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"\u00ff\ud800"}]}]}]}`))
	f.Add([]byte{})
	lim := limits{maxEventBytes: 2048, maxFields: 40}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, enc := range []wireEncoding{encodingProto, encodingJSON} {
			req, err := decodeTraces(data, enc)
			if err != nil {
				continue
			}
			td := req.Traces()
			events, res := mapTraces(td, time.Unix(1700000000, 0), lim)
			if got, want := len(events)+res.rejected(), td.SpanCount(); got != want {
				t.Fatalf("%d events and %d rejections for %d spans", len(events), res.rejected(), want)
			}
			for _, ev := range events {
				if ev.Group != span.Group || len(ev.Fields) > lim.maxFields {
					t.Fatalf("event of group %q with %d fields", ev.Group, len(ev.Fields))
				}
				var sawTrace bool
				for _, fl := range ev.Fields {
					if fl.Name == span.FieldTraceID {
						sawTrace = fl.Kind == event.KindID128
					}
				}
				if !sawTrace {
					t.Fatalf("event without a binary trace id: %v", ev.Fields)
				}
			}
		}
	})
}
