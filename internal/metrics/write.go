package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/s2"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// maxDecodedBytes bounds an uncompressed remote write request, as
// Prometheus does (32MiB); senders batch a few thousand samples (~100KB).
const maxDecodedBytes = 32 << 20

// maxCompressedBytes bounds the body as sent.
const maxCompressedBytes = maxDecodedBytes

// maxAheadTime is how far in the future a sample may be, as in
// Prometheus' receiver: later ones would block their series until then.
const maxAheadTime = 10 * time.Minute

// writeWait is how long a request waits for a write slot before it is
// answered 503 with Retry-After (senders retry 5xx).
const writeWait = 5 * time.Second

// WriteHandler is the Prometheus remote write receiver (POST /api/v1/write).
//
// Remote write 1.0 (application/x-protobuf, snappy) is decoded by sonde's
// own decoder straight into the TSDB; remote write 2.0
// (proto=io.prometheus.write.v2.Request) goes through Prometheus' handler.
// Samples are acknowledged (204) once committed: durable as described in the
// package documentation. Samples the TSDB refuses (out of order, duplicate
// timestamp with another value, too old) and series with invalid labels
// are skipped, and so are samples more than 10 minutes in the future;
// the rest of the request is committed, and the answer is 400
// with the count and first reason, so that senders drop rather than retry
// the request. A request that cannot be decoded writes nothing (400).
// Writes beyond the available write slots wait up to 5s, then get 503 with
// Retry-After.
type WriteHandler struct {
	store    *Store
	log      *slog.Logger
	slots    chan struct{}
	v2       http.Handler
	pool     sync.Pool
	appended prometheus.Counter
	rejected *prometheus.CounterVec
	requests *prometheus.CounterVec
}

// NewWriteHandler returns the remote write receiver writing into s.
func (s *Store) NewWriteHandler() *WriteHandler {
	h := &WriteHandler{
		store: s,
		log:   s.log.With("component", "remote_write_receiver"),
		slots: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sonde_metrics_remote_write_samples_appended_total",
			Help: "Samples committed by the remote write receiver.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_metrics_remote_write_samples_rejected_total",
			Help: "Samples the remote write receiver refused, by reason.",
		}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sonde_metrics_remote_write_requests_total",
			Help: "Remote write requests, by protocol version and status code.",
		}, []string{"version", "code"}),
	}
	for _, c := range []prometheus.Collector{h.appended, h.rejected, h.requests} {
		if err := s.opts.Registerer.Register(c); err != nil {
			h.log.Warn("Registering remote write metrics failed", "err", err)
		}
	}
	h.v2 = remote.NewWriteHandler(h.log, prometheus.NewRegistry(), s,
		remoteapi.MessageTypes{remoteapi.WriteV2MessageType}, false, false, true)
	return h
}

type writeBuffers struct {
	body, decoded []byte
	key           []byte
	raw           []rawLabel
	builder       labels.ScratchBuilder
}

// ServeHTTP implements http.Handler.
func (h *WriteHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/x-protobuf"
	}
	msg, err := remoteapi.ParseProtoMsg(ct)
	if err != nil {
		h.requests.WithLabelValues("", "415").Inc()
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	if msg == remoteapi.WriteV2MessageType {
		if !h.acquire(w, r, "2.0") {
			return
		}
		defer h.release()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.v2.ServeHTTP(rec, r)
		h.requests.WithLabelValues("2.0", fmt.Sprint(rec.code)).Inc()
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "snappy" {
		h.requests.WithLabelValues("1.0", "415").Inc()
		http.Error(w, fmt.Sprintf("%s encoding is not accepted: only snappy is", enc), http.StatusUnsupportedMediaType)
		return
	}
	if !h.acquire(w, r, "1.0") {
		return
	}
	defer h.release()

	bufs, _ := h.pool.Get().(*writeBuffers)
	if bufs == nil {
		bufs = &writeBuffers{}
	}
	defer h.pool.Put(bufs)
	code, msgText := h.write(r, bufs)
	h.requests.WithLabelValues("1.0", fmt.Sprint(code)).Inc()
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if msgText != "" {
		http.Error(w, msgText, code)
		return
	}
	w.WriteHeader(code)
}

func (h *WriteHandler) acquire(w http.ResponseWriter, r *http.Request, version string) bool {
	select {
	case h.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(writeWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return true
	case <-t.C:
		h.requests.WithLabelValues(version, "503").Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many concurrent writes", http.StatusServiceUnavailable)
	case <-r.Context().Done():
		h.requests.WithLabelValues(version, "499").Inc()
	}
	return false
}

func (h *WriteHandler) release() { <-h.slots }

// write decodes and appends one remote write 1.0 request. It returns the
// status and, for errors, the message.
func (h *WriteHandler) write(r *http.Request, bufs *writeBuffers) (int, string) {
	body, err := readBody(r.Body, bufs.body[:0], maxCompressedBytes)
	bufs.body = body
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("read body: %v", err)
	}
	n, err := s2.DecodedLen(body)
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("snappy: %v", err)
	}
	if n > maxDecodedBytes {
		return http.StatusBadRequest, fmt.Sprintf("decoded size %d exceeds the %d bytes limit", n, maxDecodedBytes)
	}
	if cap(bufs.decoded) < n {
		bufs.decoded = make([]byte, n)
	}
	decoded, err := s2.Decode(bufs.decoded[:cap(bufs.decoded)], body)
	if err != nil {
		return http.StatusBadRequest, fmt.Sprintf("snappy: %v", err)
	}

	v := &writeVisitor{h: h, bufs: bufs, app: h.store.appendable.Appender(r.Context()), maxTime: time.Now().Add(maxAheadTime).UnixMilli()}
	if err := decodeWriteRequest(decoded, v); err != nil {
		_ = v.app.Rollback()
		if errors.Is(err, errMalformed) {
			return http.StatusBadRequest, err.Error()
		}
		return h.storageError(err)
	}
	if v.fatal != nil {
		_ = v.app.Rollback()
		return h.storageError(v.fatal)
	}
	if err := v.app.Commit(); err != nil {
		return h.storageError(err)
	}
	h.appended.Add(float64(v.appended))
	if v.rejected > 0 {
		return http.StatusBadRequest, fmt.Sprintf("rejected %d of %d samples; first: %s", v.rejected, v.rejected+v.appended, v.firstReject)
	}
	return http.StatusNoContent, ""
}

// storageError answers a failure of the TSDB itself: the sender retries.
func (h *WriteHandler) storageError(err error) (int, string) {
	if errors.Is(err, context.Canceled) {
		return 499, err.Error()
	}
	h.log.Error("Remote write failed", "err", err)
	return http.StatusServiceUnavailable, err.Error()
}

func readBody(r io.Reader, buf []byte, limit int) ([]byte, error) {
	b := bytes.NewBuffer(buf)
	n, err := b.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return b.Bytes(), err
	}
	if n > int64(limit) {
		return b.Bytes(), fmt.Errorf("body larger than %d bytes", limit)
	}
	return b.Bytes(), nil
}

// writeVisitor appends a request's series as the decoder finds them.
type writeVisitor struct {
	h           *WriteHandler
	maxTime     int64
	bufs        *writeBuffers
	app         storage.Appender
	appended    int
	rejected    int
	firstReject string
	// fatal is a storage failure: the request is rolled back.
	fatal error
}

func (v *writeVisitor) series(ts rawSeries) error {
	if v.fatal != nil {
		return v.fatal
	}
	b := v.bufs
	b.key, b.raw = ts.labels(b.key[:0], b.raw[:0])
	hash := xxhash.Sum64(b.key)
	sortRaw(b.raw)

	var (
		lset  labels.Labels
		ref   storage.SeriesRef
		entry = v.h.store.series.get(hash)
	)
	if entry != nil && matches(entry.lset, b.raw) {
		lset, ref = entry.lset, storage.SeriesRef(entry.ref.Load())
	} else {
		b.builder.Reset()
		for _, l := range b.raw {
			b.builder.Add(unsafeString(l.name), unsafeString(l.value))
		}
		lset = b.builder.Labels() // copies: safe to keep
		if reason := invalidLabels(lset); reason != "" {
			v.reject(ts.count(), "invalid_labels", fmt.Sprintf("%s: %s", reason, lset))
			return nil
		}
		entry = v.h.store.series.put(hash, lset, 0)
	}

	it := ts.sampleIter()
	for it.next() {
		t, val := it.at()
		if t > v.maxTime {
			v.reject(1, "too_new", fmt.Sprintf("sample more than %s in the future for series %s at %d", maxAheadTime, lset, t))
			continue
		}
		r, err := v.app.Append(ref, lset, t, val)
		if err != nil {
			if !v.sampleError(err, lset, t) {
				return v.fatal
			}
			continue
		}
		v.appended++
		if r != ref {
			ref = r
			entry.ref.Store(uint64(r))
		}
	}
	if ts.has(fieldSeriesHistograms) {
		return v.histograms(ts, lset)
	}
	return nil
}

// histograms appends native histograms, rare enough in remote write 1.0 to
// go through the generated decoder.
func (v *writeVisitor) histograms(ts rawSeries, lset labels.Labels) error {
	var pts prompb.TimeSeries
	if err := pts.Unmarshal(ts.buf); err != nil {
		return malformed("timeseries", err)
	}
	for _, hp := range pts.Histograms {
		if hp.Timestamp > v.maxTime {
			v.reject(1, "too_new", fmt.Sprintf("histogram more than %s in the future for series %s at %d", maxAheadTime, lset, hp.Timestamp))
			continue
		}
		var err error
		if hp.IsFloatHistogram() {
			_, err = v.app.AppendHistogram(0, lset, hp.Timestamp, nil, hp.ToFloatHistogram())
		} else {
			_, err = v.app.AppendHistogram(0, lset, hp.Timestamp, hp.ToIntHistogram(), nil)
		}
		if err != nil {
			if !v.sampleError(err, lset, hp.Timestamp) {
				return v.fatal
			}
			continue
		}
		v.appended++
	}
	return nil
}

// sampleError classifies an append error: a refused sample is counted and
// skipped (true); anything else is fatal for the request (false).
func (v *writeVisitor) sampleError(err error, lset labels.Labels, t int64) bool {
	reason := selfmon.AppendErrorReason(err)
	if reason == "" {
		if !strings.Contains(err.Error(), "histogram") {
			v.fatal = err
			return false
		}
		reason = "invalid_histogram"
	}
	v.reject(1, reason, fmt.Sprintf("%v for series %s at %d", err, lset, t))
	return true
}

func (v *writeVisitor) reject(n int, reason, msg string) {
	v.rejected += n
	v.h.rejected.WithLabelValues(reason).Add(float64(n))
	if v.firstReject == "" {
		v.firstReject = msg
	}
}

func (v *writeVisitor) metadata(typ model.MetricType, family, help, unit []byte) {
	v.h.store.meta.set(unsafeString(family), metadata.Metadata{Type: typ, Help: unsafeString(help), Unit: unsafeString(unit)})
}

// invalidLabels returns why a series' labels cannot be stored, or "".
func invalidLabels(lset labels.Labels) string {
	if lset.Get(labels.MetricName) == "" {
		return "missing metric name"
	}
	if !lset.IsValid(model.UTF8Validation) {
		return "invalid label name or value"
	}
	if name, dup := lset.HasDuplicateLabelNames(); dup {
		return fmt.Sprintf("duplicate label %q", name)
	}
	return ""
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

// WriteHeader implements http.ResponseWriter.
func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
