package derive

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

// The RED metric names.
const (
	REDRequests = "http_server_requests_total"
	REDDuration = "http_server_request_duration_seconds"
)

// REDBuckets are the bounds of the duration histogram, in seconds:
// Prometheus' default buckets, 5ms to 10s.
var REDBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DefaultREDMaxSeries caps the label sets of the RED metrics.
const DefaultREDMaxSeries = 10_000

// REDOptions configure RED metrics.
type REDOptions struct {
	Enabled bool
	// Groups are the log groups watched, by exact name or "prefix*";
	// empty watches every group. Server spans count when the group
	// "spans" is watched.
	Groups []string
	// Fields name the fields of access log lines; nil lists take
	// DefaultREDFields'.
	Fields REDFields
	// MaxSeries caps the label sets (default 10,000).
	MaxSeries int
}

// REDFields lists, for each part of a request, the field names that may
// hold it in an access log line, the preferred first. Latency names may end
// in ":ms", ":s", ":us" or ":ns" to give their unit; otherwise the unit
// comes from the name (see latencyScale).
type REDFields struct {
	Service []string `yaml:"service"`
	Method  []string `yaml:"method"`
	Route   []string `yaml:"route"`
	// Path fields are used when there is no route: the query string is cut
	// and id-like segments become {id}.
	Path    []string `yaml:"path"`
	Status  []string `yaml:"status"`
	Latency []string `yaml:"latency"`
}

// DefaultREDFields are the field names of access logs that sonde knows:
// genlogs' and the usual web servers', frameworks' and OpenTelemetry
// log records'.
var DefaultREDFields = REDFields{
	Service: []string{"service", "service.name", "service_name", "serviceName", "app", "application",
		"resource.attributes.service.name"},
	Method: []string{"method", "http.method", "http.request.method", "http_method", "httpMethod", "request_method",
		"request.method", "req.method", "verb", "attributes.http.request.method", "attributes.http.method"},
	Route: []string{"route", "http.route", "http_route", "endpoint", "attributes.http.route"},
	Path: []string{"path", "http.path", "url.path", "http.target", "request_uri", "uri", "url", "request.path",
		"req.url", "request.url", "attributes.url.path"},
	Status: []string{"status", "status_code", "statusCode", "http.status_code", "http.response.status_code",
		"http_status", "response.status", "res.statusCode", "response_status", "attributes.http.response.status_code",
		"attributes.http.status_code"},
	Latency: []string{"latency_ms", "duration_ms", "response_time", "response_time_ms", "elapsed_ms", "took_ms",
		"latency", "duration", "durationMs", "responseTime", "elapsed", "request_time", "upstream_response_time",
		"latency_us", "duration_us", "duration_ns", "latency_seconds", "duration_seconds"},
}

// WithDefaults returns f with each list left empty replaced by the one of
// DefaultREDFields.
func (f REDFields) WithDefaults() REDFields {
	or := func(l, d []string) []string {
		if l == nil {
			return d
		}
		return l
	}
	d := DefaultREDFields
	return REDFields{
		Service: or(f.Service, d.Service), Method: or(f.Method, d.Method), Route: or(f.Route, d.Route),
		Path: or(f.Path, d.Path), Status: or(f.Status, d.Status), Latency: or(f.Latency, d.Latency),
	}
}

// Endpoint lists the candidate names of the fields that say which endpoint
// a request went to: its service, route and method (defaults filled in).
func (f REDFields) Endpoint() [][]string {
	f = f.WithDefaults()
	return [][]string{f.Service, f.Route, f.Method}
}

// The parts of a request an access log line may give.
const (
	roleService = iota
	roleMethod
	roleRoute
	rolePath
	roleStatus
	roleLatency
	nRoles
)

// maxRoleName bounds the length of the field names a role table indexes.
const maxRoleName = 64

// roleTable finds the role of a field name with one table lookup for the
// names that are not roles (most of them): index[len][first byte] points
// to the few candidates of that length and first byte.
type roleTable struct {
	index [maxRoleName][256]uint16
	cells [][]roleEntry
}

type roleEntry struct {
	name  string
	role  uint8
	prio  uint8   // position in its list: lower wins
	scale float64 // latency: seconds per unit
}

func (t *roleTable) add(name string, role uint8, prio int, scale float64) error {
	if name == "" || len(name) >= maxRoleName {
		return fmt.Errorf("field name %q must have 1 to %d characters", name, maxRoleName-1)
	}
	if prio > 255 {
		return fmt.Errorf("too many field names for one part of a request")
	}
	e := roleEntry{name: name, role: role, prio: uint8(prio), scale: scale}
	cell := &t.index[len(name)][name[0]]
	if *cell == 0 {
		t.cells = append(t.cells, nil)
		*cell = uint16(len(t.cells))
	}
	for _, old := range t.cells[*cell-1] {
		if old.name == name {
			return nil // the first listing wins
		}
	}
	t.cells[*cell-1] = append(t.cells[*cell-1], e)
	return nil
}

// redScan is what one pass over an event's fields found: the index of the
// field of each role (-1: none), its priority and (latency) scale.
type redScan struct {
	role  [nRoles]int32
	prio  [nRoles]uint8
	scale [nRoles]float64
}

func (s *redScan) reset() {
	for i := range s.role {
		s.role[i] = -1
	}
}

// latencyScale returns the seconds per unit of a latency field: from an
// explicit ":unit" suffix, else from the name's ending (latency_ms,
// durationMs, elapsed_us, duration_ns, request_seconds...); nginx's
// request_time and upstream_response_time are in seconds; other names
// without a unit are milliseconds.
func latencyScale(spec string) (name string, scale float64, err error) {
	if n, unit, ok := strings.Cut(spec, ":"); ok {
		s, known := unitScales[unit]
		if !known {
			return "", 0, fmt.Errorf("unknown unit %q in %q (want ms, s, us or ns)", unit, spec)
		}
		return n, s, nil
	}
	for _, u := range unitSuffixes {
		for _, suf := range u.suffixes {
			if len(spec) > len(suf) && strings.HasSuffix(spec, suf) {
				return spec, u.scale, nil
			}
		}
	}
	switch spec {
	case "request_time", "upstream_response_time":
		return spec, 1, nil
	}
	return spec, 1e-3, nil
}

var unitSuffixes = []struct {
	suffixes []string
	scale    float64
}{
	{[]string{"_ms", ".ms", "Ms", "MS", "_millis", "Millis", "_milliseconds", "Milliseconds"}, 1e-3},
	{[]string{"_us", ".us", "Us", "_micros", "Micros", "_microseconds", "Microseconds"}, 1e-6},
	{[]string{"_ns", ".ns", "Ns", "_nanos", "Nanos", "_nanoseconds", "Nanoseconds"}, 1e-9},
	{[]string{"_s", ".s", "_sec", "_secs", "_seconds", "Sec", "Secs", "Seconds"}, 1},
}

var unitScales = map[string]float64{"ms": 1e-3, "s": 1, "us": 1e-6, "ns": 1e-9}

// redKey identifies one RED series.
type redKey struct {
	service, route, method, status string
}

// redSeries is the aggregate of one label set.
type redSeries struct {
	key       redKey
	hist      classic
	lastTouch int64 // Unix seconds
	out       []output
}

type redDeriver struct {
	maxSeries int
	exact     map[string]bool
	prefixes  []string
	all       bool
	spans     bool
	table     roleTable
	series    map[string]*redSeries // by redKey.encode
	keyBuf    []byte

	// lastGroup caches watches for runs of events of one group.
	lastGroup   string
	lastWatched bool

	snap redSnapshot
}

func newREDDeriver(opts REDOptions) (*redDeriver, error) {
	r := &redDeriver{maxSeries: opts.MaxSeries, exact: map[string]bool{}, series: map[string]*redSeries{}}
	if r.maxSeries <= 0 {
		r.maxSeries = DefaultREDMaxSeries
	}
	r.all = len(opts.Groups) == 0
	for _, g := range opts.Groups {
		if p, ok := strings.CutSuffix(g, "*"); ok {
			r.prefixes = append(r.prefixes, p)
		} else {
			r.exact[g] = true
		}
	}
	r.spans = r.all || r.exact[span.Group]
	for _, p := range r.prefixes {
		if strings.HasPrefix(span.Group, p) {
			r.spans = true
		}
	}
	f := opts.Fields.WithDefaults()
	lists := [nRoles][]string{f.Service, f.Method, f.Route, f.Path, f.Status, f.Latency}
	for role, names := range lists {
		for prio, spec := range names {
			name, scale := spec, 0.0
			if role == roleLatency {
				var err error
				if name, scale, err = latencyScale(spec); err != nil {
					return nil, fmt.Errorf("red metrics: %w", err)
				}
			}
			if err := r.table.add(name, uint8(role), prio, scale); err != nil {
				return nil, fmt.Errorf("red metrics: %w", err)
			}
		}
	}
	return r, nil
}

// watches reports whether access logs of group count.
func (r *redDeriver) watches(group string) bool {
	if r.all {
		return true
	}
	if group == r.lastGroup && group != "" {
		return r.lastWatched
	}
	ok := r.exact[group]
	for _, p := range r.prefixes {
		if strings.HasPrefix(group, p) {
			ok = true
		}
	}
	r.lastGroup, r.lastWatched = strings.Clone(group), ok
	return ok
}

// observeLog counts an access log line whose fields sc found.
func (r *redDeriver) observeLog(ev *event.Event, sc *redScan, now int64, c *counts) {
	if sc.role[roleLatency] < 0 || (sc.role[roleMethod] < 0 && sc.role[roleRoute] < 0 && sc.role[rolePath] < 0) {
		return
	}
	status, ok := statusText(ev.Fields[sc.role[roleStatus]].Value)
	if !ok {
		return
	}
	lat, ok := number(ev.Fields[sc.role[roleLatency]].Value)
	if !ok || lat < 0 {
		return
	}
	k := redKey{status: status, service: ev.Group}
	if i := sc.role[roleService]; i >= 0 {
		if s, ok := text(ev.Fields[i].Value); ok && s != "" {
			k.service = s
		}
	}
	if i := sc.role[roleMethod]; i >= 0 {
		k.method, _ = text(ev.Fields[i].Value)
	}
	if i := sc.role[roleRoute]; i >= 0 {
		k.route, _ = text(ev.Fields[i].Value)
	} else if i := sc.role[rolePath]; i >= 0 {
		if p, ok := text(ev.Fields[i].Value); ok {
			k.route = normalizePath(p)
		}
	}
	r.observe(&k, lat*sc.scale[roleLatency], now, c)
}

// observeSpan counts a server span.
func (r *redDeriver) observeSpan(ev *event.Event, now int64, c *counts) {
	var k redKey
	var server, hasHTTP, hasDur bool
	var dur float64
	for i := range ev.Fields {
		f := &ev.Fields[i]
		switch f.Name {
		case span.FieldKind:
			server = f.Kind == event.KindString && f.Str == "server"
		case span.FieldService:
			k.service, _ = text(f.Value)
		case span.FieldHTTPMethod:
			k.method, _ = text(f.Value)
			hasHTTP = true
		case span.FieldHTTPRoute:
			k.route, _ = text(f.Value)
			hasHTTP = true
		case span.FieldHTTPStatus:
			k.status, _ = statusText(f.Value)
		case span.FieldDuration:
			dur, hasDur = number(f.Value)
		}
	}
	if !server || !hasHTTP || !hasDur || dur < 0 {
		return
	}
	r.observe(&k, dur/1000, now, c)
}

// encode writes the key as one string, which hashes faster than four.
func (k *redKey) encode(b []byte) []byte {
	b = append(b, k.service...)
	b = append(b, 0xff)
	b = append(b, k.route...)
	b = append(b, 0xff)
	b = append(b, k.method...)
	b = append(b, 0xff)
	return append(b, k.status...)
}

func (r *redDeriver) observe(k *redKey, seconds float64, now int64, c *counts) {
	r.keyBuf = k.encode(r.keyBuf[:0])
	s := r.series[string(r.keyBuf)]
	if s == nil {
		if len(r.series) >= r.maxSeries {
			c.drop("red")
			return
		}
		s = &redSeries{key: redKey{
			service: strings.Clone(k.service), route: strings.Clone(k.route),
			method: strings.Clone(k.method), status: strings.Clone(k.status),
		}, hist: newClassic(REDBuckets)}
		r.series[string(r.keyBuf)] = s
	}
	s.hist.observe(REDBuckets, seconds)
	s.lastTouch = now
	c.redEvents++
}

// statusText returns an HTTP status as label text: a number from 100 to
// 599, written without allocating for the common ones.
func statusText(v event.Value) (string, bool) {
	var n int64
	switch v.Kind {
	case event.KindInt:
		n = v.Int()
	case event.KindFloat:
		f := v.Float()
		if f != math.Trunc(f) {
			return "", false
		}
		n = int64(f)
	case event.KindString:
		s := v.Str
		if len(s) == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9' {
			return s, true
		}
		return "", false
	default:
		return "", false
	}
	if n < 100 || n > 599 {
		return "", false
	}
	return statusTexts[n-100], true
}

var statusTexts = func() (t [500]string) {
	for i := range t {
		t[i] = strconv.Itoa(100 + i)
	}
	return t
}()

// number reads a numeric field.
func number(v event.Value) (float64, bool) {
	switch v.Kind {
	case event.KindInt:
		return float64(v.Int()), true
	case event.KindFloat:
		f := v.Float()
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// text reads a field as label text; only strings (and ids and addresses,
// which are typed strings) qualify, so that the common case does not
// allocate.
func text(v event.Value) (string, bool) {
	if v.Kind == event.KindString {
		return v.Str, true
	}
	switch v.Kind {
	case event.KindID128, event.KindID64, event.KindIPv4:
		return v.Text(0), true
	}
	return "", false
}

// normalizePath turns a request path into a route: the query string and
// fragment are cut, and segments that look like ids (all digits, a UUID,
// or 16 or more hex digits) become "{id}".
func normalizePath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if !strings.ContainsAny(p, "0123456789") {
		return p
	}
	segs := strings.Split(p, "/")
	changed := false
	for i, s := range segs {
		if isIDSegment(s) {
			segs[i], changed = "{id}", true
		}
	}
	if !changed {
		return p
	}
	return strings.Join(segs, "/")
}

func isIDSegment(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		if !isDigit {
			digits = false
		}
		if !isDigit && !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') && !(c == '-' && len(s) == 36) {
			hex = false
		}
	}
	return digits || (hex && (len(s) >= 16 || len(s) == 36))
}

// redSnapshot is the copy of the RED aggregates a flush writes.
type redSnapshot struct {
	items []redItem
	stale []*redSeries
	n     int
}

type redItem struct {
	s    *redSeries
	hist classic
}

var (
	redRequestsMD = metadata.Metadata{Type: model.MetricTypeCounter,
		Help: "HTTP requests served, derived by sonde from access logs and server spans."}
	redDurationMD = metadata.Metadata{Type: model.MetricTypeHistogram, Unit: "seconds",
		Help: "Duration of HTTP requests, derived by sonde from access logs and server spans."}
)

// snapshot copies the aggregates and forgets the series idle since
// before idleBefore; mu is held.
func (r *redDeriver) snapshot(now, idleBefore int64) flushable {
	sn := &r.snap
	sn.stale = sn.stale[:0]
	n := 0
	for k, s := range r.series {
		if s.lastTouch < idleBefore {
			delete(r.series, k)
			sn.stale = append(sn.stale, s)
			continue
		}
		if n == len(sn.items) {
			sn.items = append(sn.items, redItem{})
		}
		sn.items[n].s = s
		s.hist.copyInto(&sn.items[n].hist)
		n++
	}
	sn.n = n
	return sn
}

func (sn *redSnapshot) name() string { return "red" }
func (sn *redSnapshot) live() int    { return sn.n }

func (sn *redSnapshot) write(w *writer) {
	for i := 0; i < sn.n; i++ {
		it := &sn.items[i]
		s := it.s
		if s.out == nil {
			s.out = redOutputs(s.key)
		}
		w.float(&s.out[0], float64(it.hist.n))
		writeClassic(w, s.out[1:], &it.hist)
		it.s = nil
	}
	for _, s := range sn.stale {
		for i := range s.out {
			w.stale(&s.out[i])
		}
	}
	clear(sn.stale)
}

// redOutputs are the series of one label set: the request counter, then
// the duration histogram's.
func redOutputs(k redKey) []output {
	b := labels.NewScratchBuilder(5)
	b.Add(labels.MetricName, REDRequests)
	// Empty label values are absent labels.
	for _, l := range [...][2]string{{"service", k.service}, {"route", k.route}, {"method", k.method}, {"status", k.status}} {
		if l[1] != "" {
			b.Add(l[0], l[1])
		}
	}
	b.Sort()
	base := b.Labels()
	out := []output{{lset: base, family: REDRequests, md: redRequestsMD}}
	return append(out, classicOutputs(REDDuration, base, REDBuckets, redDurationMD)...)
}

// CheckRED checks RED options the way New does, for configuration
// validation.
func CheckRED(opts REDOptions) error {
	_, err := newREDDeriver(opts)
	return err
}
