package otlp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/store"
)

// MetricsPath is the OTLP/HTTP metrics endpoint, fixed by the OTLP
// specification.
const MetricsPath = "/v1/metrics"

// OTLP metrics go to the metric store through Prometheus' own OTLP
// translator (storage/remote/otlptranslator), with Prometheus' default
// OTLP settings, so that every metric is named as Prometheus names it when
// it receives OTLP itself: a monotonic sum "http.server.requests" of unit
// "1" is http_server_requests_total, a histogram of unit "s" is
// ..._seconds_bucket/_sum/_count, an exponential histogram is a native
// histogram, a summary is quantile series with _sum and _count; resource
// attributes service.namespace/service.name and service.instance.id become
// job and instance, and the others target_info.
//
// Cumulative temporality is stored; delta temporality is refused (as
// Prometheus does by default): configure OpenTelemetry SDKs with the
// cumulative temporality preference, their default.
//
// A request is answered once its samples are committed to the metric store
// (durable as described in package metrics). Data points that cannot be
// stored (delta temporality, samples the TSDB refuses: out of order, too
// old, more than 10 minutes ahead) are reported in the response's
// partial_success, and the rest is kept. When metricsMaxWrites exports are
// being written, a request waits up to metricsWait for its turn, then gets
// HTTP 429 or gRPC ResourceExhausted with a retry delay; when the metric
// store cannot take writes, HTTP 503 or gRPC Unavailable.
const (
	metricsWait         = 5 * time.Second
	metricsMaxAheadTime = 10 * time.Minute
)

// metricsSink holds what the metrics endpoints share.
type metricsSink struct {
	store    storage.AppendableV2
	slots    chan struct{}
	wait     time.Duration // for a slot, before answering busy
	settings prometheusremotewrite.Settings
	points   *prometheus.CounterVec // by protocol and outcome, nil without Metrics
}

func newMetricsSink(r *Receiver, maxWrites int) *metricsSink {
	cfg := promconfig.DefaultOTLPConfig
	s := &metricsSink{
		store: r.opts.MetricStore,
		slots: make(chan struct{}, maxWrites),
		wait:  metricsWait,
		settings: prometheusremotewrite.Settings{
			AddMetricSuffixes:                    cfg.TranslationStrategy.ShouldAddSuffixes(),
			AllowUTF8:                            !cfg.TranslationStrategy.ShouldEscape(),
			PromoteResourceAttributes:            prometheusremotewrite.NewPromoteResourceAttributes(cfg),
			KeepIdentifyingResourceAttributes:    cfg.KeepIdentifyingResourceAttributes,
			ConvertHistogramsToNHCB:              cfg.ConvertHistogramsToNHCB,
			PromoteScopeMetadata:                 cfg.PromoteScopeMetadata,
			LookbackDelta:                        r.opts.LookbackDelta,
			LabelNameUnderscoreSanitization:      cfg.LabelNameUnderscoreSanitization,
			LabelNamePreserveMultipleUnderscores: cfg.LabelNamePreserveMultipleUnderscores,
		},
	}
	if s.settings.LookbackDelta <= 0 {
		s.settings.LookbackDelta = 5 * time.Minute
	}
	if m := r.opts.Metrics; m != nil {
		s.points = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_ingest_otlp_metric_points_total",
			Help: "OTLP metric data points received, by protocol and outcome (accepted, rejected).",
		}, []string{"protocol", "outcome"})
		if err := m.Registry.Register(s.points); err != nil {
			r.log.Warn("Registering OTLP metrics counters failed", "err", err)
			s.points = nil
		}
	}
	return s
}

// acquire waits for a write slot.
func (s *metricsSink) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("too many OTLP metric exports at once: %w", pipeline.ErrBusy)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *metricsSink) release() { <-s.slots }

// exportMetrics writes a decoded request to the metric store and returns
// the response to send. The error is the whole request's: nothing of it
// may be reported as stored when it is not nil.
func (r *Receiver) exportMetrics(ctx context.Context, protocol string, md pmetric.Metrics) (pmetricotlp.ExportResponse, error) {
	s := r.metricsSink
	if p, ok := s.store.(interface{ Ping() error }); ok {
		if err := p.Ping(); err != nil {
			return pmetricotlp.ExportResponse{}, fmt.Errorf("metric store: %v: %w", err, store.ErrUnavailable)
		}
	}
	if err := s.acquire(ctx); err != nil {
		return pmetricotlp.ExportResponse{}, err
	}
	defer s.release()

	res := checkMetrics(md)
	app := &metricsAppender{
		AppenderV2: s.store.AppenderV2(ctx),
		maxTime:    time.Now().Add(metricsMaxAheadTime).UnixMilli(),
		failed:     map[uint64]struct{}{},
	}
	conv := prometheusremotewrite.NewPrometheusConverter(app)
	_, convErr := conv.FromMetrics(ctx, md, s.settings)
	if err := ctx.Err(); err != nil {
		_ = app.Rollback()
		return pmetricotlp.ExportResponse{}, err
	}
	if err := app.Commit(); err != nil {
		return pmetricotlp.ExportResponse{}, fmt.Errorf("commit OTLP metrics: %v: %w", err, store.ErrUnavailable)
	}
	res.rejected += len(app.failed)
	res.reasons = append(res.reasons, app.reasons...)
	if convErr != nil && len(res.reasons) < maxReasons {
		// What the translator refused that checkMetrics did not count
		// (the delta metrics it did are among these).
		for _, e := range splitJoined(convErr) {
			if !strings.Contains(e, "invalid temporality") && len(res.reasons) < maxReasons {
				res.reasons = append(res.reasons, e)
			}
		}
	}
	if s.points != nil {
		if n := res.total - res.rejected; n > 0 {
			s.points.WithLabelValues(protocol, "accepted").Add(float64(n))
		}
		if res.rejected > 0 {
			s.points.WithLabelValues(protocol, "rejected").Add(float64(res.rejected))
		}
	}
	resp := pmetricotlp.NewExportResponse()
	if res.rejected > 0 || len(res.reasons) > 0 {
		ps := resp.PartialSuccess()
		ps.SetRejectedDataPoints(int64(res.rejected))
		ps.SetErrorMessage(res.message())
	}
	return resp, nil
}

// metricsResult is what became of the data points of one export.
type metricsResult struct {
	total, rejected int
	reasons         []string
}

func (m *metricsResult) message() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d data points rejected", m.rejected, m.total)
	if len(m.reasons) > 0 {
		sb.WriteString(": ")
		sb.WriteString(strings.Join(m.reasons, "; "))
	}
	return validUTF8(sb.String())
}

// checkMetrics counts the data points of a request, and those the
// translator will refuse: sums and histograms that are not cumulative.
func checkMetrics(md pmetric.Metrics) *metricsResult {
	res := &metricsResult{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				n, temporality, hasTemporality := 0, pmetric.AggregationTemporalityCumulative, false
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					n = m.Gauge().DataPoints().Len()
				case pmetric.MetricTypeSum:
					n, temporality, hasTemporality = m.Sum().DataPoints().Len(), m.Sum().AggregationTemporality(), true
				case pmetric.MetricTypeHistogram:
					n, temporality, hasTemporality = m.Histogram().DataPoints().Len(), m.Histogram().AggregationTemporality(), true
				case pmetric.MetricTypeExponentialHistogram:
					n, temporality, hasTemporality = m.ExponentialHistogram().DataPoints().Len(), m.ExponentialHistogram().AggregationTemporality(), true
				case pmetric.MetricTypeSummary:
					n = m.Summary().DataPoints().Len()
				}
				res.total += n
				if hasTemporality && temporality != pmetric.AggregationTemporalityCumulative && n > 0 {
					res.rejected += n
					if len(res.reasons) < maxReasons {
						res.reasons = append(res.reasons, fmt.Sprintf("metric %q has %s temporality: only cumulative is stored", m.Name(), strings.ToLower(temporality.String())))
					}
				}
			}
		}
	}
	return res
}

// splitJoined lists the messages of an errors.Join.
func splitJoined(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

// metricsAppender is the translator's appender: it refuses samples too far
// in the future, lowers the resolution of native histograms the TSDB
// cannot store, and records the samples the TSDB refuses instead of
// failing the translation, so that the rest of the request is stored.
type metricsAppender struct {
	storage.AppenderV2
	maxTime int64
	// failed holds the data points with a refused sample, by the hash of
	// their labels (without __name__, le and quantile) and timestamp.
	failed  map[uint64]struct{}
	reasons []string
	buf     []byte
}

// Append implements storage.AppenderV2.
func (a *metricsAppender) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	var err error
	if t > a.maxTime {
		err = fmt.Errorf("%w: timestamp is more than %v in the future", storage.ErrOutOfBounds, metricsMaxAheadTime)
	} else {
		if h != nil && histogram.IsExponentialSchemaReserved(h.Schema) && h.Schema > histogram.ExponentialSchemaMax {
			err = h.ReduceResolution(histogram.ExponentialSchemaMax)
		}
		if fh != nil && err == nil && histogram.IsExponentialSchemaReserved(fh.Schema) && fh.Schema > histogram.ExponentialSchemaMax {
			err = fh.ReduceResolution(histogram.ExponentialSchemaMax)
		}
		if err == nil {
			ref, err = a.AppenderV2.Append(ref, ls, st, t, v, h, fh, opts)
		}
	}
	if err == nil {
		return ref, nil
	}
	var partial *storage.AppendPartialError
	if errors.As(err, &partial) {
		return ref, nil // only exemplars were refused
	}
	if opts.MetricFamilyName != "target_info" {
		var hash uint64
		hash, a.buf = ls.HashWithoutLabels(a.buf[:0], labels.BucketLabel, "quantile")
		a.failed[hash^uint64(t)*0x9E3779B97F4A7C15] = struct{}{}
		if len(a.reasons) < maxReasons {
			a.reasons = append(a.reasons, fmt.Sprintf("%s: %v", ls.Get(labels.MetricName), err))
		}
	}
	return 0, nil
}
