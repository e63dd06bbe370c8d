package load

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Script is a parsed and compiled Artillery v2 test script. It is immutable
// once parsed and may be run any number of times.
type Script struct {
	// Config is the script's config section.
	Config Config
	// Before and After are the optional flows run once before the first
	// phase and once after the last one.
	Before, After *Scenario
	// Scenarios are the weighted scenarios a virtual user picks from.
	Scenarios []*Scenario
	// Dir is the directory that relative payload and processor paths are
	// resolved against (the script's own directory).
	Dir string
	// Warnings name the parts of the script that sonde ignores.
	Warnings []string

	totalWeight int
	// payloads are loaded when the script is parsed.
	payloads []*payload
}

// Config is the config section of a script.
type Config struct {
	// Target is the base URL that relative request URLs are appended to.
	Target string
	// Phases run strictly in series.
	Phases []Phase
	// Variables hold constants (one value) or lists (one random element per
	// virtual user).
	Variables map[string]any
	// Timeout is http.timeout (default 10 s).
	Timeout time.Duration
	// Pool is http.pool: the number of connections shared by all virtual
	// users; 0 means no fixed limit.
	Pool int
	// Processor is the path of the JavaScript processor module, if any.
	Processor string
	// Ensure holds the thresholds and conditions checked at the end.
	Ensure Ensure
	// Expect is the expect plugin configuration, nil when the plugin is off.
	Expect *ExpectConfig

	headers []header
	cookies []header // config.http.defaults.cookie (or config.defaults.cookie)
}

// ExpectConfig is config.plugins.expect.
type ExpectConfig struct {
	// OutputFormat is pretty (default), prettyError, json or silent.
	OutputFormat string
	// ExpectDefault200 checks statusCode 200 on requests without expect.
	ExpectDefault200 bool
	// ReportFailuresAsErrors fails the virtual user on a failed expectation.
	ReportFailuresAsErrors bool
}

// Scenario is one entry of the scenarios section (or the before/after flow).
type Scenario struct {
	// Name is the scenario's name; unnamed scenarios are counted under their
	// index in vusers.created_by_name.
	Name string
	// Weight is the relative probability of the scenario (default 1).
	Weight int
	// Flow is the list of steps.
	Flow []*Step

	beforeScenario, afterScenario []string
	beforeRequest, afterResponse  []string
	label                         string
}

// stepKind tells which field of a Step is set.
type stepKind int

const (
	stepRequest stepKind = iota
	stepThink
	stepLoop
	stepLog
	stepFunction
)

// Step is one element of a flow.
type Step struct {
	kind  stepKind
	req   *request
	think *Template
	loop  *loop
	log   *Template
	fn    string
}

// loop is a loop step: count iterations, or one per element of over.
type loop struct {
	steps              []*Step
	countMin, countMax int
	over               *Value // list literal or template naming a variable
	whileTrue          string
	hasCount           bool
}

// request is a compiled HTTP request step.
type request struct {
	method        string
	name          string
	url           *Template
	headers       []header
	json          *Value
	body          *Template
	form          []kvTemplate
	formData      []kvTemplate
	qs            []kvTemplate
	captures      []capture
	expects       []expectation
	cookies       []header
	ifTrue        string
	ifTrueExpr    *expr
	beforeRequest []string
	afterResponse []string
	raw           map[string]any // for processor hooks (requestParams)
}

type header struct {
	name  string
	value *Template
}

type kvTemplate struct {
	key   string
	value *Value
}

// ParseFile reads and parses a script file. Environment is the name given
// with -e (config.environments), "" for none.
func ParseFile(path, environment string) (*Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	return Parse(data, filepath.Dir(path), environment)
}

// Parse parses a script. dir is where relative payload and processor paths
// are resolved.
func Parse(data []byte, dir, environment string) (*Script, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse script: %w", err)
	}
	if doc == nil {
		return nil, fmt.Errorf("parse script: empty document")
	}
	p := &parser{env: envMap()}
	s, err := p.script(doc, dir, environment)
	if err != nil {
		return nil, fmt.Errorf("parse script: %w", err)
	}
	return s, nil
}

// envMap returns the process environment as a map, for $env and
// $processEnvironment.
func envMap() map[string]any {
	m := map[string]any{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

type parser struct {
	env      map[string]any
	warnings []string
}

func (p *parser) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

func (p *parser) script(doc map[string]any, dir, environment string) (*Script, error) {
	s := &Script{Dir: dir}
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil {
		return nil, fmt.Errorf("config: missing")
	}
	if environment != "" {
		envs, _ := cfg["environments"].(map[string]any)
		over, ok := envs[environment].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("config.environments: no environment %q", environment)
		}
		cfg = mergeMaps(cfg, over)
	}
	if err := p.config(&s.Config, cfg); err != nil {
		return nil, err
	}
	pl, err := loadPayloads(cfg["payload"], dir)
	if err != nil {
		return nil, err
	}
	s.payloads = pl
	if b, ok := doc["before"]; ok {
		sc, err := p.scenario(b, "before")
		if err != nil {
			return nil, err
		}
		s.Before = sc
	}
	if a, ok := doc["after"]; ok {
		sc, err := p.scenario(a, "after")
		if err != nil {
			return nil, err
		}
		s.After = sc
	}
	list, ok := doc["scenarios"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("scenarios: missing or empty")
	}
	for i, item := range list {
		sc, err := p.scenario(item, fmt.Sprintf("scenarios[%d]", i))
		if err != nil {
			return nil, err
		}
		sc.label = sc.Name
		if sc.label == "" {
			sc.label = strconv.Itoa(i)
		}
		s.Scenarios = append(s.Scenarios, sc)
		s.totalWeight += sc.Weight
	}
	if s.totalWeight <= 0 {
		return nil, fmt.Errorf("scenarios: total weight must be positive")
	}
	s.Warnings = p.warnings
	return s, nil
}

// mergeMaps returns base with the keys of over replaced, recursively for
// nested maps (how config.environments overlays config).
func mergeMaps(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func (p *parser) config(c *Config, m map[string]any) error {
	target, err := p.configString(m["target"])
	if err != nil {
		return fmt.Errorf("config.target: %w", err)
	}
	c.Target = target
	phases, _ := m["phases"].([]any)
	if m["phases"] != nil && phases == nil {
		return fmt.Errorf("config.phases: must be a list")
	}
	for i, ph := range phases {
		pm, ok := ph.(map[string]any)
		if !ok {
			return fmt.Errorf("config.phases[%d]: must be a mapping", i)
		}
		phase, err := p.phase(pm)
		if err != nil {
			return fmt.Errorf("config.phases[%d]: %w", i, err)
		}
		phase.Index = i
		c.Phases = append(c.Phases, phase)
	}
	if len(c.Phases) == 0 {
		// Artillery runs one arrival when no phases are given.
		c.Phases = []Phase{{ArrivalCount: 1, Duration: time.Second}}
	}
	if v, ok := m["variables"].(map[string]any); ok {
		c.Variables = v
	}
	httpCfg, _ := m["http"].(map[string]any)
	c.Timeout = 10 * time.Second
	for _, t := range []any{m["timeout"], httpCfg["timeout"]} {
		if t == nil {
			continue
		}
		f, err := p.number(t)
		if err != nil || f <= 0 {
			return fmt.Errorf("config.http.timeout: invalid value %v", t)
		}
		c.Timeout = time.Duration(f * float64(time.Second))
		break
	}
	if v := httpCfg["pool"]; v != nil {
		f, err := p.number(v)
		if err != nil || f < 0 {
			return fmt.Errorf("config.http.pool: invalid value %v", v)
		}
		c.Pool = int(f)
	}
	// Headers: config.defaults (legacy) first, config.http.defaults wins.
	hdrs := map[string]any{}
	for _, d := range []any{m["defaults"], httpCfg["defaults"]} {
		dm, _ := d.(map[string]any)
		if hm, ok := dm["headers"].(map[string]any); ok {
			for k, v := range hm {
				hdrs[k] = v
			}
		}
	}
	c.headers, err = compileHeaders(hdrs)
	if err != nil {
		return fmt.Errorf("config.defaults.headers: %w", err)
	}
	cookies := map[string]any{}
	for _, d := range []any{m["defaults"], httpCfg["defaults"]} {
		dm, _ := d.(map[string]any)
		if cm, ok := dm["cookie"].(map[string]any); ok {
			for k, v := range cm {
				cookies[k] = v
			}
		}
	}
	if c.cookies, err = compileHeaders(cookies); err != nil {
		return fmt.Errorf("config.defaults.cookie: %w", err)
	}
	if v, ok := m["processor"].(string); ok {
		c.Processor = v
	}
	plugins, _ := m["plugins"].(map[string]any)
	for name := range plugins {
		if name != "expect" && name != "ensure" {
			p.warn("plugin %q is not supported and is ignored", name)
		}
	}
	if truthy(httpCfg["extendedMetrics"]) {
		p.warn("http.extendedMetrics is not supported: no http.dns/tcp/tls/total histograms")
	}
	if m["engines"] != nil {
		p.warn("config.engines is ignored: only the http engine is supported")
	}
	if e, ok := plugins["expect"]; ok {
		em, _ := e.(map[string]any)
		c.Expect = &ExpectConfig{OutputFormat: "pretty"}
		if f, ok := em["outputFormat"].(string); ok {
			c.Expect.OutputFormat = f
		} else if f, ok := em["formatter"].(string); ok {
			c.Expect.OutputFormat = f
		}
		c.Expect.ExpectDefault200 = truthy(em["expectDefault200"])
		c.Expect.ReportFailuresAsErrors = truthy(em["reportFailuresAsErrors"])
	}
	var ensureSrc []map[string]any
	if em, ok := plugins["ensure"].(map[string]any); ok {
		ensureSrc = append(ensureSrc, em)
	}
	if em, ok := m["ensure"].(map[string]any); ok {
		ensureSrc = append(ensureSrc, em)
	}
	for _, em := range ensureSrc {
		if err := p.ensure(&c.Ensure, em); err != nil {
			return fmt.Errorf("config.ensure: %w", err)
		}
	}
	return nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}

// configString renders a config string that may use {{ $env.X }}.
func (p *parser) configString(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Sprint(v), nil
	}
	t, err := CompileTemplate(s)
	if err != nil {
		return "", err
	}
	return t.String(p.envVars()), nil
}

func (p *parser) envVars() *Vars {
	v := newVars(nil)
	v.set("$env", p.env)
	v.set("$processEnvironment", p.env)
	return v
}

// number casts a YAML value to a number the way Artillery's toNumber does,
// after rendering {{ $env.X }} templates in strings.
func (p *parser) number(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		s, err := p.configString(x)
		if err != nil {
			return 0, err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("not a number: %q", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

// seconds reads a phase duration: a number or numeric string is seconds,
// any other string is an ms-style duration ("2m", "500ms").
func (p *parser) seconds(v any) (time.Duration, error) {
	if s, ok := v.(string); ok {
		r, err := p.configString(s)
		if err != nil {
			return 0, err
		}
		if _, err := strconv.ParseFloat(strings.TrimSpace(r), 64); err != nil {
			d, err := ParseMS(r)
			if err != nil {
				return 0, err
			}
			return d, nil
		}
		v = r
	}
	f, err := p.number(v)
	if err != nil {
		return 0, err
	}
	return time.Duration(f * float64(time.Second)), nil
}

func (p *parser) phase(m map[string]any) (Phase, error) {
	var ph Phase
	ph.Name, _ = m["name"].(string)
	for k := range m {
		switch k {
		case "name", "duration", "arrivalRate", "rampTo", "arrivalCount", "pause", "maxVusers", "mode":
		default:
			return ph, fmt.Errorf("unknown key %q", k)
		}
	}
	var err error
	if v, ok := m["duration"]; ok {
		if ph.Duration, err = p.seconds(v); err != nil || ph.Duration <= 0 {
			return ph, fmt.Errorf("invalid duration %v", v)
		}
	}
	if v, ok := m["pause"]; ok {
		if ph.Pause, err = p.seconds(v); err != nil || ph.Pause <= 0 {
			return ph, fmt.Errorf("invalid pause %v", v)
		}
		ph.kind = phasePause
		return ph, nil
	}
	if v, ok := m["maxVusers"]; ok {
		f, err := p.number(v)
		if err != nil || f < 1 {
			return ph, fmt.Errorf("invalid maxVusers %v", v)
		}
		ph.MaxVusers = int(f)
	}
	if v, ok := m["arrivalCount"]; ok {
		f, err := p.number(v)
		if err != nil || f < 0 {
			return ph, fmt.Errorf("invalid arrivalCount %v", v)
		}
		if ph.Duration <= 0 {
			return ph, fmt.Errorf("arrivalCount needs a duration")
		}
		ph.ArrivalCount = int(f)
		ph.kind = phaseCount
		return ph, nil
	}
	v, ok := m["arrivalRate"]
	if !ok {
		return ph, fmt.Errorf("one of arrivalRate, arrivalCount or pause is required")
	}
	if ph.Duration <= 0 {
		return ph, fmt.Errorf("arrivalRate needs a duration")
	}
	if ph.ArrivalRate, err = p.number(v); err != nil || ph.ArrivalRate < 0 {
		return ph, fmt.Errorf("invalid arrivalRate %v", v)
	}
	if r, ok := m["rampTo"]; ok {
		if ph.RampTo, err = p.number(r); err != nil || ph.RampTo < 0 {
			return ph, fmt.Errorf("invalid rampTo %v", r)
		}
		ph.kind = phaseRamp
		if ph.Duration%time.Second != 0 {
			return ph, fmt.Errorf("a rampTo phase needs a duration in whole seconds")
		}
		return ph, nil
	}
	if ph.ArrivalRate == 0 {
		ph.kind, ph.Pause = phasePause, ph.Duration
		return ph, nil
	}
	ph.kind = phaseRate
	return ph, nil
}

// hooks reads a hook name or list of names.
func hooks(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (p *parser) scenario(v any, where string) (*Scenario, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be a mapping", where)
	}
	sc := &Scenario{Weight: 1}
	sc.Name, _ = m["name"].(string)
	if w, ok := m["weight"]; ok {
		f, err := p.number(w)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("%s.weight: invalid value %v", where, w)
		}
		sc.Weight = int(math.Round(f))
	}
	if e, ok := m["engine"].(string); ok && e != "http" {
		return nil, fmt.Errorf("%s.engine: %q is not supported (only http)", where, e)
	}
	sc.beforeScenario = hooks(m["beforeScenario"])
	sc.afterScenario = hooks(m["afterScenario"])
	sc.beforeRequest = hooks(m["beforeRequest"])
	sc.afterResponse = hooks(m["afterResponse"])
	if m["onError"] != nil {
		p.warn("%s.onError hooks are not supported and are ignored", where)
	}
	flow, ok := m["flow"].([]any)
	if !ok {
		return nil, fmt.Errorf("%s.flow: missing or not a list", where)
	}
	steps, err := p.steps(flow, where+".flow")
	if err != nil {
		return nil, err
	}
	sc.Flow = steps
	return sc, nil
}

func (p *parser) steps(list []any, where string) ([]*Step, error) {
	var out []*Step
	for i, item := range list {
		st, err := p.step(item)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		out = append(out, st)
	}
	return out, nil
}

var methods = map[string]string{"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "delete": "DELETE", "head": "HEAD", "options": "OPTIONS"}

func (p *parser) step(v any) (*Step, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a step must be a mapping")
	}
	for k, body := range m {
		if method, ok := methods[k]; ok {
			rm, ok := body.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: must be a mapping", k)
			}
			r, err := p.request(method, rm)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			return &Step{kind: stepRequest, req: r}, nil
		}
	}
	if t, ok := m["think"]; ok {
		tm, err := CompileTemplate(fmt.Sprint(t))
		if err != nil {
			return nil, fmt.Errorf("think: %w", err)
		}
		return &Step{kind: stepThink, think: tm}, nil
	}
	if l, ok := m["loop"]; ok {
		steps, _ := l.([]any)
		body, err := p.steps(steps, "loop")
		if err != nil {
			return nil, err
		}
		lp := &loop{steps: body}
		if c, ok := m["count"]; ok {
			lp.hasCount = true
			s := strings.TrimSpace(fmt.Sprint(c))
			lo, hi, isRange := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.Atoi(strings.TrimSpace(hi))
			}
			if err1 != nil || err2 != nil || a < 0 || b < a {
				return nil, fmt.Errorf("loop.count: invalid value %v", c)
			}
			lp.countMin, lp.countMax = a, b
		}
		if o, ok := m["over"]; ok {
			if s, ok := o.(string); ok && !strings.Contains(s, "{{") {
				o = "{{ " + s + " }}" // a bare variable name
			}
			val, err := CompileValue(o)
			if err != nil {
				return nil, fmt.Errorf("loop.over: %w", err)
			}
			lp.over = val
		}
		if w, ok := m["whileTrue"].(string); ok {
			lp.whileTrue = w
		}
		return &Step{kind: stepLoop, loop: lp}, nil
	}
	if l, ok := m["log"]; ok {
		t, err := CompileTemplate(fmt.Sprint(l))
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		return &Step{kind: stepLog, log: t}, nil
	}
	if f, ok := m["function"].(string); ok {
		return &Step{kind: stepFunction, fn: f}, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return nil, fmt.Errorf("unsupported step %v", keys)
}

func (p *parser) request(method string, m map[string]any) (*request, error) {
	r := &request{method: method, raw: m}
	u, ok := m["url"].(string)
	if !ok {
		return nil, fmt.Errorf("url: missing")
	}
	var err error
	if r.url, err = CompileTemplate(u); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	r.name, _ = m["name"].(string)
	if hm, ok := m["headers"].(map[string]any); ok {
		if r.headers, err = compileHeaders(hm); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
	}
	if j, ok := m["json"]; ok {
		if r.json, err = CompileValue(j); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
	}
	if b, ok := m["body"]; ok {
		s, isStr := b.(string)
		if !isStr {
			js, err := json.Marshal(b)
			if err != nil {
				return nil, fmt.Errorf("body: %w", err)
			}
			s = string(js)
		}
		if r.body, err = CompileTemplate(s); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	for _, f := range []struct {
		key string
		dst *[]kvTemplate
	}{{"form", &r.form}, {"formData", &r.formData}, {"qs", &r.qs}} {
		fm, ok := m[f.key].(map[string]any)
		if !ok {
			continue
		}
		keys := make([]string, 0, len(fm))
		for k := range fm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val, err := CompileValue(fm[k])
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", f.key, k, err)
			}
			*f.dst = append(*f.dst, kvTemplate{key: k, value: val})
		}
	}
	if cm, ok := m["cookie"].(map[string]any); ok {
		if r.cookies, err = compileHeaders(cm); err != nil {
			return nil, fmt.Errorf("cookie: %w", err)
		}
	}
	if c, ok := m["capture"]; ok {
		if r.captures, err = compileCaptures(c); err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
	}
	if e, ok := m["expect"]; ok {
		if r.expects, err = compileExpects(e); err != nil {
			return nil, fmt.Errorf("expect: %w", err)
		}
	}
	if s, ok := m["ifTrue"].(string); ok {
		r.ifTrue = s
		// A processor function name is tried first at run time; the
		// expression is used when no such function exists.
		if x, err := parseExpr(s); err == nil {
			r.ifTrueExpr = x
		}
	}
	r.beforeRequest = hooks(m["beforeRequest"])
	r.afterResponse = hooks(m["afterResponse"])
	return r, nil
}

func compileHeaders(m map[string]any) ([]header, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]header, 0, len(keys))
	for _, k := range keys {
		t, err := CompileTemplate(fmt.Sprint(m[k]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, header{name: k, value: t})
	}
	return out, nil
}

// ParseMS parses a duration the way the npm "ms" package does: a number
// with an optional unit (ms, s, m, h, d, w, y and their long forms); a bare
// number is milliseconds.
func ParseMS(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	i := 0
	for i < len(s) && (s[i] == '-' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	f, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	unit := strings.TrimSpace(s[i:])
	var mult float64
	switch unit {
	case "", "ms", "msec", "msecs", "millisecond", "milliseconds":
		mult = 1
	case "s", "sec", "secs", "second", "seconds":
		mult = 1000
	case "m", "min", "mins", "minute", "minutes":
		mult = 60e3
	case "h", "hr", "hrs", "hour", "hours":
		mult = 3600e3
	case "d", "day", "days":
		mult = 86400e3
	case "w", "week", "weeks":
		mult = 7 * 86400e3
	case "y", "yr", "yrs", "year", "years":
		mult = 365.25 * 86400e3
	default:
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return time.Duration(f * mult * float64(time.Millisecond)), nil
}
