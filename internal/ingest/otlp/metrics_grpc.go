package otlp

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// metricsGRPC implements pmetricotlp.GRPCServer.
type metricsGRPC struct {
	pmetricotlp.UnimplementedGRPCServer
	r *Receiver
}

var metricsSizer pmetric.ProtoMarshaler

// Export implements pmetricotlp.GRPCServer.
func (s *metricsGRPC) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := req.Metrics()
	s.r.countBytes(ProtocolGRPC, int64(metricsSizer.MetricsSize(md)))
	resp, err := s.r.exportMetrics(ctx, ProtocolGRPC, md)
	if err != nil {
		return pmetricotlp.ExportResponse{}, s.r.grpcError(err)
	}
	return resp, nil
}
