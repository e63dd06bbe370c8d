// Package api is sonde's HTTP API on the main port: ingest endpoints,
// log groups, health and sonde's own metrics, behind token authentication
// when sonde listens beyond loopback. Handlers return errors; apierr turns
// them into status codes.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
)

// Options are what the API serves.
type Options struct {
	Store    store.Store
	Pipeline *pipeline.Pipeline
	Metrics  *selfmon.Metrics
	Logger   *slog.Logger
	// Tokens maps secrets to tokens; empty means no authentication (sonde
	// then listens on loopback only).
	Tokens map[string]config.Token
	// Ready reports whether sonde accepts writes (store open, not stopping).
	Ready func(context.Context) error
	// Query runs Logs Insights queries.
	Query *query.Engine
}

// Server is the API's handler.
type Server struct {
	opts Options
	mux  *http.ServeMux
	log  *slog.Logger
}

// New builds the API. Extra endpoints are added with Handle.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.Handle("GET /metrics", config.ScopeRead, promhttp.HandlerFor(opts.Metrics.Registry, promhttp.HandlerOpts{}))
	s.Handle("GET /api/v1/groups", config.ScopeRead, http.HandlerFunc(s.listGroups))
	s.Handle("GET /api/v1/groups/{name}/retention", config.ScopeRead, http.HandlerFunc(s.getRetention))
	s.Handle("PUT /api/v1/groups/{name}/retention", config.ScopeAdmin, http.HandlerFunc(s.putRetention))
	if opts.Query != nil {
		s.Handle("POST /api/v1/logs/query", config.ScopeRead, http.HandlerFunc(s.handleQuery))
	}
	// Go's profiler, for diagnosing sonde itself (admin only).
	s.Handle("GET /debug/pprof/", config.ScopeAdmin, http.HandlerFunc(pprof.Index))
	s.Handle("GET /debug/pprof/profile", config.ScopeAdmin, http.HandlerFunc(pprof.Profile))
	s.Handle("GET /debug/pprof/trace", config.ScopeAdmin, http.HandlerFunc(pprof.Trace))
	return s
}

// Handle mounts h at pattern, requiring scope when tokens are configured.
func (s *Server) Handle(pattern, scope string, h http.Handler) {
	s.mux.Handle(pattern, s.auth(scope, h))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// auth checks the bearer token and its scope. Tokens are compared in
// constant time and never logged.
func (s *Server) auth(scope string, h http.Handler) http.Handler {
	if len(s.opts.Tokens) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := s.token(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sonde"`)
			apierr.Write(w, s.log, apierr.Unauthorized("missing or unknown token"))
			return
		}
		for _, sc := range tok.Scopes {
			if sc == scope || sc == config.ScopeAdmin {
				h.ServeHTTP(w, r)
				return
			}
		}
		apierr.Write(w, s.log, apierr.Forbidden("token %q lacks the %s scope", tok.Name, scope))
	})
}

// Authenticate wraps a handler served on another port (OTLP/HTTP) with the
// same token check.
func (s *Server) Authenticate(scope string, h http.Handler) http.Handler { return s.auth(scope, h) }

func (s *Server) token(r *http.Request) (config.Token, bool) {
	secret := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if b, ok := strings.CutPrefix(h, "Bearer "); ok {
			secret = strings.TrimSpace(b)
		}
	}
	if secret == "" {
		secret = r.Header.Get("X-Sonde-Token")
	}
	if secret == "" {
		return config.Token{}, false
	}
	for k, t := range s.opts.Tokens {
		if subtle.ConstantTimeCompare([]byte(k), []byte(secret)) == 1 {
			return t, true
		}
	}
	return config.Token{}, false
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Ready(ctx); err != nil {
		apierr.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	groups, err := s.opts.Store.Groups(r.Context())
	if err != nil {
		apierr.Write(w, s.log, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"groups": groups})
}

func (s *Server) getRetention(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	groups, err := s.opts.Store.Groups(r.Context())
	if err != nil {
		apierr.Write(w, s.log, err)
		return
	}
	for _, g := range groups {
		if g.Name == name {
			apierr.WriteJSON(w, http.StatusOK, map[string]any{"group": name, "retentionDays": g.RetentionDays})
			return
		}
	}
	apierr.Write(w, s.log, apierr.NotFound("log group %q does not exist", name))
}

func (s *Server) putRetention(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Days *int `json:"retentionDays"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		apierr.Write(w, s.log, apierr.BadRequest("decode body: %v", err))
		return
	}
	if body.Days == nil || *body.Days < 1 || *body.Days > 36500 {
		apierr.Write(w, s.log, apierr.BadRequest(`body must be {"retentionDays": N} with N from 1 to 36500`))
		return
	}
	name := r.PathValue("name")
	if err := s.opts.Store.SetRetention(r.Context(), name, *body.Days); err != nil {
		apierr.Write(w, s.log, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"group": name, "retentionDays": *body.Days})
}
