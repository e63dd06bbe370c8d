package otlp

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/ingest"
)

// HeaderLogGroup names the log group of an OTLP/HTTP request, overriding
// service.name, like the "group" query parameter (which wins when both are
// given).
const HeaderLogGroup = "X-Sonde-Log-Group"

// wireEncoding is an OTLP/HTTP payload encoding. Responses use the
// request's encoding, as the OTLP specification asks.
type wireEncoding uint8

const (
	encodingProto wireEncoding = iota + 1
	encodingJSON
)

func (e wireEncoding) contentType() string {
	if e == encodingProto {
		return "application/x-protobuf"
	}
	return "application/json"
}

// requestEncoding reads the request's Content-Type.
func requestEncoding(r *http.Request) (wireEncoding, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return 0, false
	}
	switch mt {
	case "application/x-protobuf":
		return encodingProto, true
	case "application/json":
		return encodingJSON, true
	}
	return 0, false
}

// exportRequest is what the three pdata export requests have in common.
type exportRequest interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

// exportResponse is what the three pdata export responses have in common.
type exportResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// signalHTTP serves POST /v1/logs, /v1/traces or /v1/metrics. Everything
// but decoding and storing one signal is common to the three: the method
// and Content-Type checks, the body limit, the counters and the response
// in the request's encoding.
type signalHTTP[Req exportRequest, Resp exportResponse] struct {
	r *Receiver
	// decode decodes a payload; its errors are client errors (400).
	decode func(data []byte, enc wireEncoding) (Req, error)
	// export stores a decoded request.
	export func(req *http.Request, ereq Req) (Resp, error)
}

// ServeHTTP implements http.Handler.
func (h *signalHTTP[Req, Resp]) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.r.writeError(w, encodingJSON, apierr.MethodNotAllowed(req.Method))
		return
	}
	enc, ok := requestEncoding(req)
	if !ok {
		h.r.writeError(w, encodingJSON, &apierr.Error{
			Status: http.StatusUnsupportedMediaType,
			Msg:    fmt.Sprintf("unsupported Content-Type %q (want application/x-protobuf or application/json)", req.Header.Get("Content-Type")),
		})
		return
	}
	resp, err := h.serve(req, enc)
	if err != nil {
		h.r.writeError(w, enc, err)
		return
	}
	var body []byte
	if enc == encodingProto {
		body, err = resp.MarshalProto()
	} else {
		body, err = resp.MarshalJSON()
	}
	if err != nil {
		h.r.writeError(w, enc, fmt.Errorf("encode OTLP response: %w", err))
		return
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (h *signalHTTP[Req, Resp]) serve(req *http.Request, enc wireEncoding) (Resp, error) {
	var zero Resp
	body, err := ingest.ReadBody(req, h.r.opts.MaxBodyBytes)
	if err != nil {
		reason := "invalid"
		if st, _ := apierr.Status(err); st == http.StatusRequestEntityTooLarge {
			reason = "too_large"
		}
		h.r.countRequest(ProtocolHTTP, reason)
		return zero, err
	}
	h.r.countBytes(ProtocolHTTP, body.Wire)
	// The decoders copy what they keep, so the buffer can go back now, even
	// if the pipeline is still to read the events after Submit gives up.
	ereq, err := h.decode(body.Bytes(), enc)
	body.Release()
	if err != nil {
		h.r.countRequest(ProtocolHTTP, "invalid")
		return zero, err
	}
	return h.export(req, ereq)
}

// decodeRequest decodes an OTLP/HTTP payload into ereq, after the nesting
// guard from root. Errors are client errors (400) with the decoder's
// reason; signal names the payload in them.
func decodeRequest(ereq exportRequest, data []byte, enc wireEncoding, root msgKind, signal string) error {
	switch enc {
	case encodingProto:
		if err := checkProtoDepth(data, root); err != nil {
			return apierr.BadRequest("decode OTLP protobuf %s: %v", signal, err)
		}
		if err := ereq.UnmarshalProto(data); err != nil {
			return apierr.BadRequest("decode OTLP protobuf %s: %v", signal, err)
		}
	case encodingJSON:
		if err := checkJSONDepth(data); err != nil {
			return apierr.BadRequest("decode OTLP JSON %s: %v", signal, err)
		}
		if err := ereq.UnmarshalJSON(data); err != nil {
			return apierr.BadRequest("decode OTLP JSON %s: %v", signal, err)
		}
	default:
		panic("BUG: unknown OTLP encoding " + strconv.Itoa(int(enc)))
	}
	return nil
}

// logsHTTP serves POST /v1/logs.
type logsHTTP = signalHTTP[plogotlp.ExportRequest, plogotlp.ExportResponse]

func newLogsHTTP(r *Receiver) *logsHTTP {
	return &logsHTTP{r: r, decode: decodeLogs, export: r.exportLogsHTTP}
}

// exportLogsHTTP stores a logs request in the log group named by the
// "group" parameter or the X-Sonde-Log-Group header, if any.
func (r *Receiver) exportLogsHTTP(req *http.Request, ereq plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	group := req.URL.Query().Get("group")
	if group == "" {
		group = req.Header.Get(HeaderLogGroup)
	}
	if group != "" {
		if err := ingest.CheckName("log group", group, false); err != nil {
			r.countRequest(ProtocolHTTP, "invalid")
			return plogotlp.ExportResponse{}, err
		}
	}
	return r.exportLogs(req.Context(), ProtocolHTTP, group, ereq.Logs())
}

// decodeLogs decodes an OTLP/HTTP logs payload.
func decodeLogs(data []byte, enc wireEncoding) (plogotlp.ExportRequest, error) {
	req := plogotlp.NewExportRequest()
	return req, decodeRequest(req, data, enc, msgLogsRequest, "logs")
}

// writeError answers with err's status (from apierr.Status, so that every
// endpoint classifies errors alike), a Retry-After header when retrying
// helps, and a google.rpc.Status body in enc. Server faults are logged.
func (r *Receiver) writeError(w http.ResponseWriter, enc wireEncoding, err error) {
	st, retry := apierr.Status(err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if st >= 500 {
		r.log.Error("OTLP request failed", "status", st, "err", err)
	}
	writeStatus(w, enc, st, err.Error())
}

// writeStatus writes an OTLP/HTTP error: the HTTP status and a
// google.rpc.Status with the matching gRPC code and msg.
func writeStatus(w http.ResponseWriter, enc wireEncoding, httpStatus int, msg string) {
	s := status.New(grpcCode(httpStatus), validUTF8(msg)).Proto()
	var body []byte
	var err error
	if enc == encodingProto {
		body, err = proto.Marshal(s)
	} else {
		body, err = protojson.Marshal(s)
	}
	if err != nil {
		// A Status of a code and a valid UTF-8 string always encodes.
		panic(fmt.Sprintf("BUG: encode google.rpc.Status: %v", err))
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// grpcCode maps an HTTP status to the gRPC code with the same meaning for
// an OTLP client: retryable statuses map to retryable codes.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusOK:
		return codes.OK
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		return codes.Unimplemented
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	}
	if httpStatus >= 400 && httpStatus < 500 {
		return codes.InvalidArgument
	}
	return codes.Internal
}
