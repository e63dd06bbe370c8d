package xray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// Protocol is this package's label in sonde's own metrics.
const Protocol = "xray_udp"

// DefaultAddr is where X-Ray SDKs send segments (the daemon's address).
const DefaultAddr = "127.0.0.1:2000"

const (
	maxBatch       = 1000
	batchWait      = 200 * time.Millisecond
	queuedBatches  = 8
	rememberedSegs = 100_000
)

// Options configure a Server.
type Options struct {
	// Pipeline is where spans go. It must not be nil.
	Pipeline *pipeline.Pipeline
	Metrics  *selfmon.Metrics
	Logger   *slog.Logger
	// MaxFields caps the fields of one span event (default 200).
	MaxFields int
}

// Server reads X-Ray daemon datagrams. Spans are gathered into batches of
// up to 1000 or 200 ms, and a writer goroutine submits them while the next
// batch is read. UDP cannot slow a sender down: when the writer falls
// behind, batches are dropped and counted as "busy".
type Server struct {
	opts    Options
	log     *slog.Logger
	closing atomic.Bool
	mu      sync.Mutex
	pc      net.PacketConn
	done    chan struct{}

	segMu    sync.Mutex
	services map[string]string // segment id -> service, for lone subsegments
	warned   atomic.Int64      // unix seconds of the last warning
}

// New returns a server. opts.Pipeline must be set.
func New(opts Options) *Server {
	if opts.Pipeline == nil {
		panic("BUG: xray.New without a pipeline")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxFields <= 0 {
		opts.MaxFields = 200
	}
	return &Server{opts: opts, log: opts.Logger, services: map[string]string{}, done: make(chan struct{})}
}

func (s *Server) seen(id, service string) {
	s.segMu.Lock()
	if len(s.services) >= rememberedSegs {
		clear(s.services)
	}
	s.services[id] = service
	s.segMu.Unlock()
}

func (s *Server) serviceOf(id string) string {
	s.segMu.Lock()
	defer s.segMu.Unlock()
	return s.services[id]
}

func (s *Server) count(reason string, n int) {
	if m := s.opts.Metrics; m != nil && n > 0 {
		m.EventsRejected.WithLabelValues(Protocol, reason).Add(float64(n))
	}
}

// warn logs at most one warning a minute.
func (s *Server) warn(msg string, args ...any) {
	now := time.Now().Unix()
	if last := s.warned.Load(); now-last < 60 || !s.warned.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn(msg, args...)
}

// ServeUDP reads datagrams from pc until Shutdown (then it returns nil) or
// a read error (returned). It closes pc.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		pc.Close()
		return nil
	}
	s.pc = pc
	s.mu.Unlock()
	defer close(s.done)
	defer pc.Close()
	batches := make(chan []event.Event, queuedBatches)
	written := make(chan struct{})
	go func() {
		defer close(written)
		for b := range batches {
			s.submit(b)
		}
	}()
	err := s.read(pc, batches)
	close(batches)
	<-written
	return err
}

func (s *Server) submit(events []event.Event) {
	err := s.opts.Pipeline.Submit(context.Background(), Protocol, "", events)
	switch {
	case err == nil:
	case errors.Is(err, pipeline.ErrBusy):
		s.count("busy", len(events))
		s.warn("Dropped X-Ray segments: the ingest queue is full", "spans", len(events))
	case errors.Is(err, pipeline.ErrClosed):
		s.count("unavailable", len(events))
	default:
		// The pipeline counted the store's failure.
		s.warn("Dropped X-Ray segments: the store failed", "spans", len(events), "err", err)
	}
}

func (s *Server) read(pc net.PacketConn, batches chan<- []event.Event) error {
	dec := &Decoder{MaxFields: s.opts.MaxFields, ServiceOf: s.serviceOf, Seen: s.seen}
	buf := make([]byte, MaxDocumentBytes+256)
	var batch []event.Event
	var first time.Time
	var deadline time.Time
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if s.closing.Load() {
			batches <- batch
		} else {
			select {
			case batches <- batch:
			default:
				s.count("busy", len(batch))
				s.warn("Dropped X-Ray segments: the writer is behind", "spans", len(batch))
			}
		}
		batch = nil
	}
	for {
		want := time.Time{}
		if len(batch) > 0 {
			want = first.Add(batchWait)
		}
		if !want.Equal(deadline) {
			_ = pc.SetReadDeadline(want)
			deadline = want
		}
		if s.closing.Load() {
			flush()
			return nil
		}
		n, _, err := pc.ReadFrom(buf)
		if n > 0 {
			if m := s.opts.Metrics; m != nil {
				m.Bytes.WithLabelValues(Protocol).Add(float64(n))
			}
			if len(batch) == 0 {
				first = time.Now()
			}
			doc, perr := ParseDatagram(buf[:n])
			if perr == nil {
				before := dec.Truncated
				batch, perr = dec.Decode(doc, batch)
				if m := s.opts.Metrics; m != nil && dec.Truncated > before {
					m.FieldsTruncated.WithLabelValues(Protocol).Add(float64(dec.Truncated - before))
				}
			}
			if perr != nil {
				s.count("invalid", 1)
				s.warn("Rejected an X-Ray segment", "err", perr)
			}
			if len(batch) >= maxBatch {
				flush()
			}
		}
		var ne net.Error
		switch {
		case err == nil:
			if len(batch) > 0 && time.Since(first) >= batchWait {
				flush()
			}
		case errors.As(err, &ne) && ne.Timeout():
			flush()
		case s.closing.Load():
			flush()
			return nil
		default:
			flush()
			return fmt.Errorf("read X-Ray datagram: %w", err)
		}
	}
}

// Shutdown stops reading, writes what was read, and waits for ServeUDP to
// return or ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		return nil
	}
	_ = pc.SetReadDeadline(time.Now().Add(-time.Second))
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
