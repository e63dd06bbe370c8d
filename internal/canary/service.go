package canary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/prometheus/storage"

	"github.com/sonde-dev/sonde/internal/event"
)

// Errors of the Service.
var (
	// ErrNotFound means no canary has that name.
	ErrNotFound = errors.New("canary not found")
	// ErrStopped means the service is shutting down.
	ErrStopped = errors.New("canaries are shutting down")
)

// DefaultHistory is how many runs per canary the Service keeps in memory.
const DefaultHistory = 100

// Options configure a Service.
type Options struct {
	// Canaries are the canaries to schedule; names must be unique.
	Canaries []*Canary
	// Runner makes the runs (nil: NewRunner(RunnerOptions{})).
	Runner *Runner
	// Events stores each run as an event in EventGroup (nil: runs are
	// not stored).
	Events Submitter
	// Appendable receives each run's canary_* metrics (nil: no metrics).
	Appendable storage.Appendable
	// History is how many recent runs per canary are kept in memory for
	// the API (default DefaultHistory).
	History int
	Logger  *slog.Logger
}

// Service runs canaries on their schedules and on demand, keeps their
// recent runs, and records every run as an event and as metrics. Runs of
// one canary never overlap: a run asked for while another is going waits
// for it. All methods are safe for concurrent use.
type Service struct {
	opts   Options
	runner *Runner
	log    *slog.Logger
	shapes *event.Shapes
	states []*state
	byName map[string]*state

	// ctx ends every run when the service stops.
	ctx    context.Context
	cancel context.CancelFunc
	// mu guards stopped against wg.Add; wg counts the schedule loops and
	// the runs asked for through RunNow.
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// state is one canary's schedule and history.
type state struct {
	canary *Canary
	// running holds a token while the canary runs, which serializes its
	// runs. (A channel rather than a mutex: waiting on it is durable
	// blocking for testing/synctest.)
	running chan struct{}

	mu       sync.Mutex // guards the fields below
	history  []*Run     // oldest first
	next     time.Time  // next scheduled run; zero if none
	requests map[string]float64
}

// NewService prepares a Service; Run starts the schedules.
func NewService(opts Options) (*Service, error) {
	if opts.Runner == nil {
		opts.Runner = NewRunner(RunnerOptions{})
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{opts: opts, runner: opts.Runner, log: opts.Logger, shapes: event.NewShapes(1000), byName: map[string]*state{}}
	for _, c := range opts.Canaries {
		if s.byName[c.Name] != nil {
			return nil, fmt.Errorf("duplicate canary name %q", c.Name)
		}
		st := &state{canary: c, running: make(chan struct{}, 1), requests: map[string]float64{}}
		for _, class := range codeClasses {
			st.requests[class] = 0
		}
		s.states = append(s.states, st)
		s.byName[c.Name] = st
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Run schedules every canary and returns when ctx ends or Stop is called.
// Runs then in progress end early and are not recorded; Stop waits for
// them.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.wg.Add(len(s.states))
	s.mu.Unlock()
	for _, st := range s.states {
		go s.loop(st)
	}
	select {
	case <-ctx.Done():
		s.cancel()
	case <-s.ctx.Done():
	}
	return nil
}

// Stop ends the schedules and the runs in progress, and waits for them
// until ctx ends.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.cancel()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for canary runs: %w", ctx.Err())
	}
}

// loop runs one canary on its schedule.
func (s *Service) loop(st *state) {
	defer s.wg.Done()
	sched := st.canary.Schedule
	next, ok := sched.First(time.Now())
	for ok {
		st.setNext(next)
		if wait := time.Until(next); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-s.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		if s.ctx.Err() != nil {
			return
		}
		s.execute(st, TriggerSchedule)
		next, ok = sched.Next(next, time.Now())
	}
	st.setNext(time.Time{})
}

func (st *state) setNext(t time.Time) {
	st.mu.Lock()
	st.next = t
	st.mu.Unlock()
}

// RunNow runs the named canary at once (after a run in progress, if any)
// and returns its result. The run goes on and is recorded even if ctx ends
// first; RunNow then returns ctx's error.
func (s *Service) RunNow(ctx context.Context, name string) (*Run, error) {
	st := s.byName[name]
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, ErrStopped
	}
	s.wg.Add(1)
	s.mu.Unlock()
	done := make(chan *Run, 1)
	go func() {
		defer s.wg.Done()
		done <- s.execute(st, TriggerAPI)
	}()
	select {
	case run := <-done:
		return run, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// execute runs a canary and records the run, unless the service stopped
// during it.
func (s *Service) execute(st *state, trigger string) *Run {
	st.running <- struct{}{}
	defer func() { <-st.running }()
	run := s.runner.Run(s.ctx, st.canary, trigger)
	if s.ctx.Err() != nil {
		return run
	}
	st.mu.Lock()
	st.history = append(st.history, run)
	if n := len(st.history) - s.opts.History; n > 0 {
		st.history = append(st.history[:0:0], st.history[n:]...)
	}
	for _, step := range run.Steps {
		for _, rq := range step.Requests {
			st.requests[codeClass(rq.Status)]++
		}
	}
	requests := make(map[string]float64, len(st.requests))
	for k, v := range st.requests {
		requests[k] = v
	}
	st.mu.Unlock()
	if !run.Success {
		s.log.Warn("Canary failed", "canary", run.Canary, "run", run.ID, "error", run.Error, "duration_ms", run.DurationMs)
	}
	s.record(run, requests)
	return run
}

// record writes the run's event and metrics. Their failures are logged:
// the run itself stays in the history.
func (s *Service) record(run *Run, requests map[string]float64) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.opts.Events != nil {
		ev, err := runEvent(run, s.shapes)
		if err == nil {
			err = s.opts.Events.Submit(ctx, "canary", "", []event.Event{ev})
		}
		if err != nil {
			s.log.Error("Store canary run failed", "canary", run.Canary, "run", run.ID, "err", err)
		}
	}
	if s.opts.Appendable != nil {
		if err := appendMetrics(ctx, s.opts.Appendable, run, requests); err != nil {
			s.log.Error("Write canary metrics failed", "canary", run.Canary, "run", run.ID, "err", err)
		}
	}
}

// Status is a canary with its last run, as GET /api/v1/canaries lists it.
type Status struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Schedule string `json:"schedule"`
	// NextRun is the next scheduled run; nil when none is scheduled.
	NextRun *time.Time `json:"nextRun"`
	// LastRun is the last run without its steps; nil before the first.
	LastRun *Run `json:"lastRun"`
}

// List returns every canary's status, in configuration order.
func (s *Service) List() []Status {
	out := make([]Status, 0, len(s.states))
	for _, st := range s.states {
		c := st.canary
		status := Status{Name: c.Name, Kind: c.Kind, Schedule: c.Schedule.String()}
		st.mu.Lock()
		if !st.next.IsZero() {
			next := st.next
			status.NextRun = &next
		}
		if n := len(st.history); n > 0 {
			last := *st.history[n-1]
			last.Steps = nil
			status.LastRun = &last
		}
		st.mu.Unlock()
		out = append(out, status)
	}
	return out
}

// Runs returns the named canary's kept runs, newest first.
func (s *Service) Runs(name string) ([]*Run, error) {
	st := s.byName[name]
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*Run, len(st.history))
	for i, r := range st.history {
		out[len(out)-1-i] = r
	}
	return out, nil
}
