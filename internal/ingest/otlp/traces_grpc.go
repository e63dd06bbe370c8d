package otlp

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// tracesGRPC implements ptraceotlp.GRPCServer.
type tracesGRPC struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

var tracesSizer ptrace.ProtoMarshaler

// Export implements ptraceotlp.GRPCServer.
func (s *tracesGRPC) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := req.Traces()
	s.r.countBytes(ProtocolGRPC, int64(tracesSizer.TracesSize(td)))
	resp, err := s.r.exportTraces(ctx, ProtocolGRPC, td)
	if err != nil {
		return ptraceotlp.ExportResponse{}, s.r.grpcError(err)
	}
	return resp, nil
}
