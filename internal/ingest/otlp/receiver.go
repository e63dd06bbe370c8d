package otlp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/prometheus/storage"

	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// The protocol labels of this package in sonde's own metrics.
const (
	ProtocolHTTP = "otlp_http"
	ProtocolGRPC = "otlp_grpc"
)

// Defaults for zero Options fields, the same as the configuration's.
const (
	DefaultMaxBodyBytes  = 16 << 20
	DefaultMaxEventBytes = 1 << 20
	DefaultMaxFields     = 200
)

// LogsPath is the OTLP/HTTP logs endpoint, fixed by the OTLP
// specification, like TracesPath and MetricsPath.
const LogsPath = "/v1/logs"

// maxReasons caps the rejection reasons listed in a partial_success message.
const maxReasons = 5

// Options configure a Receiver.
type Options struct {
	// Pipeline is where accepted events go. It must not be nil.
	Pipeline *pipeline.Pipeline
	// Metrics, when not nil, counts bytes received and events rejected.
	Metrics *selfmon.Metrics
	// Logger logs server-side failures only (default: discard).
	Logger *slog.Logger
	// MaxBodyBytes caps an OTLP/HTTP request body, received and
	// decompressed (default 16 MiB). For gRPC the server's
	// MaxRecvMsgSize applies instead (see GRPCServerOptions).
	MaxBodyBytes int64
	// MaxEventBytes caps one log record: @message plus its attributes
	// (default 1 MiB).
	MaxEventBytes int
	// MaxFields caps the fields of one event (default 200).
	MaxFields int
	// MetricStore, when not nil, receives OTLP metrics (POST /v1/metrics
	// and the gRPC MetricsService; see metrics.go).
	MetricStore storage.AppendableV2
	// LookbackDelta is the PromQL lookback delta of the metric store, for
	// the interval of target_info samples (default 5m).
	LookbackDelta time.Duration
}

// Receiver takes OTLP data over HTTP and gRPC and writes it through the
// pipeline. It is safe for concurrent use; one Receiver serves every
// listener, so that all OTLP ingest shares one set of limits.
type Receiver struct {
	opts   Options
	log    *slog.Logger
	logs   *logsHTTP
	traces *tracesHTTP
	// metrics and metricsSink are nil without a MetricStore.
	metrics     *metricsHTTP
	metricsSink *metricsSink
	mux         *http.ServeMux
	limits      limits
}

// New returns a Receiver. opts.Pipeline must be set.
func New(opts Options) *Receiver {
	if opts.Pipeline == nil {
		panic("BUG: otlp.New without a pipeline")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = DefaultMaxEventBytes
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = DefaultMaxFields
	}
	r := &Receiver{
		opts:   opts,
		log:    opts.Logger,
		limits: limits{maxEventBytes: opts.MaxEventBytes, maxFields: opts.MaxFields},
	}
	r.logs = newLogsHTTP(r)
	r.mux = http.NewServeMux()
	r.mux.Handle(LogsPath, r.logs)
	r.traces = newTracesHTTP(r)
	r.mux.Handle(TracesPath, r.traces)
	if opts.MetricStore != nil {
		r.metricsSink = newMetricsSink(r, 2*runtime.GOMAXPROCS(0))
		r.metrics = newMetricsHTTP(r)
		r.mux.Handle(MetricsPath, r.metrics)
	}
	r.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeStatus(w, encodingJSON, http.StatusNotFound, fmt.Sprintf("no OTLP endpoint at %s", req.URL.Path))
	}))
	return r
}

// Handler serves every OTLP/HTTP endpoint of the receiver (POST /v1/logs,
// POST /v1/traces and, with a MetricStore, POST /v1/metrics) for the
// dedicated OTLP port, and answers other paths with
// 404 and a google.rpc.Status body, as OTLP clients expect.
func (r *Receiver) Handler() http.Handler { return r.mux }

// LogsHandler serves POST /v1/logs alone, for mounting on the main port.
func (r *Receiver) LogsHandler() http.Handler { return r.logs }

// batchResult is what became of the records of one export request.
type batchResult struct {
	accepted  int
	invalid   int // rejected: bad name, too deep
	tooLarge  int // rejected: over MaxEventBytes
	truncated int // fields dropped beyond MaxFields
	reasons   []string
}

func (b *batchResult) rejected() int { return b.invalid + b.tooLarge }

func (b *batchResult) reject(tooLarge bool, where, reason string) {
	if tooLarge {
		b.tooLarge++
	} else {
		b.invalid++
	}
	if len(b.reasons) < maxReasons {
		b.reasons = append(b.reasons, where+": "+reason)
	}
}

// message is the partial_success error message: how many were rejected and
// the first reasons.
func (b *batchResult) message(noun string) string {
	n := b.rejected()
	if n == 0 {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d of %d %s rejected: ", n, n+b.accepted, noun)
	sb.WriteString(strings.Join(b.reasons, "; "))
	if n > len(b.reasons) {
		fmt.Fprintf(&sb, "; and %d more", n-len(b.reasons))
	}
	return sb.String()
}

// count records a batch's rejections and truncations in the metrics. The
// pipeline counts what it accepts.
func (r *Receiver) count(protocol string, b *batchResult) {
	m := r.opts.Metrics
	if m == nil {
		return
	}
	if b.invalid > 0 {
		m.EventsRejected.WithLabelValues(protocol, "invalid").Add(float64(b.invalid))
	}
	if b.tooLarge > 0 {
		m.EventsRejected.WithLabelValues(protocol, "too_large").Add(float64(b.tooLarge))
	}
	if b.truncated > 0 {
		m.FieldsTruncated.WithLabelValues(protocol).Add(float64(b.truncated))
	}
}

// countRequest records a request refused as a whole. Its records were never
// counted, so it counts as one rejected event, as the native endpoint does.
func (r *Receiver) countRequest(protocol, reason string) {
	if m := r.opts.Metrics; m != nil {
		m.EventsRejected.WithLabelValues(protocol, reason).Inc()
	}
}

// countRefused counts events the pipeline refused before queueing them:
// the pipeline leaves that to its callers, which know whether they retry.
// Store failures are counted by the pipeline itself.
func (r *Receiver) countRefused(protocol string, err error, n int) {
	m := r.opts.Metrics
	if m == nil {
		return
	}
	switch {
	case errors.Is(err, pipeline.ErrBusy):
		m.EventsRejected.WithLabelValues(protocol, "busy").Add(float64(n))
	case errors.Is(err, pipeline.ErrClosed):
		m.EventsRejected.WithLabelValues(protocol, "unavailable").Add(float64(n))
	}
}

func (r *Receiver) countBytes(protocol string, n int64) {
	if m := r.opts.Metrics; m != nil && n > 0 {
		m.Bytes.WithLabelValues(protocol).Add(float64(n))
	}
}
