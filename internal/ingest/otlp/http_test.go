package otlp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/store"
)

func marshalProto(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	return b
}

func marshalJSON(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalJSON()
	require.NoError(t, err)
	return b
}

// post sends body to url and returns the response with its body read.
func post(t *testing.T, url, contentType string, body []byte, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// decodeResponse decodes a successful OTLP/HTTP response in its encoding.
func decodeResponse(t *testing.T, resp *http.Response, body []byte) plogotlp.ExportResponse {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	r := plogotlp.NewExportResponse()
	switch ct := resp.Header.Get("Content-Type"); ct {
	case "application/x-protobuf":
		require.NoError(t, r.UnmarshalProto(body))
	case "application/json":
		require.NoError(t, r.UnmarshalJSON(body))
	default:
		t.Fatalf("response Content-Type %q", ct)
	}
	return r
}

// decodeStatus decodes an OTLP/HTTP error body in its encoding.
func decodeStatus(t *testing.T, resp *http.Response, body []byte) *spb.Status {
	t.Helper()
	s := &spb.Status{}
	switch ct := resp.Header.Get("Content-Type"); ct {
	case "application/x-protobuf":
		require.NoError(t, proto.Unmarshal(body, s))
	case "application/json":
		require.NoError(t, protojson.Unmarshal(body, s), string(body))
	default:
		t.Fatalf("error Content-Type %q", ct)
	}
	return s
}

func TestHTTPProtobuf(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()

	payload := marshalProto(t, sampleLogs())
	resp, body := post(t, srv.URL+"/v1/logs", "application/x-protobuf", payload, nil)
	r := decodeResponse(t, resp, body)
	require.Equal(t, "application/x-protobuf", resp.Header.Get("Content-Type"))
	require.Zero(t, r.PartialSuccess().RejectedLogRecords())
	require.Empty(t, r.PartialSuccess().ErrorMessage())

	events := env.scan(t, "checkout")
	require.Len(t, events, 1)
	ev := events[0]
	require.Equal(t, "checkout", ev.Group)
	require.Equal(t, "pod-7", ev.Stream)
	require.Equal(t, testTime.UnixMilli(), ev.Time)
	require.Equal(t, "payment declined", ev.Message)
	require.Equal(t, sampleFields, fieldTexts(ev))

	require.InDelta(t, float64(len(payload)), testutil.ToFloat64(env.metrics.Bytes.WithLabelValues(ProtocolHTTP)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(env.metrics.EventsAccepted.WithLabelValues(ProtocolHTTP)), 0)
}

func TestHTTPJSON(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()

	ld := sampleLogs()
	body := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body()
	m := body.SetEmptyMap()
	m.PutStr("msg", "payment declined")
	m.PutInt("status", 402)
	resp, rb := post(t, srv.URL+"/v1/logs?group=web", "application/json; charset=utf-8", marshalJSON(t, ld), nil)
	r := decodeResponse(t, resp, rb)
	require.Zero(t, r.PartialSuccess().RejectedLogRecords())

	events := env.scan(t, "web")
	require.Len(t, events, 1)
	require.Equal(t, `{"msg":"payment declined","status":402}`, events[0].Message)
	f := fieldTexts(events[0])
	require.Equal(t, "string:payment declined", f["body.msg"])
	require.Equal(t, "int:402", f["body.status"])
	require.Equal(t, "id128:4bf92f3577b34da6a3ce929d0e0e4736", f["traceId"])
	require.Equal(t, "id64:00f067aa0ba902b7", f["spanId"])
	require.Equal(t, "string:checkout", f["resource.attributes.service.name"])
}

func TestHTTPGzipOnMainPort(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{})
	mux := http.NewServeMux()
	mux.Handle("POST /v1/logs", env.recv.LogsHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(marshalProto(t, sampleLogs()))
	require.NoError(t, err)
	require.NoError(t, zw.Close())

	resp, body := post(t, srv.URL+"/v1/logs", "application/x-protobuf", gz.Bytes(), http.Header{
		"Content-Encoding": {"gzip"},
		HeaderLogGroup:     {"payments"},
	})
	decodeResponse(t, resp, body)
	events := env.scan(t, "payments")
	require.Len(t, events, 1)
	require.Equal(t, sampleFields, fieldTexts(events[0]))
	// Bytes counts what came over the wire, compressed.
	require.InDelta(t, float64(gz.Len()), testutil.ToFloat64(env.metrics.Bytes.WithLabelValues(ProtocolHTTP)), 0)
}

func TestHTTPPartialSuccess(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{MaxEventBytes: 64})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("short")
	lrs.AppendEmpty().Body().SetStr(strings.Repeat("x", 65))
	lrs.AppendEmpty().Body().SetStr("also short")

	for _, enc := range []struct {
		contentType string
		payload     []byte
	}{
		{"application/x-protobuf", marshalProto(t, ld)},
		{"application/json", marshalJSON(t, ld)},
	} {
		resp, body := post(t, srv.URL+"/v1/logs", enc.contentType, enc.payload, nil)
		r := decodeResponse(t, resp, body)
		require.Equal(t, enc.contentType, resp.Header.Get("Content-Type"))
		require.Equal(t, int64(1), r.PartialSuccess().RejectedLogRecords())
		require.Equal(t, "1 of 3 log records rejected: resource 0 scope 0 record 1: log record of 65 bytes is larger than the 64-byte limit",
			r.PartialSuccess().ErrorMessage())
	}
	events := env.scan(t, "api")
	require.Len(t, events, 4)
	require.InDelta(t, 2, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolHTTP, "too_large")), 0)
	require.InDelta(t, 4, testutil.ToFloat64(env.metrics.EventsAccepted.WithLabelValues(ProtocolHTTP)), 0)
}

func TestHTTPErrors(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{MaxBodyBytes: 1 << 20})
	srv := httptest.NewServer(env.recv.Handler())
	defer srv.Close()

	deep := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` +
		strings.Repeat(`{"arrayValue":{"values":[`, 200) + strings.Repeat(`]}}`, 200) + `}]}]}]}`
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		header      http.Header
		wantStatus  int
		wantCode    codes.Code
		wantMsg     string
	}{
		{
			name: "bad protobuf", contentType: "application/x-protobuf", body: []byte{0x0a, 0x05, 0x01},
			wantStatus: 400, wantCode: codes.InvalidArgument, wantMsg: "decode OTLP protobuf logs: ",
		},
		{
			name: "bad JSON", contentType: "application/json", body: []byte(`{"resourceLogs":[{"scopeLogs":[{`),
			wantStatus: 400, wantCode: codes.InvalidArgument, wantMsg: "decode OTLP JSON logs: ",
		},
		{
			name: "JSON of the wrong type", contentType: "application/json", body: []byte(`{"resourceLogs":{"a":1}}`),
			wantStatus: 400, wantCode: codes.InvalidArgument, wantMsg: "decode OTLP JSON logs: ",
		},
		{
			name: "nested too deeply", contentType: "application/json", body: []byte(deep),
			wantStatus: 400, wantCode: codes.InvalidArgument, wantMsg: "decode OTLP JSON logs: payload nests values deeper than 128 levels",
		},
		{
			name: "wrong content type", contentType: "text/plain", body: []byte("hello"),
			wantStatus: 415, wantCode: codes.Unimplemented, wantMsg: `unsupported Content-Type "text/plain"`,
		},
		{
			name: "wrong method", method: http.MethodGet,
			wantStatus: 405, wantCode: codes.Unimplemented, wantMsg: "method GET not allowed",
		},
		{
			name: "bad group", path: "/v1/logs?group=a%0Ab", contentType: "application/json", body: []byte(`{}`),
			wantStatus: 400, wantCode: codes.InvalidArgument, wantMsg: "log group name contains a control character",
		},
		{
			name: "body too large", contentType: "application/x-protobuf", body: make([]byte, 1<<20+1),
			wantStatus: 413, wantCode: codes.InvalidArgument, wantMsg: "request body larger than 1048576 bytes",
		},
		{
			name: "unknown encoding", contentType: "application/json", body: []byte(`{}`), header: http.Header{"Content-Encoding": {"br"}},
			wantStatus: 415, wantCode: codes.Unimplemented, wantMsg: `unsupported Content-Encoding "br"`,
		},
		{
			name: "unknown path", path: "/v1/nope", contentType: "application/json",
			wantStatus: 404, wantCode: codes.NotFound, wantMsg: "no OTLP endpoint at /v1/nope",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.method == "" {
				tt.method = http.MethodPost
			}
			if tt.path == "" {
				tt.path = "/v1/logs"
			}
			req, err := http.NewRequestWithContext(context.Background(), tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			require.NoError(t, err)
			req.Header = tt.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))
			s := decodeStatus(t, resp, body)
			require.Equal(t, int32(tt.wantCode), s.GetCode())
			require.Contains(t, s.GetMessage(), tt.wantMsg)
			if tt.contentType == "application/x-protobuf" {
				require.Equal(t, "application/x-protobuf", resp.Header.Get("Content-Type"), "errors answer in the request's encoding")
			}
		})
	}
	// Nothing was stored, and the refused requests (undecodable, bad group)
	// were counted.
	_, err := env.store.Schema(context.Background(), UnknownService)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.InDelta(t, 6, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolHTTP, "invalid")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolHTTP, "too_large")), 0)
}

func TestHTTPBackpressure(t *testing.T) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("one")
	lrs.AppendEmpty().Body().SetStr("two")
	payload := marshalProto(t, ld)

	t.Run("busy", func(t *testing.T) {
		// A queue of one event cannot take a batch of two.
		env := newTestEnv(t, pipeline.Options{MaxQueuedEvents: 1}, Options{})
		srv := httptest.NewServer(env.recv.Handler())
		defer srv.Close()
		resp, body := post(t, srv.URL+"/v1/logs", "application/x-protobuf", payload, nil)
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		require.Equal(t, "1", resp.Header.Get("Retry-After"))
		s := decodeStatus(t, resp, body)
		require.Equal(t, int32(codes.ResourceExhausted), s.GetCode())
		require.Equal(t, pipeline.ErrBusy.Error(), s.GetMessage())
		err := env.store.Scan(context.Background(), store.ScanRequest{Group: UnknownService}, func(*event.Event) error { return nil })
		require.ErrorIs(t, err, store.ErrNotFound)
		require.InDelta(t, 2, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolHTTP, "busy")), 0)
	})
	t.Run("closed", func(t *testing.T) {
		env := newTestEnv(t, pipeline.Options{}, Options{})
		srv := httptest.NewServer(env.recv.Handler())
		defer srv.Close()
		env.pipe.Close()
		resp, body := post(t, srv.URL+"/v1/logs", "application/json", marshalJSON(t, ld), nil)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.Equal(t, "5", resp.Header.Get("Retry-After"))
		s := decodeStatus(t, resp, body)
		require.Equal(t, int32(codes.Unavailable), s.GetCode())
		require.Equal(t, pipeline.ErrClosed.Error(), s.GetMessage())
		require.InDelta(t, 2, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolHTTP, "unavailable")), 0)
	})
}
