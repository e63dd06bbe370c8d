package statsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/prometheus/storage"

	"github.com/sonde-dev/sonde/internal/ingest"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// Defaults of Options.
const (
	// DefaultFlushInterval is etsy statsd's flushInterval.
	DefaultFlushInterval = 10 * time.Second
	// DefaultMaxSeries caps the distinct series held between flushes.
	DefaultMaxSeries = 100_000
	// DefaultMaxValues caps the timer values and set members held between
	// flushes, over all series (about 32 MB of timer values).
	DefaultMaxValues = 1 << 22
	// DefaultStaleAfter is how long a series that receives nothing is still
	// written before it is dropped and marked stale.
	DefaultStaleAfter = time.Hour
	// DefaultReadBuffer is the UDP receive buffer asked for (SO_RCVBUF).
	DefaultReadBuffer = 32 << 20
)

var (
	// DefaultPercentiles is etsy statsd's percentThreshold.
	DefaultPercentiles = []float64{90}
	// DefaultQuantiles are statsd_exporter's default summary quantiles.
	DefaultQuantiles = []float64{0.5, 0.9, 0.99}
)

// Options configure a Server.
type Options struct {
	// Appendable receives the flushed samples and their metadata; it is
	// required. The server appends each flush through one or a few
	// appenders (committing every few thousand samples) and calls
	// UpdateMetadata once per series; an appender that refuses metadata
	// still gets the samples.
	Appendable storage.Appendable
	// Metrics, when not nil, gets the server's counters under the protocol
	// "statsd"; they are registered on Metrics.Registry.
	Metrics *selfmon.Metrics
	// Logger gets the warnings about rejected lines, at most one per second
	// of each kind (default: discard).
	Logger *slog.Logger
	// FlushInterval is the time between flushes (default
	// DefaultFlushInterval).
	FlushInterval time.Duration
	// Percentiles are etsy's percentThreshold: the thresholds P of the
	// count_P, mean_P, upper_P (lower_topP when negative), sum_P and
	// sum_squares_P outputs of timers, histograms and distributions.
	// nil means DefaultPercentiles; an empty slice writes none. Each must
	// be in [-100, 100] and not 0.
	Percentiles []float64
	// Quantiles are the quantile labels of the summary written for timers,
	// histograms and distributions. nil means DefaultQuantiles; an empty
	// slice writes none. Each must be in (0, 1].
	Quantiles []float64
	// MaxSeries caps the distinct series (name, type, tags and container
	// as sent) held between flushes (default DefaultMaxSeries); samples of
	// new series beyond it are rejected as "too_many_series".
	MaxSeries int
	// MaxValues caps the timer values and set members held between flushes
	// over all series (default DefaultMaxValues). Beyond it a timer keeps a
	// uniform random sample of its values for the median and percentiles
	// (count, sum, lower, upper, mean and std stay exact) and a set stops
	// adding members; both are counted in sonde_statsd_values_sampled_total.
	MaxValues int
	// StaleAfter is how long a series that receives nothing is kept and
	// written (default DefaultStaleAfter). Then it is dropped, marked stale
	// in the store, and counts again from zero if it comes back.
	StaleAfter time.Duration
	// ReadBuffer is the UDP receive buffer (SO_RCVBUF) ServeUDP asks for
	// (default DefaultReadBuffer); negative leaves the system default. On
	// Linux the server first tries SO_RCVBUFFORCE, which needs
	// CAP_NET_ADMIN, then SO_RCVBUF, which the kernel caps at
	// net.core.rmem_max; a smaller buffer than asked for is logged.
	ReadBuffer int
	// Readers is the number of goroutines reading each socket (default
	// GOMAXPROCS). The kernel hands each datagram to one of them.
	Readers int
}

// Server receives statsd and DogStatsD metrics over UDP, aggregates them
// and writes the aggregates to the Appendable at every flush. Its methods
// are safe for concurrent use. New starts the flush loop; Shutdown must be
// called to stop it.
type Server struct {
	opts    Options
	log     *slog.Logger
	table   *table
	metrics metrics

	sockets  *ingest.Sockets
	stopOnce sync.Once
	stopping chan struct{} // closed by Shutdown: the flush loop ends
	loopDone chan struct{}

	flushMu   sync.Mutex // one flush at a time; guards what follows
	lastTS    int64      // timestamp of the last flush, ms
	lastFlush time.Time
	list      []*series
	cum       []float64
	cumSq     []float64

	warnings selfmon.Warner
}

// New checks opts, fills in the defaults and returns a server whose flush
// loop runs. It listens on nothing itself: the caller binds the socket and
// passes it to ServeUDP, so that a bad address fails before anything runs.
func New(opts Options) (*Server, error) {
	if opts.Appendable == nil {
		return nil, errors.New("statsd: no Appendable")
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Percentiles == nil {
		opts.Percentiles = DefaultPercentiles
	}
	for _, p := range opts.Percentiles {
		if !(p >= -100 && p <= 100) || p == 0 {
			return nil, fmt.Errorf("statsd: percentile threshold %v is not in [-100, 100] or is 0", p)
		}
	}
	if opts.Quantiles == nil {
		opts.Quantiles = DefaultQuantiles
	}
	for _, q := range opts.Quantiles {
		if !(q > 0 && q <= 1) {
			return nil, fmt.Errorf("statsd: quantile %v is not in (0, 1]", q)
		}
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.MaxValues <= 0 {
		opts.MaxValues = DefaultMaxValues
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.ReadBuffer == 0 {
		opts.ReadBuffer = DefaultReadBuffer
	}
	if opts.Readers <= 0 {
		opts.Readers = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		table:     newTable(opts.MaxSeries, opts.MaxValues, newOutputTemplates(opts.Quantiles, opts.Percentiles)),
		metrics:   newMetrics(opts.Metrics),
		sockets:   ingest.NewSockets(),
		stopping:  make(chan struct{}),
		loopDone:  make(chan struct{}),
		lastFlush: time.Now(),
	}
	go s.flushLoop()
	return s, nil
}

func (s *Server) flushLoop() {
	defer close(s.loopDone)
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.Flush(context.Background()); err != nil {
				s.warnings.Warn(s.log, "flush", "Statsd flush failed", "err", err)
			}
		case <-s.stopping:
			return
		}
	}
}

// Shutdown stops reading from every socket, waits for the readers to
// finish the datagrams they hold, stops the flush loop and flushes what was
// aggregated; the ServeUDP calls then return nil. If ctx ends before the
// readers stop, the sockets are closed; the final flush still runs, under
// ctx. Datagrams the kernel buffered but the server had not read are lost.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.sockets.Shutdown(ctx, nil)
	s.stopOnce.Do(func() { close(s.stopping) })
	<-s.loopDone
	if ferr := s.Flush(ctx); ferr != nil && err == nil {
		err = ferr
	}
	return err
}

// batchStats count what a reader did since it last published its counts,
// so that the hot path touches no shared counter.
type batchStats struct {
	bytes, accepted, tagsDropped int
	rejected                     [numReasons]int
}

func (s *Server) publish(st *batchStats) {
	m := &s.metrics
	add(m.bytes, st.bytes)
	add(m.accepted, st.accepted)
	add(m.tagsDropped, st.tagsDropped)
	for r := rejectInvalid; r < numReasons; r++ {
		add(m.rejected[r], st.rejected[r])
	}
	*st = batchStats{}
}

// handleDatagram parses and aggregates the lines of one datagram.
func (s *Server) handleDatagram(p *Parser, d []byte, from net.Addr, st *batchStats) {
	st.bytes += len(d)
	lineNo := 0
	for len(d) > 0 {
		line := d
		if i := indexByteFrom(d, 0, '\n'); i >= 0 {
			line, d = d[:i], d[i+1:]
		} else {
			d = nil
		}
		lineNo++
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		p.Reset(line)
		for p.Next() {
			smp := p.Sample()
			why, dropped := s.table.observe(smp)
			if dropped > 0 {
				st.tagsDropped += dropped
				s.warnings.Warn(s.log, "tags", "Dropped statsd tags that cannot be labels (want key:value)",
					"from", addrString(from), "line", lineNo, "tags", abbreviate(smp.Tags), "dropped", dropped)
			}
			if why == accepted {
				st.accepted++
				continue
			}
			st.rejected[why]++
			s.warnRejected(why, smp, from, lineNo, line)
		}
		if err := p.Err(); err != nil {
			why := rejectInvalid
			var pe *ParseError
			if errors.As(err, &pe) && pe.Unsupported {
				why = rejectUnsupported
			}
			st.rejected[why]++
			if ok, suppressed := s.warnings.Allow(reasonNames[why]); ok {
				s.log.Warn("Rejected statsd line", "reason", reasonNames[why], "from", addrString(from),
					"line", lineNo, "err", err, "text", abbreviate(line), "suppressed", suppressed)
			}
		}
	}
}

func (s *Server) warnRejected(why reason, smp *Sample, from net.Addr, lineNo int, line []byte) {
	ok, suppressed := s.warnings.Allow(reasonNames[why])
	if !ok {
		return
	}
	var msg string
	switch why {
	case rejectNegativeCounter:
		msg = "Rejected negative statsd counter value: Prometheus counters only go up (use a gauge delta)"
	case rejectTypeConflict:
		msg = "Rejected statsd sample whose Prometheus name is used by another metric type"
	case rejectTooManySeries:
		msg = fmt.Sprintf("Rejected new statsd series: %d series are held already (max_series)", s.opts.MaxSeries)
	default:
		msg = "Rejected statsd sample"
	}
	s.log.Warn(msg, "reason", reasonNames[why], "from", addrString(from), "line", lineNo,
		"name", abbreviate(smp.Name), "type", smp.Type.String(), "text", abbreviate(line), "suppressed", suppressed)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// scaleOf is the factor from a type's unit to the unit written:
// milliseconds to seconds for timers, as statsd_exporter does.
func scaleOf(t Type) float64 {
	if t == Timer {
		return 1.0 / 1000
	}
	return 1
}
