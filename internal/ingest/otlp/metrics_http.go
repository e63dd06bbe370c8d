package otlp

import (
	"net/http"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// metricsHTTP serves POST /v1/metrics.
type metricsHTTP = signalHTTP[pmetricotlp.ExportRequest, pmetricotlp.ExportResponse]

// MetricsHandler serves POST /v1/metrics alone, for mounting on the main
// port. It is nil when the receiver has no MetricStore.
func (r *Receiver) MetricsHandler() http.Handler {
	if r.metrics == nil {
		return nil
	}
	return r.metrics
}

func newMetricsHTTP(r *Receiver) *metricsHTTP {
	return &metricsHTTP{r: r, decode: decodeMetrics, export: func(req *http.Request, ereq pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
		return r.exportMetrics(req.Context(), ProtocolHTTP, ereq.Metrics())
	}}
}

// decodeMetrics decodes an OTLP/HTTP metrics payload.
func decodeMetrics(data []byte, enc wireEncoding) (pmetricotlp.ExportRequest, error) {
	req := pmetricotlp.NewExportRequest()
	return req, decodeRequest(req, data, enc, msgMetricsRequest, "metrics")
}
