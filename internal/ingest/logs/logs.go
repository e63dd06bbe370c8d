// Package logs is the native log endpoint, POST /api/v1/logs: NDJSON (one
// JSON object or plain text line per line) or a JSON array of objects and
// strings, optionally gzip or zstd compressed. Every line is judged on its
// own: bad lines are rejected with their line number and reason, the rest of
// the batch is stored.
package logs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
)

// Protocol is the label of this endpoint in sonde's own metrics.
const Protocol = "http"

// maxErrors caps the line errors listed in a response.
const maxErrors = 100

// Options configure the handler.
type Options struct {
	Pipeline      *pipeline.Pipeline
	Shapes        *event.Shapes
	Metrics       *selfmon.Metrics
	Logger        *slog.Logger
	MaxBodyBytes  int64
	MaxEventBytes int
	MaxFields     int
	// InflightBytes bounds the decoded bodies held until their events are
	// committed (0: no bound). See inflight.
	InflightBytes int64
}

// Handler serves POST /api/v1/logs.
type Handler struct {
	opts     Options
	decoders sync.Pool // of *decoder
	inflight *inflight
}

// New returns the handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, inflight: newInflight(opts.InflightBytes)}
	h.decoders.New = func() any {
		return &decoder{parser: event.NewParser(opts.Shapes, event.ParserOptions{MaxFields: opts.MaxFields})}
	}
	return h
}

// LineError is one rejected line.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Response is the answer to a batch.
type Response struct {
	Accepted  int         `json:"accepted"`
	Rejected  int         `json:"rejected"`
	Errors    []LineError `json:"errors"`
	Duplicate bool        `json:"duplicate,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := h.ingest(r)
	if err != nil {
		apierr.Write(w, h.opts.Logger, err)
		return
	}
	status := http.StatusOK
	if resp.Accepted == 0 && resp.Rejected > 0 {
		status = http.StatusBadRequest
	}
	apierr.WriteJSON(w, status, resp)
}

func (h *Handler) ingest(r *http.Request) (*Response, error) {
	if r.Method != http.MethodPost {
		return nil, apierr.MethodNotAllowed(r.Method)
	}
	q := r.URL.Query()
	group := q.Get("group")
	if group == "" {
		group = "default"
	}
	stream := q.Get("stream")
	if err := ingest.CheckName("log group", group, false); err != nil {
		return nil, err
	}
	if err := ingest.CheckName("log stream", stream, true); err != nil {
		return nil, err
	}
	key := r.Header.Get("X-Sonde-Batch-Key")
	if len(key) > 512 {
		return nil, apierr.BadRequest("X-Sonde-Batch-Key longer than 512 bytes")
	}

	// A plain body of known length waits for room before it is read, so
	// that waiting costs nothing but the socket's buffer; any other body
	// waits once it is read and its size is known.
	var (
		done func()
		err  error
	)
	if r.ContentLength > 0 && r.ContentLength <= h.opts.MaxBodyBytes && r.Header.Get("Content-Encoding") == "" {
		if done, err = h.inflight.acquire(r.Context(), int(r.ContentLength)); err != nil {
			return nil, err
		}
		defer done()
	}
	body, err := ingest.ReadBody(r, h.opts.MaxBodyBytes)
	if err != nil {
		h.count("too_large", err)
		return nil, err
	}
	// The events point into the body. If Submit gives up waiting (the client
	// went away) the writer may still read them: the buffer is then left to
	// the garbage collector instead of being reused.
	release := true
	defer func() {
		if release {
			body.Release()
		}
	}()
	if m := h.opts.Metrics; m != nil {
		m.Bytes.WithLabelValues(Protocol).Add(float64(body.Wire))
	}
	if done == nil {
		if done, err = h.inflight.acquire(r.Context(), len(body.Bytes())); err != nil {
			return nil, err
		}
		defer done()
	}

	dec := h.decoders.Get().(*decoder)
	if tf := q.Get("timestamp_field"); tf != "" {
		dec = &decoder{parser: event.NewParser(h.opts.Shapes, event.ParserOptions{MaxFields: h.opts.MaxFields, TimeFields: []string{tf}})}
	} else {
		// The events and their fields live in the decoder's memory: like
		// the body, it is reused only once the writer is done with them.
		defer func() {
			if release {
				dec.reset()
				h.decoders.Put(dec)
			}
		}()
	}
	now := time.Now().UnixMilli()
	resp := &Response{Errors: []LineError{}}
	events, truncated := h.decode(dec, body.Bytes(), now, group, stream, arrayMode(r.Header.Get("Content-Type")), resp)
	if m := h.opts.Metrics; m != nil {
		if resp.Rejected > 0 {
			m.EventsRejected.WithLabelValues(Protocol, "invalid").Add(float64(resp.Rejected))
		}
		if truncated > 0 {
			m.FieldsTruncated.WithLabelValues(Protocol).Add(float64(truncated))
		}
	}
	if len(events) == 0 {
		return resp, nil
	}
	err = h.opts.Pipeline.Submit(r.Context(), Protocol, key, events)
	if r.Context().Err() != nil {
		release = false
	}
	switch {
	case errors.Is(err, store.ErrDuplicateBatch):
		resp.Accepted, resp.Duplicate = len(events), true
		return resp, nil
	case errors.Is(err, pipeline.ErrBusy):
		if m := h.opts.Metrics; m != nil {
			m.EventsRejected.WithLabelValues(Protocol, "busy").Add(float64(len(events)))
		}
		return nil, err
	case errors.Is(err, pipeline.ErrClosed):
		if m := h.opts.Metrics; m != nil {
			m.EventsRejected.WithLabelValues(Protocol, "unavailable").Add(float64(len(events)))
		}
		return nil, err
	case err != nil:
		return nil, err
	}
	resp.Accepted = len(events)
	return resp, nil
}

func (h *Handler) count(reason string, err error) {
	if m := h.opts.Metrics; m != nil && err != nil {
		m.EventsRejected.WithLabelValues(Protocol, reason).Inc()
	}
}

// How a body starting with '[' is read.
type bodyMode int

const (
	// modeDetect: a JSON array if the whole body is one, else NDJSON, so
	// that plain-text lines like "[2026-11-20] INFO ..." stay lines.
	modeDetect bodyMode = iota
	modeArray           // Content-Type: application/json
	modeLines           // application/x-ndjson, text/plain: never an array
)

func arrayMode(contentType string) bodyMode {
	mt, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	switch strings.TrimSpace(mt) {
	case "application/json":
		return modeArray
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "text/plain":
		return modeLines
	}
	return modeDetect
}

// decode parses a body into events. The events point into data, which must
// stay unchanged until they are stored.
func (h *Handler) decode(dec *decoder, data []byte, now int64, group, stream string, mode bodyMode, resp *Response) ([]event.Event, int) {
	p := dec.parser
	text := unsafe.String(unsafe.SliceData(data), len(data))
	reject := func(line int, reason string) {
		resp.Rejected++
		if len(resp.Errors) < maxErrors {
			resp.Errors = append(resp.Errors, LineError{Line: line, Reason: reason})
		}
	}
	truncated := 0
	var events []event.Event
	add := func(line int, elem string, parse func(string, int64, *event.Event) (event.Result, error)) {
		if len(elem) > h.opts.MaxEventBytes {
			reject(line, fmt.Sprintf("event of %d bytes is larger than the %d-byte limit", len(elem), h.opts.MaxEventBytes))
			return
		}
		events = append(events, event.Event{})
		ev := &events[len(events)-1]
		res, err := parse(elem, now, ev)
		if err != nil {
			events = events[:len(events)-1]
			reject(line, err.Error())
			return
		}
		ev.Group, ev.Stream = group, stream
		truncated += res.Truncated
	}

	if trimmed := strings.TrimLeft(text, " \t\r\n"); mode != modeLines && strings.HasPrefix(trimmed, "[") {
		elems, err := event.SplitJSONArray(text)
		if err != nil && mode == modeDetect {
			goto lines
		}
		events = dec.take(len(elems))
		for i, e := range elems {
			add(i+1, e, p.ParseJSONValue)
		}
		if err != nil {
			reject(len(elems)+1, "malformed JSON array, the rest of the body is ignored: "+err.Error())
		}
		return events, truncated
	}

lines:
	events = dec.take(bytes.Count(data, []byte{'\n'}) + 1)
	for line := 1; len(text) > 0; line++ {
		var l string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			l, text = text, ""
		}
		if isBlank(l) {
			continue
		}
		add(line, l, p.Parse)
	}
	return events, truncated
}

// decoder is what decoding a body needs, kept from one request to the
// next: a parser, and the slice of events it fills.
type decoder struct {
	parser *event.Parser
	events []event.Event
}

// maxKeptEvents caps the event slice a decoder keeps (about 9 MB).
const maxKeptEvents = 100_000

// take returns an empty event slice with room for n events.
func (d *decoder) take(n int) []event.Event {
	if cap(d.events) < n {
		d.events = make([]event.Event, 0, n)
	}
	return d.events[:0]
}

// reset forgets the events of the last body, once they are stored.
func (d *decoder) reset() {
	d.parser.Reset()
	if cap(d.events) > maxKeptEvents {
		d.events = nil
		return
	}
	clear(d.events[:cap(d.events)]) // do not keep the body's strings reachable
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' {
			return false
		}
	}
	return true
}
