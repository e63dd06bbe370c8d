package mock

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is ready to use.
type Options struct {
	// Logger receives warnings about stubs and, with LogRequests, one line
	// per request. Nil discards them.
	Logger *slog.Logger
	// LogRequests logs every stubbed request at Info level.
	LogRequests bool
	// JournalSize is how many requests the journal keeps (0 means
	// DefaultJournalSize); a negative value disables the journal, as
	// WireMock's --no-request-journal does.
	JournalSize int
	// JournalBodyBytes bounds the request bodies the journal keeps (0 means
	// DefaultJournalBodyBytes); the oldest requests go first.
	JournalBodyBytes int
	// Seed seeds the random delays and random fault data, so that tests
	// can repeat a run. Zero picks a random seed.
	Seed uint64
	// FilesDir is the __files directory for the bodyFileName of stubs added
	// through AddStub or the admin API. When empty, the __files directory
	// of the first loaded source is used.
	FilesDir string
}

// Settings are WireMock's global settings (/__admin/settings): a delay added
// to every stub that does not set its own.
type Settings struct {
	FixedDelay        *int               `json:"fixedDelay,omitempty"`
	DelayDistribution *DelayDistribution `json:"delayDistribution,omitempty"`
}

// Server is a WireMock-compatible stub server. It is an http.Handler; all
// methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	// mu serializes changes to the stubs; readers use the snapshot.
	mu      sync.Mutex
	seq     uint64
	stubs   atomic.Pointer[[]*stub] // sorted in match order
	sources []string                // loaded files and directories, for ResetMappings
	// filesDir is where bodyFileName of API-added stubs is read from.
	filesDir string

	journal   *journal
	settings  atomic.Pointer[Settings]
	scenarios scenarios

	rngMu sync.Mutex
	rng   *rand.Rand

	admin   http.Handler
	started time.Time
}

// stub is a stub mapping ready for matching.
type stub struct {
	mapping  StubMapping // as the admin API returns it
	priority int
	seq      uint64 // insertion order; a later stub wins a priority tie
	req      *requestMatcher
	resp     *compiledResponse
	filesDir string
}

// New returns a Server with no stubs.
func New(opts Options) *Server {
	if opts.JournalSize == 0 {
		opts.JournalSize = DefaultJournalSize
	}
	if opts.JournalBodyBytes <= 0 {
		opts.JournalBodyBytes = DefaultJournalBodyBytes
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		journal:  newJournal(opts.JournalSize, opts.JournalBodyBytes),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		filesDir: opts.FilesDir,
		started:  time.Now(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.stubs.Store(&[]*stub{})
	s.settings.Store(&Settings{})
	s.scenarios.states = map[string]string{}
	s.admin = s.adminHandler()
	return s
}

// compile checks m and prepares it for matching. It assigns an id if m has
// none.
func (s *Server) compile(m StubMapping, filesDir string) (*stub, error) {
	ignored := m.ignored
	m, err := m.clone()
	if err != nil {
		return nil, err
	}
	label := "stub"
	if m.Name != "" || m.ID != "" || m.UUID != "" {
		label += " " + m.label()
	}
	if m.ID == "" {
		m.ID = m.UUID
	}
	if m.ID == "" {
		m.ID = newID()
	}
	m.UUID = m.ID
	if m.Response.Status == 0 {
		m.Response.Status = http.StatusOK
	}
	st := &stub{mapping: m, priority: DefaultPriority, filesDir: filesDir}
	if m.Priority != nil {
		st.priority = *m.Priority
	}
	if st.req, err = compileRequestPattern(m.Request); err != nil {
		return nil, fmt.Errorf("%s: request: %w", label, err)
	}
	if st.resp, err = compileResponse(m.Response, filesDir, m.ID, m.Name); err != nil {
		return nil, fmt.Errorf("%s: response: %w", label, err)
	}
	if st.resp.bodyErr != nil {
		s.log.Warn("Stub body file cannot be read; the stub will answer 500", "stub", m.label(), "err", st.resp.bodyErr)
	}
	if len(ignored) > 0 {
		s.log.Warn("Stub uses a WireMock feature sonde does not implement; it is ignored",
			"stub", m.label(), "fields", ignored)
	}
	if len(m.Response.Transformers) > 0 {
		s.log.Warn("Response templating is not supported; the body is sent as written",
			"stub", m.label(), "transformers", m.Response.Transformers)
	}
	return st, nil
}

// label names a stub in messages.
func (m StubMapping) label() string {
	if m.Name != "" {
		return fmt.Sprintf("%q (%s)", m.Name, m.ID)
	}
	if m.ID != "" {
		return m.ID
	}
	return m.UUID
}

// update applies fn to a copy of the stub list and publishes the result in
// match order. fn runs with s.mu held.
func (s *Server) update(fn func(list []*stub) ([]*stub, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	list, err := fn(slices.Clone(*s.stubs.Load()))
	if err != nil {
		return err
	}
	slices.SortFunc(list, func(a, b *stub) int {
		if c := cmp.Compare(a.priority, b.priority); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	})
	s.stubs.Store(&list)
	return nil
}

// add puts stubs into list, in order, replacing any with the same id.
func (s *Server) add(list []*stub, stubs ...*stub) []*stub {
	for _, st := range stubs {
		list = slices.DeleteFunc(list, func(o *stub) bool { return o.mapping.ID == st.mapping.ID })
		s.seq++
		st.seq = s.seq
		list = append(list, st)
	}
	return list
}

// AddStub adds a stub and returns it as stored, with its id. A stub with the
// id of an existing one replaces it.
func (s *Server) AddStub(m StubMapping) (StubMapping, error) {
	s.mu.Lock()
	dir := s.filesDir
	s.mu.Unlock()
	st, err := s.compile(m, dir)
	if err != nil {
		return StubMapping{}, err
	}
	err = s.update(func(list []*stub) ([]*stub, error) { return s.add(list, st), nil })
	return st.mapping, err
}

// AddMappingsJSON adds the stubs in WireMock mapping JSON (one mapping or
// {"mappings": [...]}). It adds all of them or none.
func (s *Server) AddMappingsJSON(data []byte) ([]StubMapping, error) {
	ms, err := ParseMappings(data)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	dir := s.filesDir
	s.mu.Unlock()
	stubs := make([]*stub, len(ms))
	out := make([]StubMapping, len(ms))
	for i, m := range ms {
		if stubs[i], err = s.compile(m, dir); err != nil {
			return nil, err
		}
		out[i] = stubs[i].mapping
	}
	err = s.update(func(list []*stub) ([]*stub, error) { return s.add(list, stubs...), nil })
	return out, err
}

// ErrStubNotFound is returned for an id that names no stub.
var ErrStubNotFound = errors.New("stub mapping not found")

// UpdateStub replaces the stub with the given id, keeping its place in the
// order of equal priorities, as WireMock's PUT /__admin/mappings/{id} does.
func (s *Server) UpdateStub(id string, m StubMapping) (StubMapping, error) {
	m.ID, m.UUID = id, id
	var out StubMapping
	err := s.update(func(list []*stub) ([]*stub, error) {
		i := slices.IndexFunc(list, func(o *stub) bool { return o.mapping.ID == id })
		if i < 0 {
			return nil, ErrStubNotFound
		}
		st, err := s.compile(m, list[i].filesDir)
		if err != nil {
			return nil, err
		}
		st.seq = list[i].seq
		list[i] = st
		out = st.mapping
		return list, nil
	})
	return out, err
}

// RemoveStub removes the stub with the given id and reports whether there
// was one.
func (s *Server) RemoveStub(id string) bool {
	found := false
	_ = s.update(func(list []*stub) ([]*stub, error) {
		n := len(list)
		list = slices.DeleteFunc(list, func(o *stub) bool { return o.mapping.ID == id })
		found = len(list) < n
		return list, nil
	})
	return found
}

// Stub returns the stub with the given id.
func (s *Server) Stub(id string) (StubMapping, bool) {
	for _, st := range *s.stubs.Load() {
		if st.mapping.ID == id {
			return st.mapping, true
		}
	}
	return StubMapping{}, false
}

// Stubs returns all stubs in match order: by priority, then newest first.
func (s *Server) Stubs() []StubMapping {
	list := *s.stubs.Load()
	out := make([]StubMapping, len(list))
	for i, st := range list {
		out[i] = st.mapping
	}
	return out
}

// ResetStubs removes every stub (DELETE /__admin/mappings).
func (s *Server) ResetStubs() {
	_ = s.update(func([]*stub) ([]*stub, error) { return nil, nil })
}

// Load adds the stubs in the given mapping files and directories and
// remembers them as the defaults that ResetMappings goes back to. Either all
// of them are added or, on error, none.
func (s *Server) Load(paths ...string) (int, error) {
	loaded, err := loadSources(paths)
	if err != nil {
		return 0, err
	}
	stubs, err := s.compileLoaded(loaded)
	if err != nil {
		return 0, err
	}
	err = s.update(func(list []*stub) ([]*stub, error) {
		s.sources = append(s.sources, paths...)
		if s.filesDir == "" && len(loaded) > 0 {
			s.filesDir = loaded[0].filesDir
		}
		return s.add(list, stubs...), nil
	})
	return len(stubs), err
}

func (s *Server) compileLoaded(loaded []loadedMapping) ([]*stub, error) {
	stubs := make([]*stub, 0, len(loaded))
	for _, lm := range loaded {
		st, err := s.compile(lm.mapping, lm.filesDir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lm.file, err)
		}
		stubs = append(stubs, st)
	}
	return stubs, nil
}

// ResetMappings replaces all stubs with the ones in the loaded files, read
// again from disk (POST /__admin/mappings/reset). If a file no longer
// loads, the stubs are left as they were.
func (s *Server) ResetMappings() error {
	s.mu.Lock()
	sources := slices.Clone(s.sources)
	s.mu.Unlock()
	loaded, err := loadSources(sources)
	if err != nil {
		return err
	}
	stubs, err := s.compileLoaded(loaded)
	if err != nil {
		return err
	}
	return s.update(func([]*stub) ([]*stub, error) { return s.add(nil, stubs...), nil })
}

// Reset restores the loaded stubs and clears the journal and the scenario
// states (POST /__admin/reset).
func (s *Server) Reset() error {
	s.journal.reset()
	s.scenarios.reset()
	return s.ResetMappings()
}

// SetSettings replaces the global settings.
func (s *Server) SetSettings(st Settings) error {
	if st.FixedDelay != nil && *st.FixedDelay < 0 {
		return errors.New("fixedDelay must not be negative")
	}
	if st.DelayDistribution != nil {
		if err := checkDistribution(st.DelayDistribution); err != nil {
			return err
		}
	}
	s.settings.Store(&st)
	return nil
}

// match returns the first stub in match order that matches r, and moves its
// scenario on.
func (s *Server) match(r *loggedRequest, c *bodyCache) *stub {
	for _, st := range *s.stubs.Load() {
		m := &st.mapping
		if m.ScenarioName != "" && m.RequiredScenarioState != "" &&
			s.scenarios.state(m.ScenarioName) != m.RequiredScenarioState {
			continue
		}
		if st.req.match(r, c) {
			if m.ScenarioName != "" && m.NewScenarioState != "" {
				s.scenarios.set(m.ScenarioName, m.NewScenarioState)
			}
			return st
		}
	}
	return nil
}

// ServeHTTP answers a request from the stubs, or from the admin API for
// paths under /__admin/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/__admin" || strings.HasPrefix(r.URL.Path, "/__admin/") {
		s.admin.ServeHTTP(w, r)
		return
	}
	body, err := readBody(r)
	if err != nil {
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	// One allocation holds the journal entry, the request and the body
	// cache that matchers share.
	ev := &incoming{}
	ev.req = newLoggedRequest(r, body, time.Now())
	ev.serveEvent.req = &ev.req
	lr := &ev.req
	ev.cache.raw = body
	st := s.match(lr, &ev.cache)
	ev.stub = st
	if !s.journal.disabled() {
		ev.id = newID()
		s.journal.add(&ev.serveEvent)
	}
	if st == nil {
		if s.opts.LogRequests {
			s.log.Info("Request was not matched", "method", lr.method, "url", lr.uri)
		}
		s.writeNotMatched(w, lr, &ev.cache)
		ev.cache = bodyCache{} // the journal must not keep the parsed body alive
		return
	}
	ev.cache = bodyCache{}
	if s.opts.LogRequests {
		s.log.Info("Request matched", "method", lr.method, "url", lr.uri, "stub", st.mapping.label(),
			"status", st.resp.status)
	}
	if d := s.delay(st.resp); d > 0 && !sleepCtx(r.Context(), d) {
		// The client gave up or the server is shutting down: drop the
		// connection rather than send an empty 200.
		panic(http.ErrAbortHandler)
	}
	st.resp.write(w, r, body, s.randomBytes)
}

// incoming is a request being served, with its journal entry.
type incoming struct {
	serveEvent
	req   loggedRequest
	cache bodyCache
}

// readBody reads the whole request body, in one allocation when the length
// is known.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > 0 && r.ContentLength < 1<<30 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(r.Body)
}

// delay is the stub's fixed delay (or the global one) plus a sample of its
// random delay (or the global one).
func (s *Server) delay(c *compiledResponse) time.Duration {
	set := s.settings.Load()
	var d time.Duration
	switch {
	case c.fixedDelay != nil:
		d = *c.fixedDelay
	case set.FixedDelay != nil:
		d = time.Duration(*set.FixedDelay) * time.Millisecond
	}
	dist := c.dist
	if dist == nil {
		dist = set.DelayDistribution
	}
	if dist != nil {
		s.rngMu.Lock()
		ms := sampleMillis(dist, s.rng)
		s.rngMu.Unlock()
		d += time.Duration(ms) * time.Millisecond
	}
	return d
}

func (s *Server) randomBytes(n int) []byte {
	b := make([]byte, n)
	s.rngMu.Lock()
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
	s.rngMu.Unlock()
	return b
}

// Serve answers HTTP requests on ln until ctx is done, then shuts down:
// requests waiting out a delay are cancelled, the others get a few seconds
// to finish. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancel() // end delays now rather than wait for them
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// scenarios holds the state of each WireMock scenario; a scenario that has
// not moved is in "Started".
type scenarios struct {
	mu     sync.Mutex
	states map[string]string
}

// ScenarioStarted is the state every scenario begins in.
const ScenarioStarted = "Started"

func (sc *scenarios) state(name string) string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if st, ok := sc.states[name]; ok {
		return st
	}
	return ScenarioStarted
}

func (sc *scenarios) set(name, state string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.states[name] = state
}

func (sc *scenarios) reset() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	clear(sc.states)
}

// Requests returns the journal, newest first.
func (s *Server) Requests() []ServeEvent {
	evs := s.journal.all()
	out := make([]ServeEvent, len(evs))
	for i, ev := range evs {
		out[i] = ev.toJSON()
	}
	return out
}

// ErrJournalDisabled is returned by journal queries when Options disabled
// the journal.
var ErrJournalDisabled = errors.New("the request journal is disabled, so no verification or request searching operations are available")

// FindRequests returns the journaled requests that match p, oldest first as
// WireMock returns them.
func (s *Server) FindRequests(p RequestPattern) ([]LoggedRequest, error) {
	evs, err := s.findEvents(p)
	if err != nil {
		return nil, err
	}
	out := make([]LoggedRequest, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev.req.toJSON(ev.id)
	}
	return out, nil
}

// CountRequests returns how many journaled requests match p.
func (s *Server) CountRequests(p RequestPattern) (int, error) {
	evs, err := s.findEvents(p)
	return len(evs), err
}

// findEvents returns the events that match p, newest first.
func (s *Server) findEvents(p RequestPattern) ([]*serveEvent, error) {
	if s.journal.disabled() {
		return nil, ErrJournalDisabled
	}
	m, err := compileRequestPattern(p)
	if err != nil {
		return nil, err
	}
	var out []*serveEvent
	for _, ev := range s.journal.all() {
		if m.match(ev.req, &bodyCache{raw: ev.req.body}) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// ResetRequests empties the journal.
func (s *Server) ResetRequests() { s.journal.reset() }

// decodePattern decodes a request pattern for count and find requests.
func decodePattern(data []byte) (RequestPattern, error) {
	var p RequestPattern
	if len(strings.TrimSpace(string(data))) == 0 {
		return p, nil
	}
	err := json.Unmarshal(data, &p)
	return p, err
}
