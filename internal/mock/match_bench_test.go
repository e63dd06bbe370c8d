package mock

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchServer has 100 stubs of the shape smoke tests use; the request in
// benchRequest matches only the one that is tried last.
func benchServer(b *testing.B, opts Options) *Server {
	s := New(opts)
	var sb strings.Builder
	sb.WriteString(`{"mappings": [`)
	for i := range 100 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"request": {"method": "GET", "urlPath": "/api/v1/resource/%d",
			"headers": {"Accept": {"contains": "json"}},
			"queryParameters": {"id": {"matches": "[0-9]+"}}},
			"response": {"status": 200, "jsonBody": {"id": %d}, "headers": {"Content-Type": "application/json"}}}`, i, i)
	}
	sb.WriteString(`]}`)
	_, err := s.AddMappingsJSON([]byte(sb.String()))
	require.NoError(b, err)
	return s
}

func benchRequest() *http.Request {
	// Stub 0 was added first, so it is tried last among equal priorities.
	r := httptest.NewRequest("GET", "/api/v1/resource/0?id=42", nil)
	r.Header.Set("Accept", "application/json")
	return r
}

func BenchmarkMatch(b *testing.B) {
	s := benchServer(b, Options{})
	lr := newLoggedRequest(benchRequest(), nil, time.Now())
	want := (*s.stubs.Load())[99]
	// ServeHTTP allocates the cache with the request; reuse one here.
	c := &bodyCache{}
	b.ReportAllocs()
	for b.Loop() {
		*c = bodyCache{raw: lr.body}
		if s.match(&lr, c) != want {
			b.Fatal("wrong stub")
		}
	}
}

func BenchmarkServeHTTP(b *testing.B) {
	s := benchServer(b, Options{JournalSize: 1000})
	r := benchRequest()
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		w.Body.Reset()
		s.ServeHTTP(w, r)
	}
	if w.Code != 200 || w.Body.String() != `{"id":0}` {
		b.Fatalf("got %d %q", w.Code, w.Body.String())
	}
}
