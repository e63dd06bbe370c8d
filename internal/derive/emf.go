package derive

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/sonde-dev/sonde/internal/event"
)

// EMFOptions configure the extraction of CloudWatch embedded metric format
// metrics.
type EMFOptions struct {
	Enabled bool
	// MaxSeriesPerNamespace caps the series of one namespace (default
	// 1,000): a dimension such as a request id would otherwise make one
	// series per request.
	MaxSeriesPerNamespace int
}

// DefaultEMFMaxSeriesPerNamespace is EMFOptions.MaxSeriesPerNamespace's
// default.
const DefaultEMFMaxSeriesPerNamespace = 1000

// EMFNamespaceLabel is the label that holds an EMF metric's namespace.
const EMFNamespaceLabel = "namespace"

// The reasons of sonde_emf_rejected_total.
const (
	emfBadJSON           = "json"               // not a single JSON object
	emfBadAWS            = "aws"                // _aws or _aws.CloudWatchMetrics malformed
	emfBadTimestamp      = "timestamp"          // not an integer, or over 2 weeks old or 2 hours ahead
	emfBadNamespace      = "namespace"          // missing, not a valid namespace name
	emfBadDimensions     = "dimensions"         // missing, empty, a set not an array of up to 30 valid names
	emfBadDimensionValue = "dimension_value"    // a dimension missing at the root, or not a valid string
	emfBadMetrics        = "metrics"            // missing, not an array of up to 100 definitions
	emfBadMetricName     = "metric_name"        // missing, empty or over 1024 characters
	emfBadUnit           = "unit"               // not a CloudWatch unit
	emfBadResolution     = "storage_resolution" // not 1 or 60
	emfBadValue          = "value"              // missing, not a number or an array of 1 to 100 numbers in range
	emfLabelConflict     = "label_conflict"     // two dimensions give the same label name
)

// emfUnits are the units CloudWatch accepts.
var emfUnits = func() map[string]bool {
	m := map[string]bool{}
	for _, u := range []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
		"Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
		"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
		"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
		"Count/Second", "None"} {
		m[u] = true
	}
	return m
}()

var emfNamespaceRE = regexp.MustCompile(`^[a-zA-Z0-9._#:/-]+$`)

// EMF limits, from the specification and the official libraries.
const (
	emfMaxNamespace  = 255
	emfMaxDimensions = 30
	emfMaxDimName    = 250
	emfMaxDimValue   = 1024
	emfMaxMetrics    = 100
	emfMaxMetricName = 1024
	emfMaxValues     = 100
	emfMaxPast       = 14 * 24 * time.Hour
	emfMaxFuture     = 2 * time.Hour
	emfMaxAbsValue   = 2.348542582773834e108 // 2^360
	emfField         = "_aws"
	emfOTLPField     = "body._aws"
)

// isEMFField reports whether a field name shows that the event declares
// EMF metrics: _aws or something below it, at the root or in an OTLP log
// record's body.
func isEMFField(n string) bool {
	for _, p := range [...]string{emfField, emfOTLPField} {
		if len(n) >= len(p) && n[:len(p)] == p && (len(n) == len(p) || n[len(p)] == '.') {
			return true
		}
	}
	return false
}

// emfError is why an EMF event was rejected.
type emfError struct {
	reason string
	detail string
}

// Error implements error.
func (e *emfError) Error() string { return e.reason + ": " + e.detail }

func emfErrorf(reason, format string, args ...any) *emfError {
	return &emfError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// emfMetric is one series of a valid EMF event with its values.
type emfMetric struct {
	lset   labels.Labels // __name__, namespace and the dimension set's labels
	name   string        // the Prometheus metric name
	unit   string
	values []float64
}

// validateEMF checks an EMF event as CloudWatch does and returns its
// metrics, one per metric definition and dimension set. The rules:
//
//   - the message is one JSON object, with nothing after it;
//   - _aws is an object holding CloudWatchMetrics, an array of directives;
//     Timestamp, when present, is an integer of Unix milliseconds at most
//     two weeks old and two hours ahead of now (absent: the event's time);
//   - a directive's Namespace is a string of 1 to 255 characters of
//     [a-zA-Z0-9._#:/-] that does not start with "AWS/";
//   - Dimensions is a non-empty array of dimension sets, each an array of
//     at most 30 names of root members whose values are strings; names
//     have 1 to 250 ASCII characters and do not start with ':', values 1
//     to 1024 ASCII characters, not all whitespace;
//   - Metrics is an array of at most 100 definitions; Name is a string of
//     1 to 1024 characters naming a root member (literally: "a.b" is the
//     member "a.b", not b inside a), Unit one of CloudWatch's units,
//     StorageResolution 1 or 60;
//   - the member a Name references is a number, or an array of 1 to 100
//     numbers, each within ±2^360.
//
// Any violation rejects the whole event.
func validateEMF(msg string, eventTime int64, now time.Time) ([]emfMetric, *emfError) {
	dec := json.NewDecoder(strings.NewReader(msg))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, emfErrorf(emfBadJSON, "the message is not a JSON object: %v", err)
	}
	if root == nil {
		return nil, emfErrorf(emfBadJSON, "the message is null, not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, emfErrorf(emfBadJSON, "text follows the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, emfErrorf(emfBadAWS, "_aws is not an object")
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok {
		return nil, emfErrorf(emfBadAWS, "_aws.CloudWatchMetrics is not an array")
	}
	ts := eventTime
	if raw, present := aws["Timestamp"]; present {
		n, ok := raw.(json.Number)
		if !ok {
			return nil, emfErrorf(emfBadTimestamp, "_aws.Timestamp is not a number")
		}
		ms, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return nil, emfErrorf(emfBadTimestamp, "_aws.Timestamp %s is not an integer of milliseconds", n)
		}
		ts = ms
		if t := time.UnixMilli(ts); t.Before(now.Add(-emfMaxPast)) || t.After(now.Add(emfMaxFuture)) {
			return nil, emfErrorf(emfBadTimestamp, "_aws.Timestamp %s is more than 2 weeks old or 2 hours ahead", n)
		}
	}
	var out []emfMetric
	for di, raw := range directives {
		d, ok := raw.(map[string]any)
		if !ok {
			return nil, emfErrorf(emfBadAWS, "CloudWatchMetrics[%d] is not an object", di)
		}
		ns, ok := d["Namespace"].(string)
		switch {
		case !ok:
			return nil, emfErrorf(emfBadNamespace, "CloudWatchMetrics[%d].Namespace is missing or not a string", di)
		case len(ns) == 0 || len(ns) > emfMaxNamespace:
			return nil, emfErrorf(emfBadNamespace, "namespace %q must have 1 to %d characters", ns, emfMaxNamespace)
		case !emfNamespaceRE.MatchString(ns):
			return nil, emfErrorf(emfBadNamespace, "namespace %q may only hold letters, digits and . _ # : / -", ns)
		case strings.HasPrefix(ns, "AWS/"):
			return nil, emfErrorf(emfBadNamespace, "namespace %q is reserved for AWS", ns)
		}
		sets, err := emfDimensionSets(d, root, di)
		if err != nil {
			return nil, err
		}
		defs, ok := d["Metrics"].([]any)
		if !ok {
			return nil, emfErrorf(emfBadMetrics, "CloudWatchMetrics[%d].Metrics is missing or not an array", di)
		}
		if len(defs) > emfMaxMetrics {
			return nil, emfErrorf(emfBadMetrics, "CloudWatchMetrics[%d] has %d metrics, more than %d", di, len(defs), emfMaxMetrics)
		}
		for mi, rawDef := range defs {
			m, err := emfMetricDef(rawDef, root, di, mi)
			if err != nil {
				return nil, err
			}
			for _, set := range sets {
				b := labels.NewScratchBuilder(len(set) + 2)
				b.Add(labels.MetricName, m.name)
				b.Add(EMFNamespaceLabel, ns)
				for _, l := range set {
					b.Add(l.Name, l.Value)
				}
				b.Sort()
				mm := m
				mm.lset = b.Labels()
				out = append(out, mm)
			}
		}
	}
	return out, nil
}

// emfDimensionSets reads a directive's dimension sets as label sets.
func emfDimensionSets(d, root map[string]any, di int) ([][]labels.Label, *emfError) {
	raw, ok := d["Dimensions"].([]any)
	if !ok {
		return nil, emfErrorf(emfBadDimensions, "CloudWatchMetrics[%d].Dimensions is missing or not an array", di)
	}
	if len(raw) == 0 {
		return nil, emfErrorf(emfBadDimensions, "CloudWatchMetrics[%d].Dimensions is empty", di)
	}
	sets := make([][]labels.Label, 0, len(raw))
	for si, rs := range raw {
		keys, ok := rs.([]any)
		if !ok {
			return nil, emfErrorf(emfBadDimensions, "dimension set %d is not an array", si)
		}
		if len(keys) > emfMaxDimensions {
			return nil, emfErrorf(emfBadDimensions, "dimension set %d has %d dimensions, more than %d", si, len(keys), emfMaxDimensions)
		}
		set := make([]labels.Label, 0, len(keys))
		seen := map[string]string{} // label name -> dimension
		for _, rk := range keys {
			k, ok := rk.(string)
			if !ok {
				return nil, emfErrorf(emfBadDimensions, "dimension set %d holds a %s, not a dimension name", si, jsonKind(rk))
			}
			if len(k) == 0 || len(k) > emfMaxDimName || !isASCII(k) || k[0] == ':' {
				return nil, emfErrorf(emfBadDimensions, "dimension name %q must have 1 to %d ASCII characters and not start with ':'", k, emfMaxDimName)
			}
			v, present := root[k]
			if !present {
				return nil, emfErrorf(emfBadDimensionValue, "dimension %q is not a member of the root object", k)
			}
			s, ok := v.(string)
			if !ok {
				return nil, emfErrorf(emfBadDimensionValue, "dimension %q is a %s, not a string", k, jsonKind(v))
			}
			if len(s) == 0 || len(s) > emfMaxDimValue || !isASCII(s) || strings.TrimSpace(s) == "" {
				return nil, emfErrorf(emfBadDimensionValue, "dimension %q: the value must have 1 to %d ASCII characters, not all whitespace", k, emfMaxDimValue)
			}
			name := dimensionLabel(k)
			if prev, dup := seen[name]; dup {
				if prev == k {
					continue
				}
				return nil, emfErrorf(emfLabelConflict, "dimensions %q and %q both become label %q", prev, k, name)
			}
			seen[name] = k
			set = append(set, labels.Label{Name: name, Value: s})
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// emfMetricDef reads a metric definition and its values.
func emfMetricDef(raw any, root map[string]any, di, mi int) (emfMetric, *emfError) {
	def, ok := raw.(map[string]any)
	if !ok {
		return emfMetric{}, emfErrorf(emfBadMetrics, "CloudWatchMetrics[%d].Metrics[%d] is not an object", di, mi)
	}
	name, ok := def["Name"].(string)
	if !ok || len(name) == 0 || len(name) > emfMaxMetricName {
		return emfMetric{}, emfErrorf(emfBadMetricName, "CloudWatchMetrics[%d].Metrics[%d].Name must be a string of 1 to %d characters", di, mi, emfMaxMetricName)
	}
	m := emfMetric{name: metricName(name)}
	if u, present := def["Unit"]; present {
		s, ok := u.(string)
		if !ok || !emfUnits[s] {
			return emfMetric{}, emfErrorf(emfBadUnit, "metric %q: unit %v is not a CloudWatch unit", name, u)
		}
		m.unit = s
	}
	if r, present := def["StorageResolution"]; present {
		n, ok := r.(json.Number)
		if !ok || (n.String() != "1" && n.String() != "60") {
			return emfMetric{}, emfErrorf(emfBadResolution, "metric %q: StorageResolution %v is not 1 or 60", name, r)
		}
	}
	target, present := root[name]
	if !present {
		return emfMetric{}, emfErrorf(emfBadValue, "metric %q is not a member of the root object", name)
	}
	switch v := target.(type) {
	case json.Number:
		f, err := emfNumber(name, v)
		if err != nil {
			return emfMetric{}, err
		}
		m.values = []float64{f}
	case []any:
		if len(v) == 0 || len(v) > emfMaxValues {
			return emfMetric{}, emfErrorf(emfBadValue, "metric %q has %d values, not 1 to %d", name, len(v), emfMaxValues)
		}
		m.values = make([]float64, len(v))
		for i, el := range v {
			n, ok := el.(json.Number)
			if !ok {
				return emfMetric{}, emfErrorf(emfBadValue, "metric %q: value %d is a %s, not a number", name, i, jsonKind(el))
			}
			f, err := emfNumber(name, n)
			if err != nil {
				return emfMetric{}, err
			}
			m.values[i] = f
		}
	default:
		return emfMetric{}, emfErrorf(emfBadValue, "metric %q is a %s, not a number or an array of numbers", name, jsonKind(target))
	}
	return m, nil
}

func emfNumber(name string, n json.Number) (float64, *emfError) {
	f, err := strconv.ParseFloat(n.String(), 64)
	if err != nil || math.Abs(f) > emfMaxAbsValue {
		return 0, emfErrorf(emfBadValue, "metric %q: value %s is out of range (±2^360)", name, n)
	}
	return f, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// metricName makes name a Prometheus metric name in the legacy character
// set [a-zA-Z_:][a-zA-Z0-9_:]*: other characters become '_', and a leading
// digit gets a '_' before it.
func metricName(name string) string { return sanitizeName(name, true) }

// dimensionLabel makes a dimension name a label name ([a-zA-Z_][a-zA-Z0-9_]*).
// Names that would clash with the namespace label or Prometheus' reserved
// "__" names get "exported_" before them, as Prometheus renames clashing
// target labels.
func dimensionLabel(name string) string {
	l := sanitizeName(name, false)
	if l == EMFNamespaceLabel || strings.HasPrefix(l, "__") {
		l = "exported_" + l
	}
	return l
}

func sanitizeName(name string, colon bool) string {
	ok := true
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i], i == 0, colon) {
			ok = false
			break
		}
	}
	if ok {
		return name
	}
	var b strings.Builder
	if name[0] >= '0' && name[0] <= '9' {
		b.WriteByte('_')
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; nameByte(c, false, colon) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func nameByte(c byte, first, colon bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || (colon && c == ':') || (!first && c >= '0' && c <= '9')
}

// emfSeries is the aggregate of one EMF series.
type emfSeries struct {
	namespace string
	hist      native
	lastTouch int64
	out       output
}

type emfDeriver struct {
	maxPerNS int
	series   map[string]*emfSeries // by encoded labels
	perNS    map[string]int
	keyBuf   []byte
	snap     emfSnapshot
}

func newEMFDeriver(opts EMFOptions) *emfDeriver {
	e := &emfDeriver{maxPerNS: opts.MaxSeriesPerNamespace, series: map[string]*emfSeries{}, perNS: map[string]int{}}
	if e.maxPerNS <= 0 {
		e.maxPerNS = DefaultEMFMaxSeriesPerNamespace
	}
	return e
}

// observe extracts the metrics of an event that declares EMF. It reports
// whether they were extracted.
func (e *emfDeriver) observe(ev *event.Event, now int64, c *counts, d *Deriver) bool {
	msg := ev.Message
	if msg == "" && ev.Shape != nil {
		msg = ev.Rebuild()
	}
	metrics, err := validateEMF(msg, ev.Time, time.Unix(now, 0))
	if err != nil {
		if c.emfRejected == nil {
			c.emfRejected = map[string]int{}
		}
		c.emfRejected[err.reason]++
		d.warn.Warn(d.log, "emf_"+err.reason, "Rejected EMF metrics of an event",
			"group", ev.Group, "stream", ev.Stream, "reason", err.reason, "err", err.detail)
		return false
	}
	for i := range metrics {
		m := &metrics[i]
		e.keyBuf = m.lset.Bytes(e.keyBuf[:0])
		s := e.series[string(e.keyBuf)]
		if s == nil {
			ns := m.lset.Get(EMFNamespaceLabel)
			if e.perNS[ns] >= e.maxPerNS {
				c.drop("emf")
				continue
			}
			s = &emfSeries{namespace: ns, hist: newNative(), out: output{
				lset:   m.lset,
				family: m.name,
				md:     metadata.Metadata{Type: model.MetricTypeHistogram, Unit: emfUnit(m.unit), Help: "CloudWatch embedded metric format values, derived by sonde from log events."},
			}}
			e.series[string(e.keyBuf)] = s
			e.perNS[ns]++
		}
		for _, v := range m.values {
			s.hist.observe(v)
		}
		s.lastTouch = now
	}
	c.emfEvents++
	return true
}

// emfUnit writes a CloudWatch unit as a metadata unit: "milliseconds",
// "bytes_per_second"; None and no unit give "".
func emfUnit(u string) string {
	if u == "" || u == "None" {
		return ""
	}
	return strings.ReplaceAll(strings.ToLower(u), "/", "_per_")
}

type emfSnapshot struct {
	items []emfItem
	stale []*emfSeries
}

type emfItem struct {
	s  *emfSeries
	fh *histogram.FloatHistogram
}

func (e *emfDeriver) snapshot(now, idleBefore int64) flushable {
	sn := &e.snap
	sn.items, sn.stale = sn.items[:0], sn.stale[:0]
	for k, s := range e.series {
		if s.lastTouch < idleBefore {
			delete(e.series, k)
			if e.perNS[s.namespace]--; e.perNS[s.namespace] <= 0 {
				delete(e.perNS, s.namespace)
			}
			sn.stale = append(sn.stale, s)
			continue
		}
		sn.items = append(sn.items, emfItem{s: s, fh: s.hist.float()})
	}
	return sn
}

func (sn *emfSnapshot) name() string { return "emf" }
func (sn *emfSnapshot) live() int    { return len(sn.items) }

func (sn *emfSnapshot) write(w *writer) {
	for i := range sn.items {
		w.histogram(&sn.items[i].s.out, sn.items[i].fh)
		sn.items[i] = emfItem{}
	}
	for i, s := range sn.stale {
		w.stale(&s.out)
		sn.stale[i] = nil
	}
}
