package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
)

// PrometheusVersion is the version of the embedded Prometheus libraries,
// reported by /api/v1/status/buildinfo so that clients (Grafana) enable the
// PromQL features it has.
const PrometheusVersion = "3.10.0"

// Route is one endpoint of the API, for mounting on sonde's HTTP server.
type Route struct {
	// Pattern is a net/http ServeMux pattern ("GET /api/v1/query").
	Pattern string
	// Scope is the token scope it needs ("read" or "ingest").
	Scope   string
	Handler http.Handler
}

// API serves Prometheus' HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/)
// over a Store: the query, series, label, metadata and build information
// endpoints, and the remote write receiver. Answers and errors have
// Prometheus' JSON shapes and status codes.
type API struct {
	store *Store
	log   *slog.Logger
	write *WriteHandler
	now   func() time.Time
}

// NewAPI returns the API of s.
func (s *Store) NewAPI() *API {
	return &API{store: s, log: s.log.With("component", "promapi"), write: s.NewWriteHandler(), now: time.Now}
}

// Routes lists the endpoints. Read endpoints accept GET and, like
// Prometheus, POST with a form body (Grafana's default for queries).
func (a *API) Routes() []Route {
	var routes []Route
	read := func(methods []string, path string, h http.HandlerFunc) {
		for _, m := range methods {
			routes = append(routes, Route{Pattern: m + " " + path, Scope: "read", Handler: h})
		}
	}
	both := []string{http.MethodGet, http.MethodPost}
	read(both, "/api/v1/query", a.query)
	read(both, "/api/v1/query_range", a.queryRange)
	read(both, "/api/v1/series", a.series)
	read(both, "/api/v1/labels", a.labelNames)
	read([]string{http.MethodGet}, "/api/v1/label/{name}/values", a.labelValues)
	read([]string{http.MethodGet}, "/api/v1/metadata", a.metadata)
	read([]string{http.MethodGet}, "/api/v1/status/buildinfo", a.buildInfo)
	routes = append(routes, Route{Pattern: "POST /api/v1/write", Scope: "ingest", Handler: a.write})
	return routes
}

// Error types of Prometheus' API, with their status codes.
const (
	errBadData     = "bad_data"
	errExec        = "execution"
	errCanceled    = "canceled"
	errTimeout     = "timeout"
	errInternal    = "internal"
	errUnavailable = "unavailable"
)

type apiError struct {
	typ string
	err error
}

// Error implements error.
func (e *apiError) Error() string { return e.typ + ": " + e.err.Error() }

func badData(format string, args ...any) *apiError {
	return &apiError{errBadData, fmt.Errorf(format, args...)}
}

func invalidParam(name string, err error) *apiError {
	return &apiError{errBadData, fmt.Errorf("invalid parameter %q: %w", name, err)}
}

func statusOf(typ string) int {
	switch typ {
	case errBadData:
		return http.StatusBadRequest
	case errExec:
		return http.StatusUnprocessableEntity
	case errCanceled:
		return 499
	case errTimeout, errUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// queryError classifies an engine or storage error as Prometheus does.
func queryError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storeErr promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &apiError{errCanceled, err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errTimeout, err}
	case errors.As(err, &storeErr):
		return &apiError{errInternal, err}
	case errors.Is(err, ErrClosed):
		return &apiError{errUnavailable, err}
	}
	return &apiError{errExec, err}
}

func (a *API) writeError(w http.ResponseWriter, e *apiError) {
	status := statusOf(e.typ)
	if status >= 500 && e.typ != errTimeout && e.typ != errUnavailable {
		a.log.Error("Query failed", "err", e.err)
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"status":"error","errorType":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"error":`...)
	b = appendString(b, e.err.Error())
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// bufPool holds response buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeSuccess writes {"status":"success","data":<data>,"warnings":...}.
// data appends the data field's JSON.
func (a *API) writeSuccess(w http.ResponseWriter, query string, warnings annotations.Annotations, data func([]byte) []byte) {
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"status":"success","data":`...)
	b = data(b)
	warn, info := warnings.AsStrings(query, 10, 10)
	if len(warn) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStrings(b, warn)
	}
	if len(info) > 0 {
		b = append(b, `,"infos":`...)
		b = appendStrings(b, info)
	}
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	if cap(b) <= 1<<20 {
		*bp = b
		bufPool.Put(bp)
	}
}

func parseForm(r *http.Request) *apiError {
	if err := r.ParseForm(); err != nil {
		return badData("error parsing form values: %v", err)
	}
	return nil
}

func (a *API) query(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(r); e != nil {
		a.writeError(w, e)
		return
	}
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		a.writeError(w, invalidParam("limit", err))
		return
	}
	ts, err := parseTimeParam(r, "time", a.now())
	if err != nil {
		a.writeError(w, invalidParam("time", err))
		return
	}
	ctx := r.Context()
	if to := r.Form.Get("timeout"); to != "" {
		d, err := parseDuration(to)
		if err != nil {
			a.writeError(w, invalidParam("timeout", err))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, a.now().Add(d))
		defer cancel()
	}
	opts, e := queryOpts(r)
	if e != nil {
		a.writeError(w, e)
		return
	}
	qs := r.Form.Get("query")
	qry, err := a.store.engine.NewInstantQuery(ctx, a.store, opts, qs, ts)
	if err != nil {
		a.writeError(w, invalidParam("query", err))
		return
	}
	a.run(ctx, w, r, qry, qs, limit)
}

func (a *API) queryRange(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(r); e != nil {
		a.writeError(w, e)
		return
	}
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		a.writeError(w, invalidParam("limit", err))
		return
	}
	start, err := parseTime(r.Form.Get("start"))
	if err != nil {
		a.writeError(w, invalidParam("start", err))
		return
	}
	end, err := parseTime(r.Form.Get("end"))
	if err != nil {
		a.writeError(w, invalidParam("end", err))
		return
	}
	if end.Before(start) {
		a.writeError(w, invalidParam("end", errors.New("end timestamp must not be before start time")))
		return
	}
	step, err := parseDuration(r.Form.Get("step"))
	if err != nil {
		a.writeError(w, invalidParam("step", err))
		return
	}
	if step <= 0 {
		a.writeError(w, invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")))
		return
	}
	// As Prometheus: at most 11,000 points per series.
	if end.Sub(start)/step > 11000 {
		a.writeError(w, badData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
		return
	}
	ctx := r.Context()
	if to := r.Form.Get("timeout"); to != "" {
		d, err := parseDuration(to)
		if err != nil {
			a.writeError(w, invalidParam("timeout", err))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	opts, e := queryOpts(r)
	if e != nil {
		a.writeError(w, e)
		return
	}
	qs := r.Form.Get("query")
	qry, err := a.store.engine.NewRangeQuery(ctx, a.store, opts, qs, start, end, step)
	if err != nil {
		a.writeError(w, invalidParam("query", err))
		return
	}
	a.run(ctx, w, r, qry, qs, limit)
}

// run executes a query in a query slot and writes its result.
func (a *API) run(ctx context.Context, w http.ResponseWriter, r *http.Request, qry promql.Query, qs string, limit int) {
	defer qry.Close() // after the result is written: Close recycles its memory
	release, err := a.store.AcquireQuery(ctx)
	if err != nil {
		a.writeError(w, queryError(err))
		return
	}
	res := qry.Exec(ctx)
	release()
	if res.Err != nil {
		a.writeError(w, queryError(res.Err))
		return
	}
	warnings := res.Warnings
	if limit > 0 {
		switch v := res.Value.(type) {
		case promql.Matrix:
			if len(v) > limit {
				res.Value = v[:limit]
				warnings = warnings.Add(errors.New("results truncated due to limit"))
			}
		case promql.Vector:
			if len(v) > limit {
				res.Value = v[:limit]
				warnings = warnings.Add(errors.New("results truncated due to limit"))
			}
		}
	}
	var qstats stats.QueryStats
	if r.Form.Get("stats") != "" {
		qstats = stats.NewQueryStats(qry.Stats())
	}
	a.writeSuccess(w, qs, warnings, func(b []byte) []byte {
		b = append(b, `{"resultType":`...)
		b = appendString(b, string(res.Value.Type()))
		b = append(b, `,"result":`...)
		b = appendValue(b, res.Value)
		if qstats != nil {
			if out, err := json.Marshal(qstats); err == nil {
				b = append(b, `,"stats":`...)
				b = append(b, out...)
			}
		}
		return append(b, '}')
	})
}

func queryOpts(r *http.Request) (promql.QueryOpts, *apiError) {
	var lookback time.Duration
	if s := r.Form.Get("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, badData("error parsing lookback delta duration: %v", err)
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(r.Form.Get("stats") == "all", lookback), nil
}

func (a *API) series(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(r); e != nil {
		a.writeError(w, e)
		return
	}
	if len(r.Form["match[]"]) == 0 {
		a.writeError(w, badData("no match[] parameter provided"))
		return
	}
	limit, start, end, sets, e := parseSelectParams(r)
	if e != nil {
		a.writeError(w, e)
		return
	}
	q, err := a.store.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		a.writeError(w, queryError(err))
		return
	}
	defer q.Close()
	hints := &storage.SelectHints{
		Start: timestamp.FromTime(start), End: timestamp.FromTime(end),
		Func:  "series", // no samples needed
		Limit: hintLimit(limit),
	}
	var set storage.SeriesSet
	if len(sets) > 1 {
		all := make([]storage.SeriesSet, 0, len(sets))
		for _, ms := range sets {
			all = append(all, q.Select(r.Context(), true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	} else {
		set = q.Select(r.Context(), false, hints, sets[0]...)
	}
	var found []labels.Labels
	warnings := set.Warnings()
	for set.Next() {
		found = append(found, set.At().Labels())
		if limit > 0 && len(found) > limit {
			found = found[:limit]
			warnings = warnings.Add(errors.New("results truncated due to limit"))
			break
		}
	}
	if err := set.Err(); err != nil {
		a.writeError(w, queryError(err))
		return
	}
	warnings.Merge(set.Warnings())
	a.writeSuccess(w, "", warnings, func(b []byte) []byte {
		b = append(b, '[')
		for i, ls := range found {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLabels(b, ls)
		}
		return append(b, ']')
	})
}

func (a *API) labelNames(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(r); e != nil {
		a.writeError(w, e)
		return
	}
	limit, start, end, sets, e := parseSelectParams(r)
	if e != nil {
		a.writeError(w, e)
		return
	}
	q, err := a.store.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		a.writeError(w, queryError(err))
		return
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	names, warnings, err := collectLabels(sets, func(ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(r.Context(), hints, ms...)
	})
	if err != nil {
		a.writeError(w, &apiError{errExec, err})
		return
	}
	if limit > 0 && len(names) > limit {
		names = names[:limit]
		warnings = warnings.Add(errors.New("results truncated due to limit"))
	}
	a.writeSuccess(w, "", warnings, func(b []byte) []byte { return appendStrings(b, names) })
}

func (a *API) labelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		a.writeError(w, badData("invalid label name: %q", name))
		return
	}
	if e := parseForm(r); e != nil {
		a.writeError(w, e)
		return
	}
	limit, start, end, sets, e := parseSelectParams(r)
	if e != nil {
		a.writeError(w, e)
		return
	}
	q, err := a.store.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		a.writeError(w, &apiError{errExec, err})
		return
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}
	values, warnings, err := collectLabels(sets, func(ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(r.Context(), name, hints, ms...)
	})
	if err != nil {
		a.writeError(w, &apiError{errExec, err})
		return
	}
	if limit > 0 && len(values) > limit {
		values = values[:limit]
		warnings = warnings.Add(errors.New("results truncated due to limit"))
	}
	a.writeSuccess(w, "", warnings, func(b []byte) []byte { return appendStrings(b, values) })
}

// collectLabels runs get for each matcher set (or once without matchers)
// and returns the sorted union.
func collectLabels(sets [][]*labels.Matcher, get func([]*labels.Matcher) ([]string, annotations.Annotations, error)) ([]string, annotations.Annotations, error) {
	var warnings annotations.Annotations
	if len(sets) <= 1 {
		var ms []*labels.Matcher
		if len(sets) == 1 {
			ms = sets[0]
		}
		out, warns, err := get(ms)
		if err != nil {
			return nil, warns, err
		}
		if out == nil {
			out = []string{}
		}
		slices.Sort(out)
		return out, warns, nil
	}
	seen := map[string]struct{}{}
	for _, ms := range sets {
		out, warns, err := get(ms)
		if err != nil {
			return nil, warnings, err
		}
		warnings.Merge(warns)
		for _, v := range out {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, warnings, nil
}

func (a *API) metadata(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(r); e != nil {
		a.writeError(w, e)
		return
	}
	limit, limitPerMetric := -1, -1
	if s := r.Form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.writeError(w, badData("limit must be a number"))
			return
		}
		limit = n
	}
	if s := r.Form.Get("limit_per_metric"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			a.writeError(w, badData("limit_per_metric must be a number"))
			return
		}
		limitPerMetric = n
	}
	metric := r.Form.Get("metric")
	families := map[string][]metadata.Metadata{}
	add := func(family string, md metadata.Metadata) {
		ms := families[family]
		if limitPerMetric > 0 && len(ms) >= limitPerMetric {
			return
		}
		if slices.Contains(ms, md) {
			return
		}
		families[family] = append(ms, md)
	}
	a.store.targetMetadata(metric, add)
	if metric != "" {
		for _, md := range a.store.meta.get(metric) {
			add(metric, md)
		}
	} else {
		a.store.meta.each(add)
	}
	names := make([]string, 0, len(families))
	for n, mds := range families {
		names = append(names, n)
		sort.Slice(mds, func(i, j int) bool { return fmt.Sprint(mds[i]) < fmt.Sprint(mds[j]) })
	}
	sort.Strings(names)
	if limit >= 0 && len(names) > limit {
		names = names[:limit]
	}
	a.writeSuccess(w, "", nil, func(b []byte) []byte {
		b = append(b, '{')
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, n)
			b = append(b, ":["...)
			for j, md := range families[n] {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"type":`...)
				b = appendString(b, string(md.Type))
				b = append(b, `,"help":`...)
				b = appendString(b, md.Help)
				b = append(b, `,"unit":`...)
				b = appendString(b, md.Unit)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		return append(b, '}')
	})
}

func (a *API) buildInfo(w http.ResponseWriter, _ *http.Request) {
	revision, buildDate := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				buildDate = s.Value
			}
		}
	}
	info := map[string]string{
		"version":   PrometheusVersion,
		"revision":  revision,
		"branch":    "sonde",
		"buildUser": "sonde",
		"buildDate": buildDate,
		"goVersion": runtime.Version(),
	}
	a.writeSuccess(w, "", nil, func(b []byte) []byte {
		out, _ := json.Marshal(info)
		return append(b, out...)
	})
}

// parseSelectParams reads limit, start, end and match[] as the series and
// label endpoints take them.
func parseSelectParams(r *http.Request) (limit int, start, end time.Time, sets [][]*labels.Matcher, e *apiError) {
	limit, err := parseLimit(r.Form.Get("limit"))
	if err != nil {
		return 0, start, end, nil, invalidParam("limit", err)
	}
	if start, err = parseTimeParam(r, "start", minTime); err != nil {
		return 0, start, end, nil, invalidParam("start", err)
	}
	if end, err = parseTimeParam(r, "end", maxTime); err != nil {
		return 0, start, end, nil, invalidParam("end", err)
	}
	if sets, err = parseMatchers(r.Form["match[]"]); err != nil {
		return 0, start, end, nil, invalidParam("match[]", err)
	}
	return limit, start, end, sets, nil
}

// minTime and maxTime are Prometheus' defaults for open time ranges.
var (
	minTime          = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime          = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.Form.Get(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseTime accepts Unix seconds (with decimals) and RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(sec), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration accepts seconds (with decimals) and Prometheus durations.
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if ts > float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func parseMatchers(in []string) ([][]*labels.Matcher, error) {
	sets, err := parser.ParseMetricSelectors(in)
	if err != nil {
		return nil, err
	}
outer:
	for _, ms := range sets {
		for _, m := range ms {
			if m != nil && !m.Matches("") {
				continue outer
			}
		}
		return nil, errors.New("match[] must contain at least one non-empty matcher")
	}
	return sets, nil
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

// hintLimit asks storage for one more than the limit, to detect truncation.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}
