package syslog

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
)

const (
	// ProtocolUDP labels syslog over UDP in sonde's own metrics.
	ProtocolUDP = "syslog_udp"
	// ProtocolTCP labels syslog over TCP in sonde's own metrics; it differs
	// from ProtocolUDP because only UDP loses messages when busy.
	ProtocolTCP = "syslog_tcp"
)

const (
	// DefaultGroup is the log group of syslog messages when Options.Group
	// is empty, as the ingest.syslog_group setting defaults.
	DefaultGroup = "syslog"
	// DefaultMaxMessageBytes is the message size limit when
	// Options.MaxMessageBytes is 0: it holds any UDP datagram.
	DefaultMaxMessageBytes = 64 << 10
	// DefaultMaxFields is the field cap when Options.MaxFields is 0, the
	// default of the ingest.max_fields setting.
	DefaultMaxFields = 200
	// DefaultMaxConnections is the TCP connection cap when
	// Options.MaxConnections is 0.
	DefaultMaxConnections = 1024
)

// Batching and retry tuning.
const (
	maxBatch     = 1000                   // messages per Submit; config enforces a queue of at least this
	udpBatchWait = 200 * time.Millisecond // longest a UDP message waits for its batch to fill
	tcpBatchWait = 100 * time.Millisecond // same for TCP
	udpQueue     = 4                      // UDP batches waiting for the writer before new ones are dropped
	udpRetries   = 3                      // Submit retries of a UDP batch while the queue is full
	udpRetryWait = 50 * time.Millisecond  // first wait between them; it doubles
	tcpRetryWait = 10 * time.Millisecond  // first wait between TCP retries; it doubles
	tcpRetryMax  = time.Second            // longest wait between TCP retries
	warnInterval = time.Second            // at most one warning per kind in this time
	maxDatagram  = 64 << 10               // larger than any UDP payload
)

// Options configure a Server.
type Options struct {
	// Pipeline receives the events; it is required.
	Pipeline *pipeline.Pipeline
	// Metrics, when not nil, counts received bytes and rejected messages
	// under the protocols ProtocolUDP and ProtocolTCP.
	Metrics *selfmon.Metrics
	// Logger gets the warnings about rejected and dropped messages, at most
	// one per second of each kind (default: discard).
	Logger *slog.Logger
	// Group is the log group of every message (default DefaultGroup).
	Group string
	// MaxMessageBytes caps one message without its framing (default
	// DefaultMaxMessageBytes); longer messages are rejected as "too_large".
	MaxMessageBytes int
	// MaxFields caps the fields of one event (default DefaultMaxFields, as
	// the ingest.max_fields setting); structured-data parameters beyond it
	// are kept only in @message and counted as truncated fields.
	MaxFields int
	// MaxConnections caps the TCP connections served at once (default
	// DefaultMaxConnections); further clients wait in the listen backlog,
	// so memory stays bounded (each connection buffers one message).
	MaxConnections int
}

// Server receives syslog over UDP and TCP and writes the messages to the
// pipeline. Its methods are safe for concurrent use. A Server serves any
// number of packet connections and listeners until Shutdown.
type Server struct {
	opts Options
	log  *slog.Logger

	// ctx is what Submit waits under; Shutdown cancels it when its own
	// deadline passes.
	ctx    context.Context
	cancel context.CancelFunc

	sockets *ingest.Sockets

	counters map[string]*protoCounters
	warnings selfmon.Warner
}

// protoCounters are one protocol's metrics, looked up once.
type protoCounters struct {
	bytes, invalid, tooLarge, busy, unavailable, truncated prometheus.Counter
}

// New returns a server writing to opts.Pipeline. It listens on nothing
// itself: the caller binds the sockets and passes them to ServeUDP and
// ServeTCP, so that a bad address fails before anything runs.
func New(opts Options) *Server {
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = DefaultMaxFields
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		sockets:  ingest.NewSockets(),
		counters: map[string]*protoCounters{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, proto := range []string{ProtocolUDP, ProtocolTCP} {
		c := &protoCounters{}
		if m := opts.Metrics; m != nil {
			c.bytes = m.Bytes.WithLabelValues(proto)
			c.invalid = m.EventsRejected.WithLabelValues(proto, "invalid")
			c.tooLarge = m.EventsRejected.WithLabelValues(proto, "too_large")
			c.busy = m.EventsRejected.WithLabelValues(proto, "busy")
			c.unavailable = m.EventsRejected.WithLabelValues(proto, "unavailable")
			c.truncated = m.FieldsTruncated.WithLabelValues(proto)
		}
		s.counters[proto] = c
	}
	return s
}

func add(c prometheus.Counter, n int) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// Shutdown stops reading from every socket, submits the messages already
// read, waits until they are durable, and closes the sockets; the Serve
// methods then return nil. If ctx ends first, Shutdown abandons the
// submissions still waiting (those events may or may not be stored), closes
// everything and returns ctx's error. Messages the kernel buffered but the
// server had not read, and a TCP frame read only in part, are not stored.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.sockets.Shutdown(ctx, s.cancel) // Submit honours the cancelled context
	s.cancel()
	return err
}

// decode parses one message and adds its event to batch, or counts and
// reports why it was rejected.
func (s *Server) decode(proto string, line string, from string, now time.Time, batch []event.Event) []event.Event {
	c := s.counters[proto]
	if len(line) > s.opts.MaxMessageBytes {
		add(c.tooLarge, 1)
		s.warn(proto, "too_large", "Rejected syslog message larger than the limit",
			"protocol", proto, "from", from, "bytes", len(line), "limit", s.opts.MaxMessageBytes)
		return batch
	}
	m, err := Parse(line, now)
	if err != nil {
		add(c.invalid, 1)
		s.warn(proto, "invalid", "Rejected invalid syslog message",
			"protocol", proto, "from", from, "err", err, "line", abbreviate(line))
		return batch
	}
	ev, dropped := toEvent(&m, line, s.opts.Group, from, now.UnixMilli(), s.opts.MaxFields)
	add(c.truncated, dropped)
	return append(batch, ev)
}

// abbreviate cuts a rejected line for a log message.
func abbreviate(line string) string {
	const max = 200
	if len(line) > max {
		return line[:max] + "..."
	}
	return line
}

// submit writes a batch, waiting out a full queue: forever for TCP (whose
// senders wait meanwhile), udpRetries times for UDP. It gives up when the
// pipeline is closed, the store fails, or Shutdown's deadline passes. Only
// dropped events count as rejected ("busy"); each retry counts in
// sonde_ingest_retries_total. The pipeline counts failed writes as
// unavailable.
func (s *Server) submit(proto string, events []event.Event) {
	wait, maxWait, retries := tcpRetryWait, tcpRetryMax, -1
	if proto == ProtocolUDP {
		wait, maxWait, retries = udpRetryWait, udpRetryWait<<udpRetries, udpRetries
	}
	for attempt := 0; ; attempt++ {
		err := s.opts.Pipeline.Submit(s.ctx, proto, "", events)
		switch {
		case err == nil:
			return
		case s.ctx.Err() != nil:
			// Shutdown gave up: the events may still be committed.
			return
		case errors.Is(err, pipeline.ErrBusy) || errors.Is(err, store.ErrUnavailable):
			if retries >= 0 && attempt >= retries {
				add(s.counters[proto].busy, len(events))
				s.warn(proto, "busy", "Dropped syslog messages after retries",
					"protocol", proto, "events", len(events), "err", err)
				return
			}
			if m := s.opts.Metrics; m != nil {
				m.Retries.WithLabelValues(proto).Inc()
			}
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				return
			}
			wait = min(2*wait, maxWait)
		case errors.Is(err, pipeline.ErrClosed):
			add(s.counters[proto].unavailable, len(events))
			s.warn(proto, "closed", "Dropped syslog messages: ingest is shut down",
				"protocol", proto, "events", len(events))
			return
		default:
			s.warn(proto, "store", "Dropped syslog messages: the store refused them",
				"protocol", proto, "events", len(events), "err", err)
			return
		}
	}
}

// hostOf returns the IP of a network address, the stream of messages
// without HOSTNAME.
func hostOf(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.IP.String()
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}

// warn logs a rate-limited warning of a kind for one protocol.
func (s *Server) warn(proto, kind, msg string, args ...any) {
	s.warnings.Warn(s.log, proto+" "+kind, msg, args...)
}
