package trace

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// SamplingRule is an X-Ray sampling rule: the first matching rule by
// Priority (ascending) decides; it samples ReservoirSize requests a second,
// then FixedRate of the rest. String matches take * (any run) and ? (one
// character) wildcards.
type SamplingRule struct {
	Name          string            `json:"ruleName"`
	Priority      int               `json:"priority"`
	ReservoirSize int               `json:"reservoirSize"`
	FixedRate     float64           `json:"fixedRate"`
	ServiceName   string            `json:"serviceName"`
	ServiceType   string            `json:"serviceType"`
	Host          string            `json:"host"`
	HTTPMethod    string            `json:"httpMethod"`
	URLPath       string            `json:"urlPath"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

// DefaultSamplingRule is X-Ray's default: the first request each second
// and 5% of the others.
var DefaultSamplingRule = SamplingRule{Name: "Default", Priority: 10000, ReservoirSize: 1, FixedRate: 0.05,
	ServiceName: "*", ServiceType: "*", Host: "*", HTTPMethod: "*", URLPath: "*"}

// Sampling holds the sampling rules and maps them onto the Jaeger remote
// sampling strategies that OpenTelemetry SDKs poll. It is immutable.
type Sampling struct {
	rules []SamplingRule // by priority, then name; the default last
}

// NewSampling returns the rules, with def (or DefaultSamplingRule when nil)
// as the last one. Empty match fields mean "*".
func NewSampling(rules []SamplingRule, def *SamplingRule) *Sampling {
	s := &Sampling{}
	for _, r := range rules {
		s.rules = append(s.rules, normalizeRule(r))
	}
	slices.SortStableFunc(s.rules, func(a, b SamplingRule) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
	d := DefaultSamplingRule
	if def != nil {
		d.ReservoirSize, d.FixedRate = def.ReservoirSize, def.FixedRate
	}
	s.rules = append(s.rules, d)
	return s
}

func normalizeRule(r SamplingRule) SamplingRule {
	for _, f := range []*string{&r.ServiceName, &r.ServiceType, &r.Host, &r.HTTPMethod, &r.URLPath} {
		if *f == "" {
			*f = "*"
		}
	}
	return r
}

// Rules returns the rules in the order they apply.
func (s *Sampling) Rules() []SamplingRule { return slices.Clone(s.rules) }

// Operation is what a service serves, as its entry spans name it.
type Operation struct {
	Name, Method, Route string
}

// Jaeger remote sampling response, as served at /api/sampling?service=
// (https://www.jaegertracing.io/docs/latest/sampling/#remote-sampling).
type (
	// Strategy is a SamplingStrategyResponse.
	Strategy struct {
		StrategyType          string                 `json:"strategyType"`
		ProbabilisticSampling *ProbabilisticSampling `json:"probabilisticSampling,omitempty"`
		RateLimitingSampling  *RateLimitingSampling  `json:"rateLimitingSampling,omitempty"`
		OperationSampling     *OperationSampling     `json:"operationSampling,omitempty"`
	}
	// ProbabilisticSampling samples a fraction of traces.
	ProbabilisticSampling struct {
		SamplingRate float64 `json:"samplingRate"`
	}
	// RateLimitingSampling samples up to a number of traces a second.
	RateLimitingSampling struct {
		MaxTracesPerSecond int `json:"maxTracesPerSecond"`
	}
	// OperationSampling has a strategy per operation (span name).
	OperationSampling struct {
		DefaultSamplingProbability       float64             `json:"defaultSamplingProbability"`
		DefaultLowerBoundTracesPerSecond float64             `json:"defaultLowerBoundTracesPerSecond"`
		DefaultUpperBoundTracesPerSecond float64             `json:"defaultUpperBoundTracesPerSecond,omitempty"`
		PerOperationStrategies           []OperationStrategy `json:"perOperationStrategies"`
	}
	// OperationStrategy is one operation's probability.
	OperationStrategy struct {
		Operation             string                `json:"operation"`
		ProbabilisticSampling ProbabilisticSampling `json:"probabilisticSampling"`
	}
)

// httpMethods are the operations written for a rule whose method is *.
var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// Strategy maps the rules onto a Jaeger strategy for a service.
//
// Jaeger strategies know a service and an operation (the span name), not
// hosts, service types or attributes, and sample per process, not per
// fleet. So: rules whose host, service type or attributes are not * are
// skipped; the first rule that matches any request of the service gives
// the default probability (FixedRate) and the default lower bound
// (ReservoirSize, as traces a second per process); each known operation
// (ops, and the exact paths of the rules) whose first matching rule has
// another FixedRate gets its own probability. A service whose default rule
// has FixedRate 0 and no other operations gets a rate-limiting strategy of
// ReservoirSize traces a second.
func (s *Sampling) Strategy(service string, ops []Operation) Strategy {
	var usable []SamplingRule
	for _, r := range s.rules {
		if r.Host != "*" || r.ServiceType != "*" || len(r.Attributes) > 0 || !Wildcard(r.ServiceName, service) {
			continue
		}
		usable = append(usable, r)
	}
	def := DefaultSamplingRule
	for _, r := range usable {
		if r.HTTPMethod == "*" && r.URLPath == "*" {
			def = r
			break
		}
	}
	// Operations: the known ones and the exact paths of the rules.
	seen := map[string]bool{}
	var all []Operation
	addOp := func(o Operation) {
		if o.Name != "" && !seen[o.Name] {
			seen[o.Name] = true
			all = append(all, o)
		}
	}
	for _, o := range ops {
		addOp(o)
	}
	for _, r := range usable {
		if strings.ContainsAny(r.URLPath, "*?") {
			continue
		}
		methods := []string{r.HTTPMethod}
		if strings.ContainsAny(r.HTTPMethod, "*?") {
			methods = nil
			for _, m := range httpMethods {
				if Wildcard(r.HTTPMethod, m) {
					methods = append(methods, m)
				}
			}
			addOp(Operation{Name: r.URLPath, Route: r.URLPath})
		}
		for _, m := range methods {
			addOp(Operation{Name: m + " " + r.URLPath, Method: m, Route: r.URLPath})
		}
	}
	var per []OperationStrategy
	for _, o := range all {
		path := o.Route
		if path == "" {
			path = o.Name
		}
		for _, r := range usable {
			if Wildcard(r.HTTPMethod, o.Method) && Wildcard(r.URLPath, path) {
				if r.FixedRate != def.FixedRate {
					per = append(per, OperationStrategy{Operation: o.Name, ProbabilisticSampling: ProbabilisticSampling{SamplingRate: r.FixedRate}})
				}
				break
			}
		}
	}
	if len(per) == 0 && def.FixedRate == 0 && def.ReservoirSize > 0 {
		return Strategy{StrategyType: "RATE_LIMITING", RateLimitingSampling: &RateLimitingSampling{MaxTracesPerSecond: def.ReservoirSize}}
	}
	st := Strategy{
		StrategyType:          "PROBABILISTIC",
		ProbabilisticSampling: &ProbabilisticSampling{SamplingRate: def.FixedRate},
		OperationSampling: &OperationSampling{
			DefaultSamplingProbability:       def.FixedRate,
			DefaultLowerBoundTracesPerSecond: float64(def.ReservoirSize),
			PerOperationStrategies:           per,
		},
	}
	if st.OperationSampling.PerOperationStrategies == nil {
		st.OperationSampling.PerOperationStrategies = []OperationStrategy{}
	}
	return st
}

// Wildcard matches s against a pattern of * (any run, also empty) and ?
// (exactly one character), case-sensitively, as X-Ray rules do. An empty
// s matches only patterns that can be empty.
func Wildcard(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// Operations lists what a service served in the last day: the distinct
// names, methods and routes of its entry spans (at most max).
func (e *Engine) Operations(ctx context.Context, service string, max int) ([]Operation, error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	snap, t, ok, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	if !ok || t.col(span.FieldService, event.KindString) == "" {
		return nil, nil
	}
	now := time.Now()
	name, method, route := t.text(span.FieldName), t.text(span.FieldHTTPMethod), t.text(span.FieldHTTPRoute)
	sql := fmt.Sprintf("SELECT %s, %s, %s FROM %s WHERE %s GROUP BY %s, %s, %s ORDER BY count(*) DESC LIMIT %d",
		name, method, route, t.from(),
		andJoin(t.timeRange(now.Add(-24*time.Hour).UnixMilli(), now.Add(time.Minute).UnixMilli()), t.inStrings(span.FieldService, service),
			"("+t.inStrings(span.FieldKind, "server", "consumer")+" OR "+t.isRoot()+")"),
		name, method, route, max)
	rows, err := snap.Query(ctx, sql)
	if err != nil {
		return nil, e.fail(ctx, "list operations", err)
	}
	defer rows.Close()
	var ops []Operation
	for rows.Next() {
		var a, b, c any
		if err := rows.Scan(&a, &b, &c); err != nil {
			return nil, e.fail(ctx, "list operations", err)
		}
		ops = append(ops, Operation{Name: asString(scanValue(a)), Method: asString(scanValue(b)), Route: asString(scanValue(c))})
	}
	return ops, rows.Err()
}
