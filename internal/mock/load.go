package mock

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// loadedMapping is a stub read from a file, with the __files directory its
// bodyFileName refers to.
type loadedMapping struct {
	mapping  StubMapping
	file     string
	filesDir string
}

// loadSources reads stub mappings from files and directories, in WireMock's
// layouts:
//
//   - a JSON file with one mapping or {"mappings": [...]};
//   - a root directory holding mappings/ and __files/;
//   - a mappings directory; its bodies are in ../__files when it is named
//     "mappings", else in its own __files/.
//
// Directories are read recursively in lexical order, so the order of ties
// does not depend on the file system.
func loadSources(paths []string) ([]loadedMapping, error) {
	var out []loadedMapping
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("load stubs: %w", err)
		}
		if !info.IsDir() {
			ms, err := loadFile(p, filesDirFor(filepath.Dir(p)))
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		dir, filesDir := p, filesDirFor(p)
		if sub := filepath.Join(p, "mappings"); isDir(sub) {
			dir, filesDir = sub, filepath.Join(p, "__files")
		}
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "__files" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.EqualFold(filepath.Ext(path), ".json") {
				return nil
			}
			ms, err := loadFile(path, filesDir)
			out = append(out, ms...)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("load stubs from %s: %w", p, err)
		}
	}
	return out, nil
}

func loadFile(path, filesDir string) ([]loadedMapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load stubs: %w", err)
	}
	ms, err := ParseMappings(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]loadedMapping, len(ms))
	for i, m := range ms {
		out[i] = loadedMapping{mapping: m, file: path, filesDir: filesDir}
	}
	return out, nil
}

// filesDirFor returns the __files directory that belongs to a directory of
// mappings.
func filesDirFor(dir string) string {
	if filepath.Base(filepath.Clean(dir)) == "mappings" {
		return filepath.Join(filepath.Dir(filepath.Clean(dir)), "__files")
	}
	return filepath.Join(dir, "__files")
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}
