package mock

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadRootDirectory(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "mappings/users.json", `{"mappings": [
		{"request": {"urlPath": "/users"}, "response": {"bodyFileName": "users.json",
			"headers": {"Content-Type": "application/json"}}},
		{"request": {"urlPath": "/tie"}, "response": {"body": "users.json"}}
	]}`)
	writeFile(t, root, "mappings/nested/zz-tie.json", `{"request": {"urlPath": "/tie"}, "response": {"body": "nested/zz-tie.json"}}`)
	writeFile(t, root, "mappings/README.md", `not a mapping`)
	writeFile(t, root, "__files/users.json", `[{"id": 1}]`)
	writeFile(t, root, "__files/sub/logo.txt", `logo`)
	writeFile(t, root, "mappings/logo.json", `{"request": {"urlPath": "/logo"}, "response": {"bodyFileName": "sub/logo.txt"}}`)
	writeFile(t, root, "mappings/escape.json", `{"request": {"urlPath": "/escape"}, "response": {"bodyFileName": "../mappings/logo.json"}}`)

	s := New(Options{})
	n, err := s.Load(root)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	_, ts := startMockWith(t, s)

	resp, body := call(t, ts, "GET", "/users", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, `[{"id": 1}]`, body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	_, body = call(t, ts, "GET", "/logo", "")
	require.Equal(t, "logo", body)
	resp, body = call(t, ts, "GET", "/escape", "")
	require.Equal(t, 500, resp.StatusCode)
	require.Contains(t, body, "outside the __files directory")
	// Files load in lexical path order; the later one wins the tie.
	_, body = call(t, ts, "GET", "/tie", "")
	require.Equal(t, "users.json", body, "users.json sorts after nested/zz-tie.json")

	// Stubs added through the admin API read bodies from the same __files.
	call(t, ts, "POST", "/__admin/mappings", `{"request": {"urlPath": "/api-file"}, "response": {"bodyFileName": "sub/logo.txt"}}`)
	_, body = call(t, ts, "GET", "/api-file", "")
	require.Equal(t, "logo", body)
}

func TestLoadMappingsDirectoryAndFiles(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "mappings/a.json", `{"request": {"urlPath": "/a"}, "response": {"bodyFileName": "a.txt"}}`)
	writeFile(t, root, "__files/a.txt", "A")
	writeFile(t, root, "other/single.json", `{"request": {"urlPath": "/single"}, "response": {"bodyFileName": "s.txt"}}`)
	writeFile(t, root, "other/__files/s.txt", "S")
	writeFile(t, root, "other/__files/not-a-mapping.json", `{"hello": "world"}`)

	s := New(Options{})
	n, err := s.Load(filepath.Join(root, "mappings"), filepath.Join(root, "other", "single.json"))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, ts := startMockWith(t, s)
	_, body := call(t, ts, "GET", "/a", "")
	require.Equal(t, "A", body, "a directory named mappings reads bodies from ../__files")
	_, body = call(t, ts, "GET", "/single", "")
	require.Equal(t, "S", body, "a file reads bodies from the __files beside it")

	// A plain directory skips its __files when looking for mappings.
	n, err = New(Options{}).Load(filepath.Join(root, "other"))
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestLoadErrors(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "mappings/good.json", `{"request": {"urlPath": "/good"}, "response": {}}`)
	writeFile(t, root, "mappings/bad.json", `{"request": {"urlPath": "/bad", "method": "GET", "urlPattern": "("}, "response": {}}`)
	s := New(Options{})
	_, err := s.Load(root)
	require.ErrorContains(t, err, "bad.json")
	require.ErrorContains(t, err, "urlPattern")
	require.Empty(t, s.Stubs(), "a failed load adds nothing")

	_, err = s.Load(filepath.Join(root, "missing.json"))
	require.ErrorContains(t, err, "missing.json")

	writeFile(t, root, "broken.json", `{"request": `)
	_, err = s.Load(filepath.Join(root, "broken.json"))
	require.ErrorContains(t, err, "broken.json")
}
