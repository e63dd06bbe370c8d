package canary

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/config"
)

// Route is one endpoint of the canary API, to mount with api.Server.Handle.
type Route struct {
	Pattern string
	// Scope is the token scope the endpoint needs.
	Scope   string
	Handler http.Handler
}

// Routes returns the canary API:
//
//	GET  /api/v1/canaries                          every canary with its last run (read)
//	GET  /api/v1/canaries/{name}/runs[?limit=N]    its kept runs, newest first (read)
//	GET  /api/v1/canaries/{name}/runs/latest/har   its last run as HAR 1.2 (read)
//	POST /api/v1/canaries/{name}/run               run it now; answers the run (admin)
func (s *Service) Routes() []Route {
	return []Route{
		{"GET /api/v1/canaries", config.ScopeRead, http.HandlerFunc(s.handleList)},
		{"GET /api/v1/canaries/{name}/runs", config.ScopeRead, http.HandlerFunc(s.handleRuns)},
		{"GET /api/v1/canaries/{name}/runs/latest/har", config.ScopeRead, http.HandlerFunc(s.handleHAR)},
		{"POST /api/v1/canaries/{name}/run", config.ScopeAdmin, http.HandlerFunc(s.handleRun)},
	}
}

func (s *Service) handleList(w http.ResponseWriter, _ *http.Request) {
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"canaries": s.List()})
}

func (s *Service) handleRuns(w http.ResponseWriter, r *http.Request) {
	runs, err := s.Runs(r.PathValue("name"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			apierr.Write(w, s.log, apierr.BadRequest("limit must be a positive number"))
			return
		}
		runs = runs[:min(n, len(runs))]
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"canary": r.PathValue("name"), "runs": runs})
}

func (s *Service) handleHAR(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	runs, err := s.Runs(name)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if len(runs) == 0 {
		apierr.Write(w, s.log, apierr.NotFound("canary %q has not run yet", name))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`-`+runs[0].ID+`.har"`)
	_ = WriteHAR(w, runs[0])
}

func (s *Service) handleRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.RunNow(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeError(w, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, run)
}

// writeError maps the service's errors to statuses.
func (s *Service) writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		err = apierr.NotFound("%v", err)
	case errors.Is(err, ErrStopped):
		err = &apierr.Error{Status: http.StatusServiceUnavailable, Msg: err.Error()}
	}
	apierr.Write(w, s.log, err)
}
