package config

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/canary/condition"
	"github.com/sonde-dev/sonde/internal/canary/schedule"
)

// Canary kinds.
const (
	CanaryHeartbeat   = "heartbeat"
	CanaryAPI         = "api"
	CanaryBrokenLinks = "broken_links"
)

// Canary is one synthetic canary: a check that sonde runs on a schedule
// against a service, recording each run as an event in the log group
// sonde/canaries and as canary_* metrics (see package canary).
//
// Keys that belong to one kind are rejected on the others.
type Canary struct {
	// Name identifies the canary in the API, metrics and events: letters,
	// digits, '.', '_' and '-', starting with a letter or digit.
	Name string `yaml:"name"`
	// Kind is heartbeat, api or broken_links.
	Kind string `yaml:"kind"`
	// Schedule is rate(N minutes|hours|days), rate(0 minute) for once at
	// start, or cron(...) with 5 fields or AWS' 6 (UTC). Default
	// rate(5 minutes).
	Schedule string `yaml:"schedule"`
	// Timeout bounds a whole run (default 30s).
	Timeout Duration `yaml:"timeout"`
	// InsecureSkipVerify accepts any TLS certificate (self-signed test
	// servers). [CERTIFICATE_EXPIRATION] still reads the certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// Headers are sent with every request of the canary.
	Headers map[string]string `yaml:"headers"`

	// URL is the page a heartbeat loads or where a broken-link check starts.
	URL string `yaml:"url"`

	// ExpectedStatus is the status a heartbeat wants (default: any 2xx).
	ExpectedStatus int `yaml:"expected_status"`
	// MaxLatency fails a heartbeat whose request, body included, takes longer
	// (0: no limit).
	MaxLatency Duration `yaml:"max_latency"`
	// Conditions are extra Gatus conditions a heartbeat must meet.
	Conditions []string `yaml:"conditions"`

	// Steps are the requests of an api canary, run in order.
	Steps []CanaryStep `yaml:"steps"`
	// ContinueOnStepFailure runs the remaining steps of an api canary after
	// one fails (the run still fails).
	ContinueOnStepFailure bool `yaml:"continue_on_step_failure"`

	// MaxDepth is how many levels of links a broken_links canary follows
	// from URL (default 2): 1 checks the links of the start page; 2 also
	// the links of the same-host pages it links to; and so on. Pages on
	// other hosts are checked but never crawled.
	MaxDepth int `yaml:"max_depth"`
	// MaxLinks caps the URLs a broken_links run fetches, the start URL
	// included, as CloudWatch's broken link checker does (default 50).
	MaxLinks int `yaml:"max_links"`
	// SkipExternal leaves links to other hosts unchecked.
	SkipExternal bool `yaml:"skip_external"`
}

// CanaryStep is one request of an api canary.
type CanaryStep struct {
	// Name labels the step in results and metrics (default step-N).
	Name string `yaml:"name"`
	// Method is the HTTP method (default GET).
	Method string `yaml:"method"`
	// URL, Headers and Body may use values captured by earlier steps as
	// {{ name }}.
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// Timeout bounds the step's request (default: what is left of the
	// canary's timeout).
	Timeout Duration `yaml:"timeout"`
	// Conditions are Gatus conditions that must all hold ("[STATUS] ==
	// 200"). Without conditions the step wants a 2xx status.
	Conditions []string `yaml:"conditions"`
	// Capture names values of the response for later steps, as capture
	// expressions: [BODY].path, [HEADER].Name, [STATUS]... Later steps read
	// them as {{ name }} and in conditions as [CONTEXT].name; the step's own
	// conditions may read them too.
	Capture map[string]string `yaml:"capture"`
}

// canaryName is what a canary may be called.
var canaryName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// kindKeys lists the keys only some kinds take.
var kindKeys = map[string][]string{
	"url":                      {CanaryHeartbeat, CanaryBrokenLinks},
	"expected_status":          {CanaryHeartbeat},
	"max_latency":              {CanaryHeartbeat},
	"conditions":               {CanaryHeartbeat},
	"steps":                    {CanaryAPI},
	"continue_on_step_failure": {CanaryAPI},
	"max_depth":                {CanaryBrokenLinks},
	"max_links":                {CanaryBrokenLinks},
	"skip_external":            {CanaryBrokenLinks},
}

// validateCanaries checks the canaries section.
func (c *Config) validateCanaries() []error {
	var errs []error
	seen := map[string]bool{}
	for i := range c.Canaries {
		cn := &c.Canaries[i]
		key := fmt.Sprintf("canaries[%d]", i)
		switch {
		case !canaryName.MatchString(cn.Name):
			errs = append(errs, c.errorAt(key, "name %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", cn.Name))
		case seen[cn.Name]:
			errs = append(errs, c.errorAt(key, "duplicate canary name %q", cn.Name))
		}
		seen[cn.Name] = true
		switch cn.Kind {
		case CanaryHeartbeat, CanaryAPI, CanaryBrokenLinks:
		default:
			errs = append(errs, c.errorAt(key, "kind %q: want heartbeat, api or broken_links", cn.Kind))
			continue
		}
		for k, kinds := range kindKeys {
			if _, set := c.lines[key+"."+k]; set && !slices.Contains(kinds, cn.Kind) {
				errs = append(errs, c.errorAt(key+"."+k, "not a key of %s canaries (only of %s)", cn.Kind, strings.Join(kinds, ", ")))
			}
		}
		if cn.Schedule != "" {
			if s, err := schedule.Parse(cn.Schedule); err != nil {
				errs = append(errs, c.errorAt(key+".schedule", "%v", err))
			} else if _, ok := s.First(time.Now()); !ok {
				errs = append(errs, c.errorAt(key+".schedule", "%s never runs", cn.Schedule))
			}
		}
		if cn.Timeout < 0 {
			errs = append(errs, c.errorAt(key+".timeout", "must not be negative"))
		}
		errs = append(errs, c.validateHeaders(key+".headers", cn.Headers)...)
		switch cn.Kind {
		case CanaryHeartbeat, CanaryBrokenLinks:
			if err := checkCanaryURL(cn.URL); err != nil {
				errs = append(errs, c.errorAt(key+".url", "%v", err))
			}
		case CanaryAPI:
			if len(cn.Steps) == 0 {
				errs = append(errs, c.errorAt(key, "an api canary needs steps"))
			}
		}
		if cn.ExpectedStatus != 0 && (cn.ExpectedStatus < 100 || cn.ExpectedStatus > 599) {
			errs = append(errs, c.errorAt(key+".expected_status", "%d is not an HTTP status", cn.ExpectedStatus))
		}
		if cn.MaxLatency < 0 {
			errs = append(errs, c.errorAt(key+".max_latency", "must not be negative"))
		}
		for j, cond := range cn.Conditions {
			errs = append(errs, c.validateCondition(fmt.Sprintf("%s.conditions[%d]", key, j), cond, nil)...)
		}
		if _, set := c.lines[key+".max_depth"]; set && (cn.MaxDepth < 1 || cn.MaxDepth > 10) {
			errs = append(errs, c.errorAt(key+".max_depth", "must be between 1 and 10"))
		}
		if _, set := c.lines[key+".max_links"]; set && (cn.MaxLinks < 1 || cn.MaxLinks > 10000) {
			errs = append(errs, c.errorAt(key+".max_links", "must be between 1 and 10000"))
		}
		errs = append(errs, c.validateSteps(key, cn.Steps)...)
	}
	return errs
}

// validateSteps checks the steps of an api canary, and that every captured
// value is captured before it is used.
func (c *Config) validateSteps(key string, steps []CanaryStep) []error {
	var errs []error
	captured := map[string]bool{}
	names := map[string]bool{}
	for j, st := range steps {
		skey := fmt.Sprintf("%s.steps[%d]", key, j)
		name := st.Name
		if name == "" {
			name = fmt.Sprintf("step-%d", j+1)
		}
		if names[name] {
			errs = append(errs, c.errorAt(skey, "duplicate step name %q", name))
		}
		names[name] = true
		switch strings.ToUpper(st.Method) {
		case "", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			errs = append(errs, c.errorAt(skey+".method", "unknown method %q", st.Method))
		}
		if st.Timeout < 0 {
			errs = append(errs, c.errorAt(skey+".timeout", "must not be negative"))
		}
		errs = append(errs, c.validateHeaders(skey+".headers", st.Headers)...)
		// Templates see what earlier steps captured.
		checkTemplate := func(k, text string) {
			t, err := condition.ParseTemplate(text)
			if err != nil {
				errs = append(errs, c.errorAt(k, "%v", err))
				return
			}
			for _, n := range t.Names() {
				if !captured[n] {
					errs = append(errs, c.errorAt(k, "{{ %s }} is not captured by an earlier step", n))
				}
			}
		}
		checkTemplate(skey+".url", st.URL)
		if !strings.Contains(st.URL, "{{") {
			if err := checkCanaryURL(st.URL); err != nil {
				errs = append(errs, c.errorAt(skey+".url", "%v", err))
			}
		} else if !strings.HasPrefix(st.URL, "http://") && !strings.HasPrefix(st.URL, "https://") {
			errs = append(errs, c.errorAt(skey+".url", "must start with http:// or https://"))
		}
		checkTemplate(skey+".body", st.Body)
		for h, v := range st.Headers {
			checkTemplate(skey+".headers."+h, v)
		}
		// Captures come before the step's own conditions.
		for n, expr := range st.Capture {
			ckey := skey + ".capture." + n
			if !condition.ValidName(n) {
				errs = append(errs, c.errorAt(ckey, "a captured value's name is letters, digits, _ . and -, starting with a letter or _"))
			}
			o, err := condition.ParseOperand(expr)
			switch {
			case err != nil:
				errs = append(errs, c.errorAt(ckey, "%v", err))
			case o.IsLiteral():
				errs = append(errs, c.errorAt(ckey, "%q captures nothing: use a placeholder such as [BODY].id or [HEADER].Location", expr))
			}
		}
		for n := range st.Capture {
			captured[n] = true
		}
		for k, cond := range st.Conditions {
			errs = append(errs, c.validateCondition(fmt.Sprintf("%s.conditions[%d]", skey, k), cond, captured)...)
		}
	}
	return errs
}

// validateCondition parses a condition; captured, when not nil, holds the
// values it may read from [CONTEXT].
func (c *Config) validateCondition(key, text string, captured map[string]bool) []error {
	cond, err := condition.Parse(text)
	if err != nil {
		return []error{c.errorAt(key, "%q: %v", text, err)}
	}
	var errs []error
	for _, n := range cond.ContextNames() {
		if !captured[n] {
			errs = append(errs, c.errorAt(key, "[CONTEXT].%s is not captured by this or an earlier step", n))
		}
	}
	return errs
}

func (c *Config) validateHeaders(key string, h map[string]string) []error {
	var errs []error
	for name := range h {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			errs = append(errs, c.errorAt(key, "invalid header name %q", name))
		}
	}
	return errs
}

// checkCanaryURL wants an absolute http or https URL.
func checkCanaryURL(s string) error {
	if s == "" {
		return fmt.Errorf("is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an http:// or https:// URL with a host", s)
	}
	return nil
}
