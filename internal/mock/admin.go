package mock

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"
)

// adminHandler serves WireMock's admin API under /__admin/, so that scripts
// that drive WireMock with curl drive sonde unchanged.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /__admin/mappings", s.listMappings)
	mux.HandleFunc("POST /__admin/mappings", s.createMapping)
	mux.HandleFunc("DELETE /__admin/mappings", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStubs()
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /__admin/mappings/reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ResetMappings(); err != nil {
			writeError(w, http.StatusInternalServerError, "Reset failed", err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /__admin/mappings/import", s.importMappings)
	mux.HandleFunc("GET /__admin/mappings/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := s.Stub(r.PathValue("id"))
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, m)
	})
	mux.HandleFunc("PUT /__admin/mappings/{id}", s.editMapping)
	mux.HandleFunc("DELETE /__admin/mappings/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.RemoveStub(r.PathValue("id")) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /__admin/reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Reset(); err != nil {
			writeError(w, http.StatusInternalServerError, "Reset failed", err)
			return
		}
		w.WriteHeader(http.StatusOK)
	})

	mux.HandleFunc("GET /__admin/requests", s.listRequests)
	resetRequests := func(w http.ResponseWriter, _ *http.Request) {
		s.ResetRequests()
		w.WriteHeader(http.StatusOK)
	}
	mux.HandleFunc("DELETE /__admin/requests", resetRequests)
	mux.HandleFunc("POST /__admin/requests/reset", resetRequests)
	mux.HandleFunc("POST /__admin/requests/count", s.countRequests)
	mux.HandleFunc("POST /__admin/requests/find", s.findRequests)
	mux.HandleFunc("GET /__admin/requests/unmatched", s.unmatchedRequests)
	mux.HandleFunc("GET /__admin/requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		for _, ev := range s.journal.all() {
			if ev.id == id {
				writeJSON(w, http.StatusOK, ev.toJSON())
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
	})
	mux.HandleFunc("DELETE /__admin/requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.journal.remove(func(ev *serveEvent) bool { return ev.id == id })
		w.WriteHeader(http.StatusOK)
	})

	mux.HandleFunc("GET /__admin/settings", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"settings": s.settings.Load()})
	})
	mux.HandleFunc("POST /__admin/settings", s.updateSettings)
	mux.HandleFunc("PUT /__admin/settings", s.updateSettings)

	mux.HandleFunc("GET /__admin/scenarios", s.listScenarios)
	mux.HandleFunc("POST /__admin/scenarios/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.scenarios.reset()
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("PUT /__admin/scenarios/{name}/state", s.setScenarioState)

	mux.HandleFunc("GET /__admin/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"status":          "healthy",
			"message":         "Wiremock is ok",
			"version":         "sonde",
			"uptimeInSeconds": int64(time.Since(s.started).Seconds()),
			"timestamp":       time.Now().UTC().Format(time.RFC3339Nano),
		})
	})
	mux.HandleFunc("/__admin/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found",
			errors.New("sonde mock does not implement "+r.Method+" "+r.URL.Path))
	})
	return mux
}

func (s *Server) listMappings(w http.ResponseWriter, r *http.Request) {
	all := s.Stubs()
	page, err := paginate(r, len(all))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Bad pagination", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"mappings": all[page[0]:page[1]],
		"meta":     map[string]int{"total": len(all)},
	})
}

// paginate returns the [from, to) range that the limit and offset query
// parameters select from n items.
func paginate(r *http.Request, n int) ([2]int, error) {
	from, to := 0, n
	if v := r.URL.Query().Get("offset"); v != "" {
		o, err := strconv.Atoi(v)
		if err != nil || o < 0 {
			return [2]int{}, errors.New("offset must be a non-negative integer")
		}
		from = min(o, n)
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 0 {
			return [2]int{}, errors.New("limit must be a non-negative integer")
		}
		to = min(from+l, n)
	}
	return [2]int{from, to}, nil
}

func (s *Server) createMapping(w http.ResponseWriter, r *http.Request) {
	var m StubMapping
	if !decodeBody(w, r, &m) {
		return
	}
	out, err := s.AddStub(m)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid stub mapping", err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) editMapping(w http.ResponseWriter, r *http.Request) {
	var m StubMapping
	if !decodeBody(w, r, &m) {
		return
	}
	out, err := s.UpdateStub(r.PathValue("id"), m)
	switch {
	case errors.Is(err, ErrStubNotFound):
		w.WriteHeader(http.StatusNotFound)
	case err != nil:
		writeError(w, http.StatusUnprocessableEntity, "Invalid stub mapping", err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// importMappings is POST /__admin/mappings/import: several stubs at once,
// with WireMock's importOptions.
func (s *Server) importMappings(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Mappings      []StubMapping `json:"mappings"`
		ImportOptions struct {
			DuplicatePolicy      string `json:"duplicatePolicy"`
			DeleteAllNotInImport bool   `json:"deleteAllNotInImport"`
		} `json:"importOptions"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	dir := s.filesDir
	s.mu.Unlock()
	stubs := make([]*stub, 0, len(body.Mappings))
	for _, m := range body.Mappings {
		st, err := s.compile(m, dir)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "Invalid stub mapping", err)
			return
		}
		stubs = append(stubs, st)
	}
	opts := body.ImportOptions
	_ = s.update(func(list []*stub) ([]*stub, error) {
		if opts.DeleteAllNotInImport {
			list = nil
		}
		for _, st := range stubs {
			exists := slices.ContainsFunc(list, func(o *stub) bool { return o.mapping.ID == st.mapping.ID })
			if exists && opts.DuplicatePolicy == "IGNORE" {
				continue
			}
			list = s.add(list, st)
		}
		return list, nil
	})
	w.WriteHeader(http.StatusOK)
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) {
	evs := s.journal.all()
	q := r.URL.Query()
	if v := q.Get("since"); v != "" {
		since, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Bad since", err)
			return
		}
		evs = slices.DeleteFunc(evs, func(ev *serveEvent) bool { return !ev.req.loggedAt.After(since) })
	}
	if q.Get("unmatched") == "true" {
		evs = slices.DeleteFunc(evs, func(ev *serveEvent) bool { return ev.stub != nil })
	}
	total := len(evs)
	if v := q.Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 0 {
			writeError(w, http.StatusBadRequest, "Bad limit", errors.New("limit must be a non-negative integer"))
			return
		}
		evs = evs[:min(l, len(evs))]
	}
	out := make([]ServeEvent, len(evs))
	for i, ev := range evs {
		out[i] = ev.toJSON()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"requests":               out,
		"meta":                   map[string]int{"total": total},
		"requestJournalDisabled": s.journal.disabled(),
	})
}

func (s *Server) countRequests(w http.ResponseWriter, r *http.Request) {
	p, ok := readPattern(w, r)
	if !ok {
		return
	}
	n, err := s.CountRequests(p)
	if err != nil {
		writeJournalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
}

func (s *Server) findRequests(w http.ResponseWriter, r *http.Request) {
	p, ok := readPattern(w, r)
	if !ok {
		return
	}
	found, err := s.FindRequests(p)
	if err != nil {
		writeJournalError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": found, "requestJournalDisabled": false})
}

func (s *Server) unmatchedRequests(w http.ResponseWriter, _ *http.Request) {
	if s.journal.disabled() {
		writeJournalError(w, ErrJournalDisabled)
		return
	}
	var out []LoggedRequest
	evs := s.journal.all()
	for i := len(evs) - 1; i >= 0; i-- { // oldest first, as WireMock lists them
		if evs[i].stub == nil {
			out = append(out, evs[i].req.toJSON(evs[i].id))
		}
	}
	if out == nil {
		out = []LoggedRequest{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": out, "requestJournalDisabled": false})
}

func readPattern(w http.ResponseWriter, r *http.Request) (RequestPattern, bool) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Cannot read body", err)
		return RequestPattern{}, false
	}
	p, err := decodePattern(data)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Error parsing JSON", err)
		return RequestPattern{}, false
	}
	return p, true
}

func writeJournalError(w http.ResponseWriter, err error) {
	status := http.StatusUnprocessableEntity
	if errors.Is(err, ErrJournalDisabled) {
		status = http.StatusInternalServerError
	}
	writeError(w, status, "Request journal query failed", err)
}

func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Settings
		Wrapped *Settings `json:"settings"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	st := body.Settings
	if body.Wrapped != nil {
		st = *body.Wrapped
	}
	if err := s.SetSettings(st); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid settings", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// scenarioJSON is one entry of GET /__admin/scenarios.
type scenarioJSON struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	State          string   `json:"state"`
	PossibleStates []string `json:"possibleStates"`
}

func (s *Server) scenarioList() []scenarioJSON {
	states := map[string]map[string]bool{}
	for _, st := range *s.stubs.Load() {
		m := st.mapping
		if m.ScenarioName == "" {
			continue
		}
		if states[m.ScenarioName] == nil {
			states[m.ScenarioName] = map[string]bool{ScenarioStarted: true}
		}
		for _, state := range []string{m.RequiredScenarioState, m.NewScenarioState} {
			if state != "" {
				states[m.ScenarioName][state] = true
			}
		}
	}
	out := make([]scenarioJSON, 0, len(states))
	for name, set := range states {
		sc := scenarioJSON{ID: name, Name: name, State: s.scenarios.state(name)}
		for state := range set {
			sc.PossibleStates = append(sc.PossibleStates, state)
		}
		sort.Strings(sc.PossibleStates)
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Server) listScenarios(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"scenarios": s.scenarioList()})
}

func (s *Server) setScenarioState(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var body struct {
		State string `json:"state"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &body) {
		return
	}
	for _, sc := range s.scenarioList() {
		if sc.Name != name {
			continue
		}
		state := body.State
		if state == "" {
			state = ScenarioStarted
		}
		if !slices.Contains(sc.PossibleStates, state) {
			writeError(w, http.StatusBadRequest, "Invalid state",
				errors.New("state "+strconv.Quote(state)+" is not a possible state of scenario "+strconv.Quote(name)))
			return
		}
		s.scenarios.set(name, state)
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

// decodeBody decodes a JSON request body into v, or answers 422 as WireMock
// does for a body it cannot parse.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Cannot read body", err)
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Error parsing JSON", err)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// writeError answers in WireMock's error format.
func writeError(w http.ResponseWriter, status int, title string, err error) {
	writeJSON(w, status, map[string]any{
		"errors": []map[string]any{{"code": 10, "title": title, "detail": err.Error()}},
	})
}
