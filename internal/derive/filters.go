package derive

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/query/insights"
)

// The kinds of metric a FilterRule makes.
const (
	FilterCounter   = "counter"
	FilterGauge     = "gauge"
	FilterHistogram = "histogram"
)

// DefaultFilterBuckets are the bounds of a histogram rule without its own:
// Prometheus' default buckets.
var DefaultFilterBuckets = REDBuckets

// DefaultFilterMaxSeries caps the label sets of one rule.
const DefaultFilterMaxSeries = 1000

// FilterRule is a metric filter, as in CloudWatch Logs: the events of a
// log group that match a Logs Insights filter expression update a metric.
type FilterRule struct {
	// Metric is the metric's name (a valid Prometheus metric name; by
	// convention counters end in _total).
	Metric string
	// Group is the log group, by exact name or "prefix*".
	Group string
	// Filter is a Logs Insights filter expression, such as
	// `status >= 500 and route like "/checkout"`, evaluated with the
	// semantics of Logs Insights (insights.CompilePredicate).
	Filter string
	// Type is FilterCounter (the default: the sum of the values),
	// FilterGauge (the last value) or FilterHistogram (their distribution
	// over Buckets).
	Type string
	// Value is what a matching event adds: a number ("1", the default), or
	// the name of a numeric field ("latency_ms"; CloudWatch's "$.latency_ms"
	// is read the same way).
	Value string
	// DefaultValue, when set, is what a counter adds, or a gauge is set
	// to, at a flush after the group got events but none matched, as
	// CloudWatch's default value. Only rules without dimensions take one.
	DefaultValue *float64
	// Dimensions map label names to the fields that give their values. An
	// event that lacks one of the fields is not counted.
	Dimensions map[string]string
	// Buckets are a histogram's bounds, increasing (default
	// DefaultFilterBuckets).
	Buckets []float64
	// Unit and Help are the metric's metadata.
	Unit, Help string
	// MaxSeries caps the rule's label sets (default 1,000).
	MaxSeries int
}

type filterDim struct{ label, field string }

type filterRule struct {
	metric    string
	group     string
	prefix    bool
	pred      *insights.Predicate
	kind      string
	constant  float64
	field     string
	def       *float64
	dims      []filterDim
	buckets   []float64
	maxSeries int
	md        metadata.Metadata
	series    map[string]*filterSeries

	// Per flush interval, for DefaultValue.
	sawGroup, matched bool

	keyBuf []byte
	vals   []string
}

// filterSeries is the aggregate of one label set of a rule.
type filterSeries struct {
	values    []string // the dimensions' values, in the rule's order
	sum       float64  // counter
	last      float64  // gauge
	hist      classic  // histogram
	lastTouch int64
	out       []output
}

type filterDeriver struct {
	rules     []*filterRule
	byGroup   map[string][]*filterRule
	prefixed  []*filterRule
	lastGroup string
	lastRules []*filterRule
	snap      filterSnapshot
}

// CompileFilterRule checks a rule the way New does, for configuration
// validation.
func CompileFilterRule(r FilterRule) error {
	_, err := compileFilterRule(r)
	return err
}

func compileFilterRule(r FilterRule) (*filterRule, error) {
	if !model.LegacyValidation.IsValidMetricName(r.Metric) {
		return nil, fmt.Errorf("metric %q is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", r.Metric)
	}
	if strings.TrimSuffix(r.Group, "*") == "" && r.Group != "*" {
		return nil, errors.New("a log group is required")
	}
	expr, err := insights.ParseFilter(r.Filter)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	pred, err := insights.CompilePredicate(expr)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	fr := &filterRule{metric: r.Metric, pred: pred, kind: r.Type, def: r.DefaultValue, maxSeries: r.MaxSeries,
		series: map[string]*filterSeries{}, constant: 1}
	fr.group, fr.prefix = strings.CutSuffix(r.Group, "*")
	switch fr.kind {
	case "":
		fr.kind = FilterCounter
	case FilterCounter, FilterGauge, FilterHistogram:
	default:
		return nil, fmt.Errorf("type %q is not counter, gauge or histogram", r.Type)
	}
	if v := strings.TrimSpace(r.Value); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			fr.constant = f
		} else {
			fr.field = strings.TrimPrefix(v, "$.")
			if fr.field == "" {
				return nil, fmt.Errorf("value %q is neither a number nor a field name", r.Value)
			}
		}
	}
	if fr.kind == FilterCounter && fr.field == "" && fr.constant < 0 {
		return nil, fmt.Errorf("a counter's value must not be negative, got %v", fr.constant)
	}
	if r.DefaultValue != nil {
		switch {
		case fr.kind == FilterHistogram:
			return nil, errors.New("default_value applies to counters and gauges, not histograms")
		case len(r.Dimensions) > 0:
			return nil, errors.New("a rule with dimensions cannot have a default_value (as in CloudWatch)")
		case fr.kind == FilterCounter && *r.DefaultValue < 0:
			return nil, fmt.Errorf("a counter's default_value must not be negative, got %v", *r.DefaultValue)
		}
	}
	for label, field := range r.Dimensions {
		if !model.LegacyValidation.IsValidLabelName(label) || strings.HasPrefix(label, "__") || label == labels.BucketLabel {
			return nil, fmt.Errorf("dimension %q is not a valid label name", label)
		}
		if field == "" {
			return nil, fmt.Errorf("dimension %q names no field", label)
		}
		fr.dims = append(fr.dims, filterDim{label: label, field: strings.TrimPrefix(field, "$.")})
	}
	slices.SortFunc(fr.dims, func(a, b filterDim) int { return strings.Compare(a.label, b.label) })
	if fr.kind == FilterHistogram {
		fr.buckets = r.Buckets
		if len(fr.buckets) == 0 {
			fr.buckets = DefaultFilterBuckets
		}
		for i := 1; i < len(fr.buckets); i++ {
			if fr.buckets[i] <= fr.buckets[i-1] {
				return nil, fmt.Errorf("buckets must increase, found %v after %v", fr.buckets[i], fr.buckets[i-1])
			}
		}
	} else if len(r.Buckets) > 0 {
		return nil, errors.New("buckets apply to histograms only")
	}
	if fr.maxSeries <= 0 {
		fr.maxSeries = DefaultFilterMaxSeries
	}
	help := r.Help
	if help == "" {
		help = fmt.Sprintf("Metric filter on log group %s: %s", r.Group, pred)
	}
	fr.md = metadata.Metadata{Type: model.MetricType(fr.kind), Unit: r.Unit, Help: help}
	return fr, nil
}

func newFilterDeriver(rules []FilterRule) (*filterDeriver, error) {
	f := &filterDeriver{byGroup: map[string][]*filterRule{}}
	names := map[string]bool{}
	for i, r := range rules {
		fr, err := compileFilterRule(r)
		if err != nil {
			return nil, fmt.Errorf("metric filter %d (%s): %w", i, r.Metric, err)
		}
		if names[fr.metric] {
			return nil, fmt.Errorf("metric filter %d: metric %q is made by an earlier rule too", i, fr.metric)
		}
		names[fr.metric] = true
		f.rules = append(f.rules, fr)
		if fr.prefix {
			f.prefixed = append(f.prefixed, fr)
		} else {
			f.byGroup[fr.group] = append(f.byGroup[fr.group], fr)
		}
	}
	return f, nil
}

// rulesFor returns the rules of a group, remembering the last answer for
// the runs of events of one group that batches are made of.
func (f *filterDeriver) rulesFor(group string) []*filterRule {
	if group == f.lastGroup && f.lastRules != nil {
		return f.lastRules
	}
	rules := f.byGroup[group]
	if len(f.prefixed) > 0 {
		rules = slices.Clone(rules)
		for _, r := range f.prefixed {
			if strings.HasPrefix(group, r.group) {
				rules = append(rules, r)
			}
		}
	}
	if rules == nil {
		rules = []*filterRule{}
	}
	f.lastGroup, f.lastRules = strings.Clone(group), rules
	return rules
}

func (f *filterDeriver) observe(ev *event.Event, now int64, c *counts) {
	for _, r := range f.rulesFor(ev.Group) {
		r.sawGroup = true
		if !r.pred.Match(ev) {
			continue
		}
		r.matched = true
		r.observe(ev, now, c)
	}
}

func (r *filterRule) observe(ev *event.Event, now int64, c *counts) {
	v := r.constant
	if r.field != "" {
		fv, ok := ev.Get(r.field)
		if !ok {
			c.skip("filters", "missing_value")
			return
		}
		if v, ok = numeric(fv); !ok {
			c.skip("filters", "non_numeric_value")
			return
		}
	}
	if r.kind == FilterCounter && v < 0 {
		c.skip("filters", "negative_value")
		return
	}
	r.vals = r.vals[:0]
	r.keyBuf = r.keyBuf[:0]
	for _, d := range r.dims {
		dv, ok := ev.Get(d.field)
		if !ok {
			c.skip("filters", "missing_dimension")
			return
		}
		s := dv.Text(ev.Time)
		if dv.Kind == event.KindFloat {
			s = strconv.FormatFloat(dv.Float(), 'g', -1, 64)
		}
		r.vals = append(r.vals, s)
		r.keyBuf = append(append(r.keyBuf, s...), 0xff)
	}
	s := r.series[string(r.keyBuf)]
	if s == nil {
		if len(r.series) >= r.maxSeries {
			c.drop("filters")
			return
		}
		s = &filterSeries{}
		for _, v := range r.vals {
			s.values = append(s.values, strings.Clone(v))
		}
		if r.kind == FilterHistogram {
			s.hist = newClassic(r.buckets)
		}
		r.series[string(r.keyBuf)] = s
	}
	r.update(s, v, now)
	c.filterEvents++
}

func (r *filterRule) update(s *filterSeries, v float64, now int64) {
	switch r.kind {
	case FilterCounter:
		s.sum += v
	case FilterGauge:
		s.last = v
	case FilterHistogram:
		s.hist.observe(r.buckets, v)
	}
	s.lastTouch = now
}

// numeric reads a field as a number: numbers, and strings that hold one.
func numeric(v event.Value) (float64, bool) {
	if f, ok := number(v); ok {
		return f, true
	}
	if v.Kind == event.KindString {
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64)
		return f, err == nil
	}
	return 0, false
}

// outputs are the series a label set of the rule writes.
func (r *filterRule) outputs(s *filterSeries) []output {
	b := labels.NewScratchBuilder(len(r.dims) + 1)
	b.Add(labels.MetricName, r.metric)
	for i, d := range r.dims {
		b.Add(d.label, s.values[i])
	}
	b.Sort()
	base := b.Labels()
	if r.kind == FilterHistogram {
		return classicOutputs(r.metric, base, r.buckets, r.md)
	}
	return []output{{lset: base, family: r.metric, md: r.md}}
}

type filterSnapshot struct {
	items []filterItem
	stale []*filterSeries
}

type filterItem struct {
	r     *filterRule
	s     *filterSeries
	value float64
	hist  classic
}

func (f *filterDeriver) snapshot(now, idleBefore int64) flushable {
	sn := &f.snap
	sn.items, sn.stale = sn.items[:0], sn.stale[:0]
	for _, r := range f.rules {
		if r.def != nil && r.sawGroup && !r.matched {
			s := r.series[""]
			if s == nil {
				s = &filterSeries{}
				r.series[""] = s
			}
			if r.kind == FilterCounter {
				s.sum += *r.def
			} else {
				s.last = *r.def
			}
			// The group is alive: so is the series.
			s.lastTouch = now
		}
		r.sawGroup, r.matched = false, false
		for k, s := range r.series {
			if s.lastTouch < idleBefore {
				delete(r.series, k)
				sn.stale = append(sn.stale, s)
				continue
			}
			it := filterItem{r: r, s: s}
			switch r.kind {
			case FilterCounter:
				it.value = s.sum
			case FilterGauge:
				it.value = s.last
			case FilterHistogram:
				s.hist.copyInto(&it.hist)
			}
			sn.items = append(sn.items, it)
		}
	}
	return sn
}

func (sn *filterSnapshot) name() string { return "filters" }
func (sn *filterSnapshot) live() int    { return len(sn.items) }

func (sn *filterSnapshot) write(w *writer) {
	for i := range sn.items {
		it := &sn.items[i]
		if it.s.out == nil {
			it.s.out = it.r.outputs(it.s)
		}
		if it.r.kind == FilterHistogram {
			writeClassic(w, it.s.out, &it.hist)
		} else {
			w.float(&it.s.out[0], it.value)
		}
		sn.items[i] = filterItem{}
	}
	for i, s := range sn.stale {
		for j := range s.out {
			w.stale(&s.out[j])
		}
		sn.stale[i] = nil
	}
}
