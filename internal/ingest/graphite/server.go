package graphite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"

	"github.com/sonde-dev/sonde/internal/ingest"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// Defaults of Options.
const (
	// DefaultMaxLineBytes caps one line without its terminator.
	DefaultMaxLineBytes = 64 << 10
	// DefaultMaxConnections caps the TCP connections served at once.
	DefaultMaxConnections = 1024
	// DefaultMaxFuture is how far ahead of the server's clock a timestamp
	// may be.
	DefaultMaxFuture = 10 * time.Minute
	// DefaultMaxCachedSeries caps the series whose labels are cached.
	DefaultMaxCachedSeries = 100_000
)

// Tuning.
const (
	maxPending  = 5000     // lines one appender takes before it is committed
	maxDatagram = 64 << 10 // larger than any UDP payload
)

// Options configure a Server.
type Options struct {
	// Appendable receives the samples and their metadata; it is required.
	Appendable storage.Appendable
	// Metrics, when not nil, gets the server's counters under the protocols
	// ProtocolTCP and ProtocolUDP, registered on Metrics.Registry.
	Metrics *selfmon.Metrics
	// Logger gets the warnings about rejected lines and refused samples, at
	// most one per second of each kind (default: discard).
	Logger *slog.Logger
	// MaxLineBytes caps one line without its terminator (default
	// DefaultMaxLineBytes); longer lines are skipped as "too_large".
	MaxLineBytes int
	// MaxConnections caps the TCP connections served at once (default
	// DefaultMaxConnections); further clients wait in the listen backlog.
	MaxConnections int
	// MaxFuture is how far ahead of the server's clock a timestamp may be
	// (default DefaultMaxFuture); later samples are rejected as "future",
	// because one far-future sample would make the TSDB refuse the present
	// ones as too old.
	MaxFuture time.Duration
	// MaxCachedSeries caps the series whose labels and store reference are
	// cached between lines (default DefaultMaxCachedSeries); when it is
	// reached the cache starts over.
	MaxCachedSeries int
	// OutOfOrderWindow must be the store's out-of-order window (the
	// metrics.out_of_order_window setting; 0 by default). A sample older
	// than its series' last one by more than this is refused as
	// "out_of_order" before it reaches the store, because the TSDB drops
	// such samples silently when they arrive in the same transaction.
	OutOfOrderWindow time.Duration
}

// Server receives Graphite plaintext over TCP and UDP and appends every
// line to the Appendable as a gauge sample. Its methods are safe for
// concurrent use. A Server serves any number of listeners and packet
// connections until Shutdown.
type Server struct {
	opts Options
	log  *slog.Logger

	sockets *ingest.Sockets

	cacheMu sync.Mutex
	cache   map[string]*cached

	counters map[string]*protoMetrics
	warnings selfmon.Warner
	now      func() time.Time
}

// cached is what the server keeps of a series between lines.
type cached struct {
	lset  labels.Labels
	ref   atomic.Uint64 // storage.SeriesRef
	meta  atomic.Bool   // metadata given for ref
	lastT atomic.Int64  // timestamp of the last sample appended
	lastV atomic.Uint64 // its value's bits
}

// New checks opts, fills in the defaults and returns a server. It listens
// on nothing itself: the caller binds the sockets and passes them to
// ServeTCP and ServeUDP, so that a bad address fails before anything runs.
func New(opts Options) (*Server, error) {
	if opts.Appendable == nil {
		return nil, errors.New("graphite: no Appendable")
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.MaxFuture <= 0 {
		opts.MaxFuture = DefaultMaxFuture
	}
	if opts.MaxCachedSeries <= 0 {
		opts.MaxCachedSeries = DefaultMaxCachedSeries
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		sockets:  ingest.NewSockets(),
		cache:    map[string]*cached{},
		counters: map[string]*protoMetrics{},
		now:      time.Now,
	}
	for _, proto := range []string{ProtocolTCP, ProtocolUDP} {
		s.counters[proto] = newProtoMetrics(opts.Metrics, proto)
	}
	return s, nil
}

// Shutdown stops reading from every socket, commits the lines already
// read, and closes the sockets; the Serve methods then return nil. If ctx
// ends first, the sockets are closed at once and Shutdown returns ctx's
// error once the readers are gone. Lines the kernel buffered but the
// server had not read, and a TCP line read only in part, are not stored.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.sockets.Shutdown(ctx, nil)
}

// series returns the cached state of the series of smp, creating it.
func (s *Server) series(smp *Sample) *cached {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if c := s.cache[string(smp.Name)]; c != nil {
		return c
	}
	if len(s.cache) >= s.opts.MaxCachedSeries {
		clear(s.cache)
	}
	c := &cached{lset: seriesLabels(smp)}
	c.lastT.Store(math.MinInt64)
	s.cache[string(smp.Name)] = c
	return c
}

// batch appends the lines of one read through one appender.
type batch struct {
	s       *Server
	proto   string
	m       *protoMetrics
	from    string
	app     storage.Appender
	pending int
}

func (s *Server) newBatch(proto, from string) *batch {
	return &batch{s: s, proto: proto, m: s.counters[proto], from: from}
}

// line parses one line, without its terminator, and appends its sample.
// lineNo is its number in the datagram or connection, for warnings.
func (b *batch) line(line []byte, lineNo int) {
	s := b.s
	if len(line) > s.opts.MaxLineBytes {
		add(b.m.rejected[rejectTooLarge], 1)
		s.warnings.Warn(s.log, b.proto+" too_large", "Rejected Graphite line longer than the limit",
			"protocol", b.proto, "from", b.from, "line", lineNo, "bytes", len(line), "limit", s.opts.MaxLineBytes)
		return
	}
	smp, err := Parse(line)
	if err != nil {
		add(b.m.rejected[rejectInvalid], 1)
		s.warnings.Warn(s.log, b.proto+" invalid", "Rejected invalid Graphite line",
			"protocol", b.proto, "from", b.from, "line", lineNo, "err", err, "text", abbreviate(line))
		return
	}
	now := s.now()
	ts := now.UnixMilli()
	if smp.HasTime {
		if smp.TimeMillis > now.Add(s.opts.MaxFuture).UnixMilli() {
			add(b.m.rejected[rejectFuture], 1)
			s.warnings.Warn(s.log, b.proto+" future", "Rejected Graphite line with a timestamp in the future (timestamps are seconds since 1970)",
				"protocol", b.proto, "from", b.from, "line", lineNo, "text", abbreviate(line), "max_future", s.opts.MaxFuture)
			return
		}
		ts = smp.TimeMillis
	}
	add(b.m.accepted, 1)
	c := s.series(&smp)
	if b.app == nil {
		b.app = s.opts.Appendable.Appender(context.Background())
	}
	// The TSDB checks the order of a series' samples only against what
	// was committed; within one transaction it drops samples out of order
	// at commit without telling. So the order is checked here first.
	old := storage.SeriesRef(c.ref.Load())
	err = nil
	switch lt := c.lastT.Load(); {
	case lt != math.MinInt64 && ts < lt-s.opts.OutOfOrderWindow.Milliseconds():
		err = storage.ErrOutOfOrderSample
	case ts == lt && math.Float64bits(smp.Value) != c.lastV.Load():
		err = storage.ErrDuplicateSampleForTimestamp
	}
	var ref storage.SeriesRef
	if err == nil {
		ref, err = b.app.Append(old, c.lset, ts, smp.Value)
	}
	if err != nil {
		reason := classifyAppendError(err)
		add(b.m.writeFailed[reason], 1)
		s.warnings.Warn(s.log, b.proto+" write "+reason, "The metrics store refused a Graphite sample",
			"protocol", b.proto, "from", b.from, "line", lineNo, "series", c.lset.String(), "err", err)
		return
	}
	if ts >= c.lastT.Load() {
		c.lastT.Store(ts)
		c.lastV.Store(math.Float64bits(smp.Value))
	}
	if ref != old {
		c.ref.Store(uint64(ref))
		c.meta.Store(false)
	}
	if !c.meta.Load() {
		// Best effort: an appender without metadata support still stores
		// the samples.
		md := metadata.Metadata{Type: model.MetricTypeGauge, Help: fmt.Sprintf("Graphite metric %s.", smp.Path)}
		if _, err := b.app.UpdateMetadata(ref, c.lset, md); err == nil {
			c.meta.Store(true)
		}
	}
	b.pending++
	if b.pending >= maxPending {
		b.commit()
	}
}

// commit commits the appended samples, if any.
func (b *batch) commit() {
	if b.app == nil {
		return
	}
	err := b.app.Commit()
	b.app = nil
	if err != nil {
		add(b.m.writeFailed[writeError], b.pending)
		b.s.warnings.Warn(b.s.log, b.proto+" commit", "Dropped Graphite samples: the metrics store failed",
			"protocol", b.proto, "samples", b.pending, "err", err)
	} else {
		add(b.m.written, b.pending)
	}
	b.pending = 0
}

func classifyAppendError(err error) string {
	if r := selfmon.AppendErrorReason(err); r != "" {
		return r
	}
	return writeError
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
