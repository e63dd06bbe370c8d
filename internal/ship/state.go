package ship

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// stateVersion is the format of the state file.
const stateVersion = 1

// Retired files are remembered this long, and at most this many.
const (
	retiredTTL = 7 * 24 * time.Hour
	maxRetired = 1000
)

// fileID identifies a file on its file system.
type fileID struct {
	Dev uint64
	Ino uint64
}

// span is a byte range [Start, End).
type span struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// fileEntry is what the state file remembers of one file generation.
type fileEntry struct {
	// Path is where the file was found; Stream is its log stream.
	Path   string `json:"path"`
	Stream string `json:"stream"`
	Dev    uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	// Generation is random, made when the file (or its content, after a
	// truncation) was first seen; batch keys derive from it.
	Generation string `json:"generation"`
	// Offset is where the next line starts: every byte before it was
	// confirmed by the server.
	Offset int64 `json:"offset"`
	// Fingerprint is the SHA-256 (hex) of the file's first FingerprintLen
	// bytes. A file on the same inode whose first bytes differ is another
	// file (the inode was reused) or was rewritten.
	FingerprintLen int    `json:"fingerprint_len"`
	Fingerprint    string `json:"fingerprint"`
	// Pending is the range being sent when the state was written. A new
	// run sends exactly this range again, with the same key, so that a
	// batch the server stored but could not acknowledge is not stored
	// twice.
	Pending *span `json:"pending,omitempty"`
	// RetiredMs is when a retired file was left (Unix ms).
	RetiredMs int64 `json:"retired_ms,omitempty"`
}

func (e *fileEntry) id() fileID { return fileID{Dev: e.Dev, Ino: e.Inode} }

// stateFile is the JSON document of the state file.
type stateFile struct {
	Version  int      `json:"version"`
	Server   string   `json:"server"`
	Group    string   `json:"group"`
	Stream   string   `json:"stream,omitempty"`
	Patterns []string `json:"patterns"`
	// Files are the files being read, by path.
	Files []fileEntry `json:"files"`
	// Retired are files that were read to the end after they were renamed
	// away from their path. A path matching the patterns that turns out to
	// hold one of them (app.log.1 for "app.log*") continues from its
	// offset instead of sending it again.
	Retired []fileEntry `json:"retired"`
}

// state is the shipper's memory: the state file, and which tracker reads
// which file. It is safe for concurrent use.
type state struct {
	mu      sync.Mutex
	path    string
	lock    *os.File
	doc     stateFile
	files   map[string]fileEntry // by path
	retired []fileEntry
	claims  map[fileID]string // file → path of the tracker reading it
}

// stateName names the state file of a configuration: one per server,
// group, stream and set of patterns, so that shippers with different
// configurations keep separate offsets.
func stateName(o *Options, patterns []string) string {
	h := sha256.New()
	for _, s := range append([]string{o.Server, o.Group, o.Stream}, patterns...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "ship-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// openState locks and loads the state file of a configuration, creating
// the directory if needed.
func openState(o *Options, patterns []string) (*state, error) {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	name := stateName(o, patterns)
	lock, err := lockFile(filepath.Join(o.StateDir, name+".lock"))
	if err != nil {
		return nil, err
	}
	s := &state{
		path:   filepath.Join(o.StateDir, name+".json"),
		lock:   lock,
		files:  map[string]fileEntry{},
		claims: map[fileID]string{},
		doc:    stateFile{Version: stateVersion, Server: o.Server, Group: o.Group, Stream: o.Stream, Patterns: patterns},
	}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		lock.Close()
		return nil, fmt.Errorf("read state: %w", err)
	}
	var doc stateFile
	if err := json.Unmarshal(data, &doc); err != nil {
		lock.Close()
		return nil, fmt.Errorf("state file %s is damaged (%v): move it away to ship every file again from the start", s.path, err)
	}
	if doc.Version != stateVersion {
		lock.Close()
		return nil, fmt.Errorf("state file %s has version %d, this sonde reads version %d", s.path, doc.Version, stateVersion)
	}
	for _, e := range doc.Files {
		s.files[e.Path] = e
	}
	s.retired = doc.Retired
	return s, nil
}

// close releases the lock.
func (s *state) close() error { return s.lock.Close() }

// saved returns the remembered files being read, by path.
func (s *state) saved() []fileEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]fileEntry, 0, len(s.files))
	for _, e := range s.files {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// claim reserves file id for the tracker of path. It fails when another
// tracker reads it; the caller waits until it is released.
func (s *state) claim(id fileID, path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.claims[id]; ok && p != path {
		return false
	}
	s.claims[id] = path
	return true
}

// claimedBy returns the path of the tracker that reads id, if any.
func (s *state) claimedBy(id fileID) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.claims[id]
	return p, ok
}

// release gives up the claim of path on id.
func (s *state) release(id fileID, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claims[id] == path {
		delete(s.claims, id)
	}
}

// takeRetired removes and returns the retired entry of id, if any.
func (s *state) takeRetired(id fileID) (fileEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.retired {
		if e.id() == id {
			s.retired = slices.Delete(s.retired, i, i+1)
			return e, true
		}
	}
	return fileEntry{}, false
}

// put records the file a path's tracker reads and writes the state file.
func (s *state) put(e fileEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[e.Path] = e
	return s.writeLocked()
}

// retire records that the tracker of path read e to its end and left it,
// and writes the state file. next, when not nil, is the file the tracker
// reads now.
func (s *state) retire(path string, e fileEntry, next *fileEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claims[e.id()] == path {
		delete(s.claims, e.id())
	}
	e.Pending = nil
	e.RetiredMs = time.Now().UnixMilli()
	s.retired = append(s.retired, e)
	delete(s.files, path)
	if next != nil {
		s.files[path] = *next
	}
	return s.writeLocked()
}

// forget drops the entry of path (its file is gone, or replaced) and
// writes the state file.
func (s *state) forget(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[path]; !ok {
		return nil
	}
	delete(s.files, path)
	return s.writeLocked()
}

// writeLocked writes the state file atomically and durably: to a
// temporary file that is synced, then renamed over the old one, then the
// directory is synced so that the rename survives a crash.
func (s *state) writeLocked() error {
	cutoff := time.Now().Add(-retiredTTL).UnixMilli()
	s.retired = slices.DeleteFunc(s.retired, func(e fileEntry) bool { return e.RetiredMs < cutoff })
	if n := len(s.retired) - maxRetired; n > 0 {
		s.retired = s.retired[n:]
	}
	s.doc.Files = s.doc.Files[:0]
	for _, e := range s.files {
		s.doc.Files = append(s.doc.Files, e)
	}
	sort.Slice(s.doc.Files, func(i, j int) bool { return s.doc.Files[i].Path < s.doc.Files[j].Path })
	s.doc.Retired = s.retired
	data, err := json.MarshalIndent(&s.doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fingerprint returns the hex SHA-256 of b.
func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
