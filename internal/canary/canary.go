package canary

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/canary/condition"
	"github.com/sonde-dev/sonde/internal/canary/schedule"
	"github.com/sonde-dev/sonde/internal/config"
)

// Defaults for what a canary's configuration leaves out.
const (
	DefaultSchedule = "rate(5 minutes)"
	DefaultTimeout  = 30 * time.Second
	DefaultMaxDepth = 2
	DefaultMaxLinks = 50
)

// Canary is a compiled canary: its configuration with conditions,
// templates and schedule parsed. It is immutable and safe for concurrent
// use.
type Canary struct {
	Name     string
	Kind     string
	Schedule schedule.Schedule
	Timeout  time.Duration
	// Insecure accepts any TLS certificate.
	Insecure bool
	// Header is sent with every request.
	Header http.Header

	// URL is the heartbeat's page or the broken-link check's start.
	URL            *url.URL
	ExpectedStatus int
	MaxLatency     time.Duration
	Conditions     []*condition.Condition

	Steps                 []*APIStep
	ContinueOnStepFailure bool

	MaxDepth     int
	MaxLinks     int
	SkipExternal bool
}

// APIStep is a compiled api step.
type APIStep struct {
	Name       string
	Method     string
	URL        *condition.Template
	Header     map[string]*condition.Template
	Body       *condition.Template
	Timeout    time.Duration
	Conditions []*condition.Condition
	// Captures are taken in name order.
	Captures []Capture
}

// Capture is one value a step captures for later steps.
type Capture struct {
	Name string
	Expr *condition.Operand
}

// Compile checks a configured canary and applies the defaults. The
// configuration package validates the same rules with file and line; this
// is for canaries built in code.
func Compile(cfg config.Canary) (*Canary, error) {
	c := &Canary{
		Name:                  cfg.Name,
		Kind:                  cfg.Kind,
		Timeout:               time.Duration(cfg.Timeout),
		Insecure:              cfg.InsecureSkipVerify,
		Header:                http.Header{},
		ExpectedStatus:        cfg.ExpectedStatus,
		MaxLatency:            time.Duration(cfg.MaxLatency),
		ContinueOnStepFailure: cfg.ContinueOnStepFailure,
		MaxDepth:              cfg.MaxDepth,
		MaxLinks:              cfg.MaxLinks,
		SkipExternal:          cfg.SkipExternal,
	}
	fail := func(format string, args ...any) (*Canary, error) {
		return nil, fmt.Errorf("canary %q: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return nil, errors.New("canary: name is required")
	}
	text := cfg.Schedule
	if text == "" {
		text = DefaultSchedule
	}
	var err error
	if c.Schedule, err = schedule.Parse(text); err != nil {
		return fail("%v", err)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxLinks <= 0 {
		c.MaxLinks = DefaultMaxLinks
	}
	for k, v := range cfg.Headers {
		c.Header.Set(k, v)
	}
	switch c.Kind {
	case config.CanaryHeartbeat, config.CanaryBrokenLinks:
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail("url %q must be an http:// or https:// URL with a host", cfg.URL)
		}
		c.URL = u
	case config.CanaryAPI:
		if len(cfg.Steps) == 0 {
			return fail("an api canary needs steps")
		}
	default:
		return fail("unknown kind %q", c.Kind)
	}
	for _, text := range cfg.Conditions {
		cond, err := condition.Parse(text)
		if err != nil {
			return fail("condition %q: %v", text, err)
		}
		c.Conditions = append(c.Conditions, cond)
	}
	for i, sc := range cfg.Steps {
		st, err := compileStep(i, sc)
		if err != nil {
			return fail("%v", err)
		}
		c.Steps = append(c.Steps, st)
	}
	return c, nil
}

func compileStep(i int, sc config.CanaryStep) (*APIStep, error) {
	st := &APIStep{
		Name:    sc.Name,
		Method:  strings.ToUpper(sc.Method),
		Header:  map[string]*condition.Template{},
		Timeout: time.Duration(sc.Timeout),
	}
	if st.Name == "" {
		st.Name = fmt.Sprintf("step-%d", i+1)
	}
	if st.Method == "" {
		st.Method = http.MethodGet
	}
	var err error
	if st.URL, err = condition.ParseTemplate(sc.URL); err != nil {
		return nil, fmt.Errorf("step %s: url: %w", st.Name, err)
	}
	if st.Body, err = condition.ParseTemplate(sc.Body); err != nil {
		return nil, fmt.Errorf("step %s: body: %w", st.Name, err)
	}
	for k, v := range sc.Headers {
		if st.Header[http.CanonicalHeaderKey(k)], err = condition.ParseTemplate(v); err != nil {
			return nil, fmt.Errorf("step %s: header %s: %w", st.Name, k, err)
		}
	}
	for _, text := range sc.Conditions {
		cond, err := condition.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("step %s: condition %q: %w", st.Name, text, err)
		}
		st.Conditions = append(st.Conditions, cond)
	}
	for name, expr := range sc.Capture {
		o, err := condition.ParseOperand(expr)
		if err != nil {
			return nil, fmt.Errorf("step %s: capture %s: %w", st.Name, name, err)
		}
		st.Captures = append(st.Captures, Capture{Name: name, Expr: o})
	}
	sort.Slice(st.Captures, func(a, b int) bool { return st.Captures[a].Name < st.Captures[b].Name })
	return st, nil
}
