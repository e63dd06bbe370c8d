package otlp

import (
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/ingest"
)

// tracesHTTP serves POST /v1/traces.
type tracesHTTP struct{ r *Receiver }

// TracesHandler serves POST /v1/traces alone, for mounting on the main
// port.
func (r *Receiver) TracesHandler() http.Handler { return r.traces }

// ServeHTTP implements http.Handler.
func (h *tracesHTTP) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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
	resp, err := h.export(req, enc)
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

func (h *tracesHTTP) export(req *http.Request, enc wireEncoding) (ptraceotlp.ExportResponse, error) {
	body, err := ingest.ReadBody(req, h.r.opts.MaxBodyBytes)
	if err != nil {
		reason := "invalid"
		if st, _ := apierr.Status(err); st == http.StatusRequestEntityTooLarge {
			reason = "too_large"
		}
		h.r.countRequest(ProtocolHTTP, reason)
		return ptraceotlp.ExportResponse{}, err
	}
	h.r.countBytes(ProtocolHTTP, body.Wire)
	ereq, err := decodeTraces(body.Bytes(), enc)
	body.Release()
	if err != nil {
		h.r.countRequest(ProtocolHTTP, "invalid")
		return ptraceotlp.ExportResponse{}, err
	}
	return h.r.exportTraces(req.Context(), ProtocolHTTP, ereq.Traces())
}

// decodeTraces decodes an OTLP/HTTP traces payload. Errors are client
// errors (400) with the decoder's reason.
func decodeTraces(data []byte, enc wireEncoding) (ptraceotlp.ExportRequest, error) {
	req := ptraceotlp.NewExportRequest()
	switch enc {
	case encodingProto:
		if err := checkTracesProtoDepth(data); err != nil {
			return req, apierr.BadRequest("decode OTLP protobuf traces: %v", err)
		}
		if err := req.UnmarshalProto(data); err != nil {
			return req, apierr.BadRequest("decode OTLP protobuf traces: %v", err)
		}
	case encodingJSON:
		if err := checkJSONDepth(data); err != nil {
			return req, apierr.BadRequest("decode OTLP JSON traces: %v", err)
		}
		if err := req.UnmarshalJSON(data); err != nil {
			return req, apierr.BadRequest("decode OTLP JSON traces: %v", err)
		}
	default:
		panic("BUG: unknown OTLP encoding " + strconv.Itoa(int(enc)))
	}
	return req, nil
}
