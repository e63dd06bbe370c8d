package zipkin

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/ingest"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// Path is Zipkin's v2 span collection endpoint.
const Path = "/api/v2/spans"

// Protocol is this package's label in sonde's own metrics.
const Protocol = "zipkin"

// Options configure a Handler.
type Options struct {
	// Pipeline is where accepted spans go. It must not be nil.
	Pipeline *pipeline.Pipeline
	Metrics  *selfmon.Metrics
	Logger   *slog.Logger
	// MaxBodyBytes caps a request body, received and decompressed
	// (default 16 MiB).
	MaxBodyBytes int64
	// MaxFields caps the fields of one span event (default 200).
	MaxFields int
}

// Handler serves POST /api/v2/spans.
type Handler struct {
	opts Options
	log  *slog.Logger
}

// New returns the handler. opts.Pipeline must be set.
func New(opts Options) *Handler {
	if opts.Pipeline == nil {
		panic("BUG: zipkin.New without a pipeline")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = 200
	}
	return &Handler{opts: opts, log: opts.Logger}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(r); err != nil {
		apierr.Write(w, h.log, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (h *Handler) serve(r *http.Request) error {
	if r.Method != http.MethodPost {
		return apierr.MethodNotAllowed(r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			h.reject("invalid", 1)
			return &apierr.Error{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("unsupported Content-Type %q (sonde takes Zipkin v2 JSON)", ct)}
		}
	}
	body, err := ingest.ReadBody(r, h.opts.MaxBodyBytes)
	if err != nil {
		h.reject("invalid", 1)
		return err
	}
	if m := h.opts.Metrics; m != nil {
		m.Bytes.WithLabelValues(Protocol).Add(float64(body.Wire))
	}
	events, rejected, truncated, err := Decode(body.Bytes(), time.Now(), h.opts.MaxFields)
	body.Release()
	if err != nil {
		h.reject("invalid", 1)
		return apierr.BadRequest("%v", err)
	}
	h.reject("invalid", len(rejected))
	if m := h.opts.Metrics; m != nil && truncated > 0 {
		m.FieldsTruncated.WithLabelValues(Protocol).Add(float64(truncated))
	}
	if len(events) == 0 && len(rejected) > 0 {
		return apierr.BadRequest("all %d spans rejected: span %d: %s", len(rejected), rejected[0].Index, rejected[0].Reason)
	}
	if err := h.opts.Pipeline.Submit(r.Context(), Protocol, "", events); err != nil {
		if m := h.opts.Metrics; m != nil && (errors.Is(err, pipeline.ErrBusy) || errors.Is(err, pipeline.ErrClosed)) {
			reason := "busy"
			if errors.Is(err, pipeline.ErrClosed) {
				reason = "unavailable"
			}
			m.EventsRejected.WithLabelValues(Protocol, reason).Add(float64(len(events)))
		}
		return err
	}
	return nil
}

func (h *Handler) reject(reason string, n int) {
	if m := h.opts.Metrics; m != nil && n > 0 {
		m.EventsRejected.WithLabelValues(Protocol, reason).Add(float64(n))
	}
}
