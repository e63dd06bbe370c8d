package trace

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/sonde-dev/sonde/internal/trace/filter"
)

// Group is a trace group: a named filter expression. Like X-Ray's groups,
// each has its own figures and service map; unlike X-Ray's, it applies to
// traces stored before it was created too, because it is evaluated when
// asked.
type Group struct {
	Name   string `json:"name"`
	Filter string `json:"filter"`
	// Source is "config" for groups of the configuration file (read-only
	// through the API) and "api" for the others.
	Source string `json:"source"`
}

// MaxGroupName caps a group name's length, as X-Ray does.
const MaxGroupName = 32

// Errors of group changes.
var (
	// ErrGroupNotFound means no group has the name.
	ErrGroupNotFound = errors.New("trace group not found")
	// ErrGroupReadOnly means the group comes from the configuration file.
	ErrGroupReadOnly = errors.New("trace group is defined in the configuration file")
	// ErrGroupInvalid means the group's name or filter is not valid.
	ErrGroupInvalid = errors.New("invalid trace group")
)

// Groups holds the trace groups: those of the configuration file and
// those created through the API, which it keeps in a JSON file. It is safe
// for concurrent use.
type Groups struct {
	mu     sync.RWMutex
	config map[string]Group
	api    map[string]Group
	path   string
}

// NewGroups returns the groups of the configuration (already validated)
// and those stored in path ("" keeps API groups in memory only).
func NewGroups(config []Group, path string) (*Groups, error) {
	g := &Groups{config: map[string]Group{}, api: map[string]Group{}, path: path}
	for _, c := range config {
		c.Source = "config"
		g.config[c.Name] = c
	}
	if path == "" {
		return g, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read trace groups: %w", err)
	}
	var stored []Group
	if err := json.Unmarshal(data, &stored); err != nil {
		return nil, fmt.Errorf("read trace groups %s: %w", path, err)
	}
	for _, s := range stored {
		if _, ok := g.config[s.Name]; ok {
			continue // the configuration file wins
		}
		s.Source = "api"
		g.api[s.Name] = s
	}
	return g, nil
}

// ValidateGroup checks a group's name and the syntax of its filter.
func ValidateGroup(name, filterText string) error {
	if name == "" || len(name) > MaxGroupName {
		return fmt.Errorf("%w: name must have 1 to %d characters", ErrGroupInvalid, MaxGroupName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: name %q may hold only letters, digits, '-', '_' and '.'", ErrGroupInvalid, name)
		}
	}
	if _, err := filter.Parse(filterText); err != nil {
		return fmt.Errorf("%w: filter: %w", ErrGroupInvalid, err)
	}
	return nil
}

// Lookup returns a group's filter.
func (g *Groups) Lookup(name string) (string, bool) {
	gr, ok := g.Get(name)
	return gr.Filter, ok
}

// Get returns a group.
func (g *Groups) Get(name string) (Group, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if gr, ok := g.config[name]; ok {
		return gr, true
	}
	gr, ok := g.api[name]
	return gr, ok
}

// List returns every group, sorted by name.
func (g *Groups) List() []Group {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]Group, 0, len(g.config)+len(g.api))
	for _, gr := range g.config {
		out = append(out, gr)
	}
	for _, gr := range g.api {
		out = append(out, gr)
	}
	slices.SortFunc(out, func(a, b Group) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Put creates or replaces an API group. created tells which.
func (g *Groups) Put(name, filterText string) (created bool, err error) {
	if err := ValidateGroup(name, filterText); err != nil {
		return false, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.config[name]; ok {
		return false, fmt.Errorf("%w: %q", ErrGroupReadOnly, name)
	}
	old, existed := g.api[name]
	g.api[name] = Group{Name: name, Filter: filterText, Source: "api"}
	if err := g.save(); err != nil {
		if existed {
			g.api[name] = old
		} else {
			delete(g.api, name)
		}
		return false, err
	}
	return !existed, nil
}

// Delete removes an API group.
func (g *Groups) Delete(name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.config[name]; ok {
		return fmt.Errorf("%w: %q", ErrGroupReadOnly, name)
	}
	old, ok := g.api[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrGroupNotFound, name)
	}
	delete(g.api, name)
	if err := g.save(); err != nil {
		g.api[name] = old
		return err
	}
	return nil
}

// save writes the API groups durably: to a temporary file, synced, then
// renamed over the old one. g.mu must be held.
func (g *Groups) save() error {
	if g.path == "" {
		return nil
	}
	list := make([]Group, 0, len(g.api))
	for _, gr := range g.api {
		list = append(list, Group{Name: gr.Name, Filter: gr.Filter})
	}
	slices.SortFunc(list, func(a, b Group) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("encode trace groups: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(g.path), 0o755); err != nil {
		return fmt.Errorf("save trace groups: %w", err)
	}
	tmp := g.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("save trace groups: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save trace groups: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save trace groups: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save trace groups: %w", err)
	}
	if err := os.Rename(tmp, g.path); err != nil {
		return fmt.Errorf("save trace groups: %w", err)
	}
	return nil
}
