// Package pipeline carries decoded events from the ingest endpoints to the
// store. It bounds what waits in memory, answers "busy" instead of growing,
// gathers the batches that arrive together into one store transaction (group
// commit), and releases each caller only once its events are durable.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
)

// Errors Submit returns besides the store's.
var (
	// ErrBusy means the queue is full; the client should retry later.
	ErrBusy = errors.New("ingest queue is full")
	// ErrClosed means the pipeline is shutting down.
	ErrClosed = errors.New("ingest is shutting down")
)

// Options tune the pipeline.
type Options struct {
	// MaxQueuedEvents bounds the events waiting for the writer.
	MaxQueuedEvents int
	// MaxCommitEvents caps the events of one group commit (default 100,000).
	MaxCommitEvents int
	// Observers see every committed batch (see Observer), in this order.
	Observers []Observer
	Metrics   *selfmon.Metrics
	Logger    *slog.Logger
}

// Observer derives something from the events the pipeline commits: the
// metrics of internal/derive (EMF, metric filters, RED metrics).
//
// The pipeline's single writer calls Observe with the events of each
// commit, after the store has committed them and before their senders are
// acknowledged, so an observer sees every committed event exactly once (a
// batch the store refused, or a duplicate keyed batch, is not observed)
// and never an uncommitted one; commits are observed one at a time, in
// commit order. Events of one commit may belong to several groups and
// protocols.
//
// Observe runs on the ingest hot path: it must be quick (no I/O, no
// waiting on locks held for long), and it must not call Submit or Close on
// the pipeline, which would deadlock. The events and their strings are
// valid only during the call and owned by their senders: an observer must
// not modify them, and must not retain them, their Fields or any string in
// them after it returns (copy with strings.Clone what it keeps).
type Observer interface {
	Observe(events []event.Event)
}

// Pipeline is the write path. It is safe for concurrent use.
type Pipeline struct {
	store  store.Store
	opts   Options
	queue  chan *job
	queued atomic.Int64
	mu     sync.RWMutex // guards closed against Submit
	closed bool
	done   chan struct{}
	log    *slog.Logger
}

type job struct {
	batch    store.Batch
	protocol string
	start    time.Time
	done     chan error
}

// New starts a pipeline writing to s.
func New(s store.Store, opts Options) *Pipeline {
	if opts.MaxQueuedEvents <= 0 {
		opts.MaxQueuedEvents = 500_000
	}
	if opts.MaxCommitEvents <= 0 {
		opts.MaxCommitEvents = 100_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		store: s,
		opts:  opts,
		queue: make(chan *job, 4096),
		done:  make(chan struct{}),
		log:   opts.Logger,
	}
	go p.run()
	return p
}

// Submit queues events and waits until they are durable, the store fails,
// or ctx ends. key, when not empty, makes the submission idempotent (see
// store.Batch.Key); a repeated key returns store.ErrDuplicateBatch. Submit
// returns ErrBusy at once when the queue is full; the caller decides
// whether that rejects the events (and counts them) or retries. events must not be
// modified until Submit returns. If ctx ends first the events may still be
// committed: the caller must not report them as lost or as stored.
func (p *Pipeline) Submit(ctx context.Context, protocol, key string, events []event.Event) error {
	if len(events) == 0 && key == "" {
		return nil
	}
	n := int64(len(events))
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	if p.queued.Add(n) > int64(p.opts.MaxQueuedEvents) && n > 0 {
		p.queued.Add(-n)
		p.mu.RUnlock()
		return ErrBusy
	}
	j := &job{batch: store.Batch{Key: key, Events: events}, protocol: protocol, start: time.Now(), done: make(chan error, 1)}
	select {
	case p.queue <- j:
	default:
		p.queued.Add(-n)
		p.mu.RUnlock()
		return ErrBusy
	}
	p.mu.RUnlock()
	p.gauge()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pipeline) gauge() {
	if p.opts.Metrics != nil {
		p.opts.Metrics.QueueEvents.Set(float64(p.queued.Load()))
	}
}

// Queued returns the number of events waiting to be written.
func (p *Pipeline) Queued() int64 { return p.queued.Load() }

// run is the single writer: it takes the first waiting job, gathers the
// keyless jobs queued behind it into the same commit, and acknowledges them
// all once the store has committed.
func (p *Pipeline) run() {
	defer close(p.done)
	var pending *job
	// commit gathers the events of several jobs; it is reused from one
	// commit to the next, as neither the store nor an observer keeps them.
	var commit []event.Event
	for {
		j := pending
		pending = nil
		if j == nil {
			var ok bool
			if j, ok = <-p.queue; !ok {
				return
			}
		}
		jobs := []*job{j}
		events := j.batch.Events
		if j.batch.Key == "" {
		gather:
			for len(events) < p.opts.MaxCommitEvents {
				select {
				case next, ok := <-p.queue:
					if !ok {
						break gather
					}
					if next.batch.Key != "" || len(events)+len(next.batch.Events) > p.opts.MaxCommitEvents {
						pending = next
						break gather
					}
					if len(jobs) == 1 {
						events = append(commit[:0], events...)
					}
					events = append(events, next.batch.Events...)
					jobs = append(jobs, next)
				default:
					break gather
				}
			}
		}
		err := p.store.Append(context.Background(), &store.Batch{Key: j.batch.Key, Events: events})
		if err == nil {
			for _, o := range p.opts.Observers {
				o.Observe(events)
			}
		}
		if len(jobs) > 1 {
			clear(events) // do not keep the senders' bodies reachable
			if cap(events) <= p.opts.MaxCommitEvents*2 {
				commit = events[:0]
			}
		}
		p.finish(jobs, err)
	}
}

func (p *Pipeline) finish(jobs []*job, err error) {
	now := time.Now()
	for _, j := range jobs {
		n := int64(len(j.batch.Events))
		p.queued.Add(-n)
		if m := p.opts.Metrics; m != nil {
			switch {
			case err == nil:
				m.EventsAccepted.WithLabelValues(j.protocol).Add(float64(n))
				m.BatchSeconds.WithLabelValues(j.protocol).Observe(now.Sub(j.start).Seconds())
			case errors.Is(err, store.ErrDuplicateBatch):
				m.DuplicateBatches.Inc()
			default:
				m.EventsRejected.WithLabelValues(j.protocol, "unavailable").Add(float64(n))
			}
		}
		j.done <- err
	}
	if err != nil && !errors.Is(err, store.ErrDuplicateBatch) {
		p.log.Error("Write to store failed", "events", len(jobs), "err", err)
	}
	p.gauge()
}

// Close stops accepting events and waits until everything queued is written.
func (p *Pipeline) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.queue)
	}
	p.mu.Unlock()
	<-p.done
}
