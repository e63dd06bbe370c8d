package otlp

import (
	"net/http"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// tracesHTTP serves POST /v1/traces.
type tracesHTTP = signalHTTP[ptraceotlp.ExportRequest, ptraceotlp.ExportResponse]

// TracesHandler serves POST /v1/traces alone, for mounting on the main
// port.
func (r *Receiver) TracesHandler() http.Handler { return r.traces }

func newTracesHTTP(r *Receiver) *tracesHTTP {
	return &tracesHTTP{r: r, decode: decodeTraces, export: func(req *http.Request, ereq ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
		return r.exportTraces(req.Context(), ProtocolHTTP, ereq.Traces())
	}}
}

// decodeTraces decodes an OTLP/HTTP traces payload.
func decodeTraces(data []byte, enc wireEncoding) (ptraceotlp.ExportRequest, error) {
	req := ptraceotlp.NewExportRequest()
	return req, decodeRequest(req, data, enc, msgTracesRequest, "traces")
}
