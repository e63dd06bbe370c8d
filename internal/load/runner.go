package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Exit codes of a run, Artillery's.
const (
	// ExitOK means every strict ensure check passed and no expectation
	// failed.
	ExitOK = 0
	// ExitEnsureFailed means a strict ensure check failed.
	ExitEnsureFailed = 1
	// ExitExpectFailed means an expect plugin expectation failed (and no
	// ensure check did).
	ExitExpectFailed = 21
)

// DefaultMaxWorkers bounds the worker pool unless Options.MaxWorkers is set.
const DefaultMaxWorkers = 10000

// Options tune a run. The zero value runs the script as written.
type Options struct {
	// Target overrides config.target.
	Target string
	// Out receives the console report (phase logs, a summary every period
	// and at the end, log steps, expect output). Nil discards it.
	Out io.Writer
	// Quiet prints only the final summary and checks.
	Quiet bool
	// Seed makes scenario picks, payload rows and variable picks
	// reproducible; 0 picks a random seed.
	Seed uint64
	// Speed compresses time: arrival times and think times are divided by
	// it (tests run a 120 s ramp in a few seconds with the same arrival
	// counts). 0 means 1.
	Speed float64
	// MaxWorkers bounds the number of concurrently running virtual users
	// (and goroutines); arrivals beyond it wait, and their wait is charged
	// to their latency. 0 means DefaultMaxWorkers.
	MaxWorkers int
	// MaxLag drops an arrival (vusers.dropped) that would start later than
	// this after its intended time, instead of sending it in a burst. 0
	// never drops.
	MaxLag time.Duration
	// Interval is the reporting period; 0 means 10 s, Artillery's.
	Interval time.Duration
	// Variables override or add config.variables.
	Variables map[string]any
	// Environment is the name given with -e, exposed as $environment.
	Environment string
	// NetHTTP sends every request through net/http instead of sonde's
	// HTTP/1.1 fast path (which plain http:// requests take by default).
	NetHTTP bool
	// TestID names the run; "" generates one.
	TestID string
	// Observers receive the run's progress (for example a Pusher).
	Observers []Observer
}

// RunInfo describes a run to observers.
type RunInfo struct {
	// TestID names the run.
	TestID string
	// Target is the base URL.
	Target string
	// Start is when the first phase started.
	Start time.Time
	// Phases are the script's phases.
	Phases []Phase
}

// Snapshot is the state of the generator at the end of a period.
type Snapshot struct {
	// ActiveVusers is the number of virtual users running.
	ActiveVusers int64
}

// Observer receives a run's progress. Its methods are called from one
// goroutine, in order: Started, Period for each closed period, Finished.
// They must not block for long: the run waits for them.
type Observer interface {
	Started(RunInfo)
	Period(Period, Snapshot)
	Finished(*Result)
}

// Result is the outcome of a run.
type Result struct {
	// Info describes the run.
	Info RunInfo
	// End is when the run finished.
	End time.Time
	// Report is the Artillery-shaped report.
	Report *Report
	// Checks are the ensure results, in the order they were configured.
	Checks []Check
	// ExitCode is Artillery's exit code for the run.
	ExitCode int
}

// runner is one run of a script.
type runner struct {
	script *Script
	opts   Options
	ctx    context.Context
	base   time.Time
	rec    *Recorder
	client *http.Client
	tr     *http.Transport
	fast   *fastClient
	proc   *processor
	out    *console
	target string
	speed  float64

	shared         map[string]any
	listVars       []string
	defaultHeaders []header
	staticURLs     map[*request]*url.URL
	staticHeaders  map[*request]http.Header
	fastPlans      map[*request]*fastPlan

	stopAbort    func() bool
	active       atomic.Int64
	expectFailed atomic.Bool
	seqPos       []int
}

// now returns monotonic nanoseconds since the run's base time.
func (r *runner) now() int64 { return int64(time.Since(r.base)) }

// wall converts a now() value to a time.
func (r *runner) wall(ns int64) time.Time { return r.base.Add(time.Duration(ns)) }

// sleep waits d (divided by the speed) or until the run is cancelled.
func (r *runner) sleep(d time.Duration) error {
	d = time.Duration(float64(d) / r.speed)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// Run runs a script until its phases are over and every virtual user has
// finished, or until ctx is cancelled (in-flight virtual users are then
// abandoned and counted as dropped). The returned error is for problems
// that prevent the run (bad target, processor that does not load); the
// outcome of the test itself is in the Result.
func Run(ctx context.Context, s *Script, opts Options) (*Result, error) {
	r, err := newRunner(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.run()
}

func newRunner(ctx context.Context, s *Script, opts Options) (*runner, error) {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.MaxWorkers <= 0 {
		opts.MaxWorkers = DefaultMaxWorkers
	}
	if opts.Seed == 0 {
		opts.Seed = rand.Uint64()
	}
	if opts.TestID == "" {
		opts.TestID = newTestID()
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	r := &runner{
		script: s,
		opts:   opts,
		ctx:    ctx,
		base:   time.Now(),
		out:    &console{w: out},
		target: s.Config.Target,
		speed:  opts.Speed,
		seqPos: make([]int, len(s.payloads)),
	}
	if r.speed <= 0 {
		r.speed = 1
	}
	if opts.Target != "" {
		r.target = opts.Target
	}
	if r.target == "" {
		return nil, errors.New("no target: set config.target or --target")
	}
	if _, err := url.Parse(r.target); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	r.sharedVars()
	if s.Config.Processor != "" {
		path := s.Config.Processor
		if !filepath.IsAbs(path) {
			path = filepath.Join(s.Dir, path)
		}
		p, err := loadProcessor(path, r.out)
		if err != nil {
			return nil, err
		}
		r.proc = p
	}
	maxIdle := 1024
	if opts.MaxWorkers < maxIdle {
		maxIdle = opts.MaxWorkers
	}
	r.tr = newTransport(s.Config.Pool, s.Config.Timeout, maxIdle)
	r.client = &http.Client{Transport: r.tr}
	if !opts.NetHTTP {
		r.fast = newFastClient(s.Config.Pool, maxIdle, s.Config.Timeout)
	}
	// A cancelled run abandons requests in flight at once.
	r.stopAbort = context.AfterFunc(ctx, func() {
		if r.fast != nil {
			r.fast.abort()
		}
	})
	r.defaultHeaders = s.Config.headers
	r.precompile()
	return r, nil
}

// close closes idle connections.
func (r *runner) close() {
	r.stopAbort()
	r.tr.CloseIdleConnections()
	if r.fast != nil {
		r.fast.close()
	}
}

// newTestID returns an id in the style of Artillery's (t + random).
func newTestID() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 0, 16)
	b = append(b, 't')
	for i := 0; i < 12; i++ {
		b = append(b, chars[rand.IntN(len(chars))])
	}
	return string(b)
}

// sharedVars builds the variables every virtual user starts from.
func (r *runner) sharedVars() {
	s := r.script
	env := envMap()
	m := map[string]any{
		"target":              r.target,
		"$env":                env,
		"$processEnvironment": env,
		"$environment":        r.opts.Environment,
		"$testId":             r.opts.TestID,
		"$dirname":            s.Dir,
	}
	vars := map[string]any{}
	for k, v := range s.Config.Variables {
		vars[k] = v
	}
	for k, v := range r.opts.Variables {
		vars[k] = v
	}
	for k, v := range vars {
		if list, ok := v.([]any); ok {
			if len(list) > 0 {
				r.listVars = append(r.listVars, k)
			}
			m[k] = list
			continue
		}
		if str, ok := v.(string); ok {
			if t, err := CompileTemplate(str); err == nil {
				m[k] = t.String(&Vars{shared: m})
				continue
			}
		}
		m[k] = v
	}
	sortStrings(r.listVars)
	for _, p := range s.payloads {
		if p.loadAll {
			m[p.name] = p.all
		}
	}
	r.shared = m
}

// precompile parses static URLs and builds static header sets once, so
// that requests without placeholders cost no parsing or map building.
func (r *runner) precompile() {
	r.staticURLs = map[*request]*url.URL{}
	r.staticHeaders = map[*request]http.Header{}
	r.fastPlans = map[*request]*fastPlan{}
	var walk func(steps []*Step)
	walk = func(steps []*Step) {
		for _, st := range steps {
			switch st.kind {
			case stepLoop:
				walk(st.loop.steps)
			case stepRequest:
				rq := st.req
				if p := r.planFast(rq); p != nil {
					r.fastPlans[rq] = p
				}
				if rq.url.IsStatic() {
					if u, err := url.Parse(resolveURL(r.target, rq.url.Source())); err == nil {
						r.staticURLs[rq] = u
					}
				}
				static := len(rq.formData) == 0
				for _, h := range r.defaultHeaders {
					static = static && h.value.IsStatic()
				}
				for _, h := range rq.headers {
					static = static && h.value.IsStatic()
				}
				if static {
					h := make(http.Header, len(r.defaultHeaders)+len(rq.headers)+1)
					for _, hd := range r.defaultHeaders {
						h.Set(hd.name, hd.value.Source())
					}
					for _, hd := range rq.headers {
						h.Set(hd.name, hd.value.Source())
					}
					if ct := rq.contentType(); ct != "" && h.Get("Content-Type") == "" {
						h.Set("Content-Type", ct)
					}
					r.staticHeaders[rq] = h
				}
			}
		}
	}
	for _, sc := range r.script.Scenarios {
		walk(sc.Flow)
	}
	if r.script.Before != nil {
		walk(r.script.Before.Flow)
	}
	if r.script.After != nil {
		walk(r.script.After.Flow)
	}
}

// ifTrue evaluates a request's ifTrue: a processor function of that name,
// else an expression over the virtual user's variables.
func (r *runner) ifTrue(rq *request, v *vu) (bool, error) {
	if r.proc.has(rq.ifTrue) {
		return r.proc.callPredicate(rq.ifTrue, v, r)
	}
	if rq.ifTrueExpr == nil {
		return false, &vuError{code: "invalid ifTrue expression " + rq.ifTrue}
	}
	res := rq.ifTrueExpr.eval(v.vars.get)
	return isTruthy(res), nil
}

// pick returns a weighted random scenario.
func (r *runner) pick(rng *rand.Rand) *Scenario {
	s := r.script
	if len(s.Scenarios) == 1 {
		return s.Scenarios[0]
	}
	n := rng.IntN(s.totalWeight)
	for _, sc := range s.Scenarios {
		if n < sc.Weight {
			return sc
		}
		n -= sc.Weight
	}
	return s.Scenarios[len(s.Scenarios)-1]
}

// newVU creates the variables of a new virtual user: one payload row per
// payload, one element of each list variable.
func (r *runner) newVU(rng *rand.Rand) *Vars {
	v := newVars(r.shared)
	for i, p := range r.script.payloads {
		p.bind(v, rng, &r.seqPos[i])
	}
	for _, k := range r.listVars {
		list := r.shared[k].([]any)
		v.set(k, list[rng.IntN(len(list))])
	}
	return v
}

// runSpecial runs the before or after flow once, synchronously. Variables
// captured by the before flow are shared with every virtual user.
func (r *runner) runSpecial(sc *Scenario, rng *rand.Rand, share bool) error {
	w := newWorker(r, rng.Uint64())
	vars := newVars(r.shared) // no payload row: only its captures are shared
	vars.rng = w.rng
	v := &vu{vars: vars, scenario: sc}
	if err := w.scenario(v, sc); err != nil {
		return err
	}
	if share {
		shared := make(map[string]any, len(r.shared)+len(vars.own))
		for k, x := range r.shared {
			shared[k] = x
		}
		for k, x := range vars.own {
			shared[k] = x
		}
		r.shared = shared
	}
	return nil
}

func (r *runner) run() (*Result, error) {
	s := r.script
	rng := rand.New(rand.NewPCG(r.opts.Seed, r.opts.Seed>>1|1))
	for _, w := range s.Warnings {
		r.out.line("Warning: " + w)
	}
	if !r.opts.Quiet {
		r.out.line(fmt.Sprintf("Test run id: %s", r.opts.TestID))
	}
	r.rec = NewRecorder(r.opts.Interval, time.Now())
	if s.Before != nil {
		if err := r.runSpecial(s.Before, rng, true); err != nil {
			return nil, fmt.Errorf("before flow: %w", err)
		}
	}

	start := time.Now()
	info := RunInfo{TestID: r.opts.TestID, Target: r.target, Start: start, Phases: s.Config.Phases}
	for _, o := range r.opts.Observers {
		o.Started(info)
	}

	// Periods are closed and reported by their own goroutine, on
	// wall-clock boundaries.
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		for {
			next := time.Now().Truncate(r.opts.Interval).Add(r.opts.Interval)
			t := time.NewTimer(time.Until(next))
			select {
			case <-stopTicker:
				t.Stop()
				return
			case <-t.C:
			}
			if p, ok := r.rec.Rotate(time.Now(), false); ok {
				r.period(p)
			}
		}
	}()

	r.schedule(start, rng)

	if s.After != nil && r.ctx.Err() == nil {
		if err := r.runSpecial(s.After, rng, false); err != nil {
			r.rec.Add(mErrors+errorName(err), 1, time.Now())
		}
	}
	close(stopTicker)
	<-tickerDone
	end := time.Now()
	if p, ok := r.rec.Rotate(end, true); ok {
		r.period(p)
	}
	agg := r.rec.Aggregate()
	res := &Result{
		Info: info,
		End:  end,
		Report: &Report{
			Aggregate:    agg,
			Intermediate: r.rec.Intermediate(),
		},
	}
	res.Checks = s.Config.Ensure.Evaluate(agg)
	if r.expectFailed.Load() {
		res.ExitCode = ExitExpectFailed
	}
	for _, c := range res.Checks {
		if c.Strict && !c.OK {
			res.ExitCode = ExitEnsureFailed
		}
	}
	r.out.summary(res, end.Sub(start))
	for _, o := range r.opts.Observers {
		o.Finished(res)
	}
	return res, nil
}

// period reports a closed period to the console and the observers.
func (r *runner) period(p Period) {
	if !r.opts.Quiet {
		r.out.period(p, r.opts.Interval)
	}
	snap := Snapshot{ActiveVusers: r.active.Load()}
	for _, o := range r.opts.Observers {
		o.Period(p, snap)
	}
}

// schedule is the scheduler: it walks the arrival plan, waits for each
// arrival's intended time and hands it to a worker. Workers are started on
// demand up to MaxWorkers and then reused; when all are busy the scheduler
// waits, and the arrivals it hands out late keep their intended time so
// that the wait is measured.
func (r *runner) schedule(start time.Time, rng *rand.Rand) {
	phases := r.script.Config.Phases
	sched := NewSchedule(phases)
	jobs := make(chan job)
	var wg sync.WaitGroup
	workers := 0
	// Worker seeds come from their own source: how many workers start
	// depends on timing, and must not change the picks of rng.
	seeds := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	wait := func(until time.Time) bool {
		d := time.Until(until)
		if d <= 0 {
			return r.ctx.Err() == nil
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-r.ctx.Done():
			timer.Stop()
			return false
		}
	}
	scale := func(d time.Duration) time.Time {
		return start.Add(time.Duration(float64(d) / r.speed))
	}
	cur := -1
	enter := func(upTo int) bool {
		for cur < upTo {
			if cur >= 0 && !r.opts.Quiet {
				r.out.phase("Phase completed", &phases[cur], time.Now())
			}
			cur++
			if cur >= len(phases) {
				return true
			}
			if !wait(scale(sched.PhaseStart(cur))) {
				return false
			}
			if !r.opts.Quiet {
				r.out.phase("Phase started", &phases[cur], time.Now())
			}
		}
		return true
	}
	dropped := int64(0)
	cancelled := false
	for !cancelled {
		a, ok := sched.Next()
		if !ok {
			if enter(len(phases)-1) && wait(scale(sched.Total())) {
				enter(len(phases))
			}
			break
		}
		if !enter(a.Phase) {
			dropped++
			cancelled = true
			break
		}
		at := scale(a.At)
		if !wait(at) {
			dropped++
			cancelled = true
			break
		}
		ph := &phases[a.Phase]
		if ph.MaxVusers > 0 && r.active.Load() >= int64(ph.MaxVusers) {
			r.rec.Add(mVusersSkipped, 1, time.Now())
			continue
		}
		j := job{intended: at, scenario: r.pick(rng), phase: ph}
		j.vars = r.newVU(rng)
		r.active.Add(1)
		select {
		case jobs <- j:
			continue
		default:
		}
		if workers < r.opts.MaxWorkers {
			workers++
			wg.Add(1)
			w := newWorker(r, seeds.Uint64())
			go func(first job) {
				defer wg.Done()
				w.run(first)
				for j := range jobs {
					w.run(j)
				}
			}(j)
			continue
		}
		select {
		case jobs <- j:
		case <-r.ctx.Done():
			r.active.Add(-1)
			dropped++
			cancelled = true
		}
	}
	if cancelled {
		for {
			if _, ok := sched.Next(); !ok {
				break
			}
			dropped++
		}
	}
	if dropped > 0 {
		r.rec.Add(mVusersDropped, dropped, time.Now())
	}
	close(jobs)
	wg.Wait()
}
