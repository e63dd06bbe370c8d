package canary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/sonde-dev/sonde/internal/canary/condition"
	"github.com/sonde-dev/sonde/internal/config"
)

// RunnerOptions tune how canaries make their requests.
type RunnerOptions struct {
	// TLSConfig is the base TLS configuration of each run's transport (for
	// example extra root CAs). It is cloned, never modified.
	TLSConfig *tls.Config
	// Transport, when set, makes every request instead of a fresh
	// transport per run. Timings then depend on it: a transport that does
	// not go through the network reports no DNS, connect or TLS phases.
	Transport http.RoundTripper
}

// Runner runs canaries once. It needs no sonde server: the CLI uses it
// alone, the Service on a schedule. It is safe for concurrent use.
type Runner struct {
	opts RunnerOptions
}

// NewRunner returns a Runner.
func NewRunner(opts RunnerOptions) *Runner { return &Runner{opts: opts} }

// Run runs c once and returns its result; trigger says what started it
// (TriggerSchedule, TriggerAPI, TriggerCLI). The run ends within c.Timeout
// or when ctx ends; either fails the run.
func (r *Runner) Run(ctx context.Context, c *Canary, trigger string) *Run {
	start := time.Now()
	run := &Run{ID: ulid.Make().String(), Canary: c.Name, Kind: c.Kind, Trigger: trigger, Start: start}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	s := r.newSession(c)
	defer s.close()
	switch c.Kind {
	case config.CanaryHeartbeat:
		run.Steps = []StepResult{heartbeat(ctx, s, c)}
	case config.CanaryAPI:
		run.Steps = apiSteps(ctx, s, c)
	case config.CanaryBrokenLinks:
		run.Steps, run.LinksSkipped = brokenLinks(ctx, s, c)
	}
	run.DurationMs = ms(time.Since(start))
	run.Success = len(run.Steps) > 0
	for _, st := range run.Steps {
		if !st.Success {
			run.Success = false
		}
	}
	if !run.Success {
		run.Error = runError(c, run.Steps)
	}
	if err := ctx.Err(); err != nil {
		run.Success = false
		why := "canceled"
		if errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Sprintf("timed out after %s", c.Timeout)
		}
		if run.Error != "" {
			why += "; " + run.Error
		}
		run.Error = why
	}
	return run
}

// runError summarises why a run failed.
func runError(c *Canary, steps []StepResult) string {
	if c.Kind == config.CanaryBrokenLinks {
		var broken []string
		for _, st := range steps {
			if !st.Success {
				broken = append(broken, st.URL+" ("+st.Error+")")
			}
		}
		n := len(broken)
		if n > 3 {
			broken = append(broken[:3], fmt.Sprintf("and %d more", n-3))
		}
		return fmt.Sprintf("%d broken link(s): %s", n, strings.Join(broken, ", "))
	}
	for _, st := range steps {
		if !st.Success && !st.Skipped {
			return fmt.Sprintf("step %s: %s", st.Name, st.Error)
		}
	}
	return "no step ran"
}

// stepFromExchange fills a step result with what its requests gave.
func stepFromExchange(name, method, url string, x *exchange) StepResult {
	st := StepResult{
		Name: name, Method: method, URL: url, Status: x.status,
		DurationMs: ms(x.duration), ResponseTimeMs: ms(x.responseTime),
		Requests: x.requests, Timings: noTimings,
	}
	for _, rq := range x.requests {
		st.Timings = st.Timings.add(rq.Timings)
	}
	return st
}

// conditionInput is what conditions see of an exchange.
func conditionInput(x *exchange, captured map[string]string) *condition.Response {
	in := &condition.Response{
		Status: x.status, ResponseTime: x.responseTime, IP: x.ip, Connected: x.status != 0,
		Header: x.header, Body: x.body, Context: captured,
	}
	if x.tls != nil && len(x.tls.PeerCertificates) > 0 {
		in.TLS = true
		in.CertificateExpiration = time.Until(x.tls.PeerCertificates[0].NotAfter)
	}
	return in
}

// check decides a step: a request that got no response fails it unless a
// condition reads [CONNECTED] (a check that something is down); status,
// when not nil, judges the status of a response; then every condition must
// hold. The first reason to fail is the step's error.
func check(st *StepResult, x *exchange, in *condition.Response, status func(int) string, conds []*condition.Condition) {
	st.Success = true
	fail := func(reason string) {
		if st.Success {
			st.Error = reason
		}
		st.Success = false
	}
	readsConnected := false
	for _, c := range conds {
		readsConnected = readsConnected || c.Uses(condition.Connected)
	}
	if x.err != nil && !(readsConnected && x.status == 0) {
		fail(x.err.Error())
	}
	if status != nil && x.status != 0 {
		if reason := status(x.status); reason != "" {
			fail(reason)
		}
	}
	for _, c := range conds {
		res := c.Eval(in)
		st.Conditions = append(st.Conditions, res)
		if !res.Success {
			fail("condition failed: " + res.Condition)
		}
	}
}

// want2xx is the status rule of steps without conditions, and of
// heartbeats without expected_status.
func want2xx(code int) string {
	if code < 200 || code > 299 {
		return fmt.Sprintf("status %d, want 2xx", code)
	}
	return ""
}

// heartbeat loads the canary's URL once: it wants expected_status (or a
// 2xx), a response within max_latency, and its conditions.
func heartbeat(ctx context.Context, s *session, c *Canary) StepResult {
	x := s.fetch(ctx, http.MethodGet, c.URL.String(), c.Header, "")
	st := stepFromExchange(c.URL.String(), http.MethodGet, c.URL.String(), x)
	status := want2xx
	if c.ExpectedStatus != 0 {
		status = func(code int) string {
			if code != c.ExpectedStatus {
				return fmt.Sprintf("status %d, want %d", code, c.ExpectedStatus)
			}
			return ""
		}
	}
	check(&st, x, conditionInput(x, nil), status, c.Conditions)
	if c.MaxLatency > 0 && x.duration > c.MaxLatency && st.Success {
		st.Success, st.Error = false, fmt.Sprintf("took %s, more than max_latency %s", x.duration.Round(time.Millisecond), c.MaxLatency)
	}
	return st
}

// apiSteps runs the steps of an api canary in order, passing captured
// values along.
func apiSteps(ctx context.Context, s *session, c *Canary) []StepResult {
	captured := map[string]string{}
	out := make([]StepResult, 0, len(c.Steps))
	failed := false
	for _, step := range c.Steps {
		if failed && !c.ContinueOnStepFailure {
			out = append(out, StepResult{Name: step.Name, Method: step.Method, Skipped: true,
				Error: "not run: an earlier step failed", Timings: noTimings})
			continue
		}
		st := apiStep(ctx, s, c, step, captured)
		failed = failed || !st.Success
		out = append(out, st)
	}
	return out
}

func apiStep(ctx context.Context, s *session, c *Canary, step *APIStep, captured map[string]string) StepResult {
	notRun := func(err error) StepResult {
		return StepResult{Name: step.Name, Method: step.Method, Error: err.Error(), Timings: noTimings}
	}
	u, err := step.URL.Expand(captured)
	if err != nil {
		return notRun(fmt.Errorf("url: %w", err))
	}
	body, err := step.Body.Expand(captured)
	if err != nil {
		return notRun(fmt.Errorf("body: %w", err))
	}
	header := c.Header.Clone()
	for name, t := range step.Header {
		v, err := t.Expand(captured)
		if err != nil {
			return notRun(fmt.Errorf("header %s: %w", name, err))
		}
		header.Set(name, v)
	}
	if step.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, step.Timeout)
		defer cancel()
	}
	x := s.fetch(ctx, step.Method, u, header, body)
	st := stepFromExchange(step.Name, step.Method, u, x)
	in := conditionInput(x, captured)
	var captureErr error
	for _, cp := range step.Captures {
		v, err := cp.Expr.Resolve(in)
		if err != nil {
			captureErr = errors.Join(captureErr, fmt.Errorf("capture %s: %w", cp.Name, err))
			continue
		}
		captured[cp.Name] = v
	}
	var status func(int) string
	if len(step.Conditions) == 0 {
		status = want2xx
	}
	check(&st, x, in, status, step.Conditions)
	if captureErr != nil && st.Success {
		st.Success, st.Error = false, captureErr.Error()
	}
	return st
}
