package trace

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/query"
)

// Paths of the trace API on the main port.
const (
	PathTrace        = "/api/v1/traces/{id}"
	PathSearch       = "/api/v1/traces/search"
	PathDistribution = "/api/v1/traces/distribution"
	PathGroups       = "/api/v1/traces/groups"
	PathGroup        = "/api/v1/traces/groups/{name}"
	PathGroupStats   = "/api/v1/traces/groups/{name}/stats"
	PathServiceMap   = "/api/v1/servicemap"
	PathSamplingJSON = "/api/sampling"
	PathSamplingList = "/api/v1/sampling/rules"
)

// HandlerOptions configure the trace API.
type HandlerOptions struct {
	Engine   *Engine
	Groups   *Groups
	Sampling *Sampling
	Logger   *slog.Logger
}

// Handler serves the trace API.
type Handler struct {
	opts HandlerOptions
	log  *slog.Logger

	opsMu sync.Mutex
	ops   map[string]cachedOps
}

type cachedOps struct {
	ops []Operation
	at  time.Time
}

// NewHandler returns the trace API.
func NewHandler(opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Groups == nil {
		opts.Groups, _ = NewGroups(nil, "")
	}
	if opts.Sampling == nil {
		opts.Sampling = NewSampling(nil, nil)
	}
	return &Handler{opts: opts, log: opts.Logger, ops: map[string]cachedOps{}}
}

// Mount registers the endpoints with handle (the API server's Handle,
// which adds authentication by scope).
func (h *Handler) Mount(handle func(pattern, scope string, handler http.Handler)) {
	handle("GET "+PathTrace, config.ScopeRead, http.HandlerFunc(h.getTrace))
	handle("POST "+PathSearch, config.ScopeRead, http.HandlerFunc(h.search))
	handle("GET "+PathDistribution, config.ScopeRead, http.HandlerFunc(h.distribution))
	handle("GET "+PathServiceMap, config.ScopeRead, http.HandlerFunc(h.serviceMap))
	handle("GET "+PathGroups, config.ScopeRead, http.HandlerFunc(h.listGroups))
	handle("POST "+PathGroups, config.ScopeAdmin, http.HandlerFunc(h.createGroup))
	handle("GET "+PathGroup, config.ScopeRead, http.HandlerFunc(h.getGroup))
	handle("PUT "+PathGroup, config.ScopeAdmin, http.HandlerFunc(h.putGroup))
	handle("DELETE "+PathGroup, config.ScopeAdmin, http.HandlerFunc(h.deleteGroup))
	handle("GET "+PathGroupStats, config.ScopeRead, http.HandlerFunc(h.groupStats))
	handle("GET "+PathSamplingList, config.ScopeRead, http.HandlerFunc(h.samplingRules))
	// SDKs poll this with the token they send spans with.
	handle("GET "+PathSamplingJSON, config.ScopeIngest, http.HandlerFunc(h.sampling))
}

// writeErr classifies the package's errors for apierr, the one place that
// turns errors into statuses.
func (h *Handler) writeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrFilter), errors.Is(err, ErrGroupInvalid):
		err = apierr.BadRequest("%s", err.Error())
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrGroupNotFound):
		err = apierr.NotFound("%s", err.Error())
	case errors.Is(err, ErrGroupReadOnly):
		err = &apierr.Error{Status: http.StatusConflict, Msg: err.Error()}
	}
	apierr.Write(w, h.log, err)
}

func (h *Handler) getTrace(w http.ResponseWriter, r *http.Request) {
	tr, err := h.opts.Engine.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.writeErr(w, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, tr)
}

// searchRequest is the body of POST /api/v1/traces/search.
type searchRequest struct {
	Filter string          `json:"filter"`
	Start  json.RawMessage `json:"start"`
	End    json.RawMessage `json:"end"`
	Limit  int             `json:"limit"`
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	var req searchRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		h.writeErr(w, apierr.BadRequest("decode search request: %v", err))
		return
	}
	start, end, err := jsonRange(req.Start, req.End)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	if req.Limit < 0 || req.Limit > MaxSearchLimit {
		h.writeErr(w, apierr.BadRequest("limit must be between 1 and %d", MaxSearchLimit))
		return
	}
	res, err := h.opts.Engine.Search(r.Context(), SearchRequest{Filter: req.Filter, Start: start, End: end, Limit: req.Limit})
	if err != nil {
		h.writeErr(w, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, res)
}

// jsonRange reads start and end as the query API does: RFC 3339, epoch ms
// or relative ("now-1h"); the last hour by default.
func jsonRange(rawStart, rawEnd json.RawMessage) (time.Time, time.Time, error) {
	now := time.Now()
	end, err := jsonTime(rawEnd, now, now)
	if err != nil {
		return time.Time{}, time.Time{}, apierr.BadRequest("end: %v", err)
	}
	start, err := jsonTime(rawStart, now, end.Add(-time.Hour))
	if err != nil {
		return time.Time{}, time.Time{}, apierr.BadRequest("start: %v", err)
	}
	return start, end, nil
}

func jsonTime(raw json.RawMessage, now, def time.Time) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		ms, err := n.Int64()
		if err != nil {
			return time.Time{}, err
		}
		return time.UnixMilli(ms), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, err
	}
	return query.ParseTime(s, now)
}

// queryRange reads ?start=&end= like jsonRange.
func queryRange(r *http.Request) (time.Time, time.Time, error) {
	enc := func(v string) json.RawMessage {
		if v == "" {
			return nil
		}
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return json.RawMessage(v)
		}
		b, _ := json.Marshal(v)
		return b
	}
	q := r.URL.Query()
	return jsonRange(enc(q.Get("start")), enc(q.Get("end")))
}

func (h *Handler) serviceMap(w http.ResponseWriter, r *http.Request) {
	start, end, err := queryRange(r)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	q := r.URL.Query()
	m, err := h.opts.Engine.ServiceMap(r.Context(), MapRequest{Start: start, End: end, Group: q.Get("group"), Filter: q.Get("filter")})
	if err != nil {
		h.writeErr(w, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, m)
}

func (h *Handler) distribution(w http.ResponseWriter, r *http.Request) {
	start, end, err := queryRange(r)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	q := r.URL.Query()
	d, err := h.opts.Engine.Distribution(r.Context(), DistributionRequest{
		Service: q.Get("service"), Route: q.Get("route"), Start: start, End: end,
		Group: q.Get("group"), Filter: q.Get("filter"),
	})
	if err != nil {
		h.writeErr(w, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, d)
}

func (h *Handler) listGroups(w http.ResponseWriter, _ *http.Request) {
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"groups": h.opts.Groups.List()})
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := h.opts.Groups.Get(r.PathValue("name"))
	if !ok {
		h.writeErr(w, ErrGroupNotFound)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, g)
}

// groupBody is the body of group creation and replacement.
type groupBody struct {
	Name   string `json:"name"`
	Filter string `json:"filter"`
}

func decodeGroup(w http.ResponseWriter, r *http.Request) (groupBody, error) {
	var b groupBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, apierr.BadRequest("decode trace group: %v", err)
	}
	return b, nil
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) {
	b, err := decodeGroup(w, r)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	if _, exists := h.opts.Groups.Get(b.Name); exists {
		h.writeErr(w, &apierr.Error{Status: http.StatusConflict, Msg: "trace group " + strconv.Quote(b.Name) + " already exists"})
		return
	}
	if _, err := h.opts.Groups.Put(b.Name, b.Filter); err != nil {
		h.writeErr(w, err)
		return
	}
	g, _ := h.opts.Groups.Get(b.Name)
	apierr.WriteJSON(w, http.StatusCreated, g)
}

func (h *Handler) putGroup(w http.ResponseWriter, r *http.Request) {
	b, err := decodeGroup(w, r)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	name := r.PathValue("name")
	if b.Name != "" && b.Name != name {
		h.writeErr(w, apierr.BadRequest("name %q in the body differs from %q in the path", b.Name, name))
		return
	}
	created, err := h.opts.Groups.Put(name, b.Filter)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	g, _ := h.opts.Groups.Get(name)
	st := http.StatusOK
	if created {
		st = http.StatusCreated
	}
	apierr.WriteJSON(w, st, g)
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request) {
	if err := h.opts.Groups.Delete(r.PathValue("name")); err != nil {
		h.writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// groupStats answers a group's figures: requests (its traces' root spans),
// error, fault and throttle rates, and their latency distribution.
func (h *Handler) groupStats(w http.ResponseWriter, r *http.Request) {
	start, end, err := queryRange(r)
	if err != nil {
		h.writeErr(w, err)
		return
	}
	name := r.PathValue("name")
	if _, ok := h.opts.Groups.Get(name); !ok {
		h.writeErr(w, ErrGroupNotFound)
		return
	}
	d, err := h.opts.Engine.Distribution(r.Context(), DistributionRequest{Group: name, Start: start, End: end, RootsOnly: true})
	if err != nil {
		h.writeErr(w, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, d)
}

func (h *Handler) samplingRules(w http.ResponseWriter, _ *http.Request) {
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"rules": h.opts.Sampling.Rules()})
}

// sampling serves the Jaeger remote sampling strategy of ?service=, with
// the operations the service served in the last day (cached a minute).
func (h *Handler) sampling(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	if service == "" {
		h.writeErr(w, apierr.BadRequest("the service parameter is required"))
		return
	}
	h.opsMu.Lock()
	c, ok := h.ops[service]
	h.opsMu.Unlock()
	if !ok || time.Since(c.at) > time.Minute {
		ops, err := h.opts.Engine.Operations(r.Context(), service, 200)
		if err != nil {
			h.writeErr(w, err)
			return
		}
		c = cachedOps{ops: ops, at: time.Now()}
		h.opsMu.Lock()
		if len(h.ops) > 10_000 {
			clear(h.ops)
		}
		h.ops[service] = c
		h.opsMu.Unlock()
	}
	apierr.WriteJSON(w, http.StatusOK, h.opts.Sampling.Strategy(service, c.ops))
}
