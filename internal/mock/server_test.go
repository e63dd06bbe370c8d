package mock

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestMatching(t *testing.T) {
	_, ts := startMock(t, Options{}, `{"mappings": [
		{"request": {"method": "GET", "url": "/exact?a=1"}, "response": {"body": "url"}},
		{"request": {"method": "GET", "urlPattern": "/pattern/[0-9]+\\?q=.*"}, "response": {"body": "urlPattern"}},
		{"request": {"method": "GET", "urlPath": "/path"}, "response": {"body": "urlPath"}},
		{"request": {"method": "GET", "urlPathPattern": "/users/[a-z]+"}, "response": {"body": "urlPathPattern"}},
		{"request": {"method": "GET", "urlPathTemplate": "/orders/{orderId}/items/{item}",
			"pathParameters": {"orderId": {"matches": "[0-9]+"}}}, "response": {"body": "urlPathTemplate"}},
		{"request": {"method": "ANY", "urlPath": "/method"}, "response": {"body": "any"}},
		{"request": {"method": "POST", "urlPath": "/method"}, "response": {"body": "post"}},
		{"request": {"urlPath": "/headers", "headers": {
			"accept": {"contains": "json"}, "X-Absent": {"absent": true}}}, "response": {"body": "headers"}},
		{"request": {"urlPath": "/query", "queryParameters": {
			"page": {"equalTo": "2"}, "q": {"matches": "a b"}, "debug": {"absent": true}}}, "response": {"body": "query"}},
		{"request": {"urlPath": "/multi", "queryParameters": {
			"id": {"hasExactly": [{"equalTo": "1"}, {"equalTo": "2"}]}}}, "response": {"body": "hasExactly"}},
		{"request": {"urlPath": "/cookies", "cookies": {"session": {"equalTo": "abc"}}}, "response": {"body": "cookies"}},
		{"request": {"urlPath": "/auth", "basicAuthCredentials": {"username": "u", "password": "p"}}, "response": {"body": "auth"}},
		{"request": {"method": "POST", "urlPath": "/form", "formParameters": {"name": {"equalTo": "Ann Lee"}}}, "response": {"body": "form"}},
		{"request": {"method": "POST", "urlPath": "/body", "bodyPatterns": [
			{"equalToJson": "{\"user\": \"ann\", \"roles\": [\"a\", \"b\"]}", "ignoreArrayOrder": true, "ignoreExtraElements": true},
			{"matchesJsonPath": "$.user"}]}, "response": {"body": "json body"}},
		{"request": {"method": "POST", "urlPath": "/body", "bodyPatterns": [{"contains": "hello"}]}, "response": {"body": "contains body"}},
		{"request": {"method": "POST", "urlPath": "/body", "bodyPatterns": [{"matches": "id=[0-9]+"}]}, "response": {"body": "matches body"}},
		{"request": {"urlPath": "/host", "headers": {"Host": {"matches": "127\\.0\\.0\\.1:[0-9]+"}}}, "response": {"body": "host"}}
	]}`)

	tests := []struct {
		method, path, body string
		headers            []string
		want               string // "" means no stub matches
	}{
		{"GET", "/exact?a=1", "", nil, "url"},
		{"GET", "/exact?a=2", "", nil, ""},
		{"GET", "/exact", "", nil, ""},
		{"GET", "/pattern/12?q=x", "", nil, "urlPattern"},
		{"GET", "/pattern/x?q=x", "", nil, ""},
		{"GET", "/path?anything=1", "", nil, "urlPath"},
		{"GET", "/path/more", "", nil, ""},
		{"GET", "/users/ann?x=1", "", nil, "urlPathPattern"},
		{"GET", "/users/Ann", "", nil, ""},
		{"GET", "/orders/42/items/abc", "", nil, "urlPathTemplate"},
		{"GET", "/orders/x42/items/abc", "", nil, ""},
		{"GET", "/orders/42/items", "", nil, ""},
		{"POST", "/method", "", nil, "post"},
		{"DELETE", "/method", "", nil, "any"},
		{"GET", "/headers", "", []string{"Accept: application/json"}, "headers"},
		{"GET", "/headers", "", []string{"Accept: text/html", "Accept: application/json"}, "headers"},
		{"GET", "/headers", "", []string{"Accept: application/json", "X-Absent: 1"}, ""},
		{"GET", "/headers", "", []string{"Accept: text/html"}, ""},
		{"GET", "/query?page=2&q=a+b", "", nil, "query"},
		{"GET", "/query?q=a%20b&page=2", "", nil, "query"},
		{"GET", "/query?page=2&q=a+b&debug=1", "", nil, ""},
		{"GET", "/query?page=3&q=a+b", "", nil, ""},
		{"GET", "/multi?id=2&id=1", "", nil, "hasExactly"},
		{"GET", "/multi?id=1", "", nil, ""},
		{"GET", "/cookies", "", []string{"Cookie: theme=dark; session=abc"}, "cookies"},
		{"GET", "/cookies", "", []string{"Cookie: session=abd"}, ""},
		{"GET", "/auth", "", []string{"Authorization: Basic dTpw"}, "auth"},
		{"GET", "/auth", "", []string{"Authorization: Basic dTpx"}, ""},
		{"POST", "/form", "name=Ann+Lee&x=1", []string{"Content-Type: application/x-www-form-urlencoded"}, "form"},
		{"POST", "/form", "name=Bob", nil, ""},
		{"POST", "/body", `{"roles": ["b", "a"], "user": "ann", "extra": 1}`, nil, "json body"},
		{"POST", "/body", `{"roles": ["b"], "user": "ann"}`, nil, ""},
		{"POST", "/body", `say hello`, nil, "contains body"},
		{"POST", "/body", `id=123`, nil, "matches body"},
		{"POST", "/body", `id=12a`, nil, ""},
		{"GET", "/host", "", nil, "host"},
	}
	for _, tt := range tests {
		resp, body := call(t, ts, tt.method, tt.path, tt.body, tt.headers...)
		if tt.want == "" {
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s: %s", tt.method, tt.path, body)
			require.Contains(t, body, "Request was not matched", "%s %s", tt.method, tt.path)
			continue
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", tt.method, tt.path, body)
		require.Equal(t, tt.want, body, "%s %s", tt.method, tt.path)
	}
}

func TestResponseFields(t *testing.T) {
	_, ts := startMock(t, Options{}, `{"mappings": [
		{"request": {"urlPath": "/body"}, "response": {"status": 201, "body": "<p>hi</p>",
			"headers": {"X-One": "1", "X-Many": ["a", "b"], "Cache-Control": "no-cache"}}},
		{"request": {"urlPath": "/json"}, "response": {"jsonBody": {"users": [{"id": 1}]},
			"headers": {"Content-Type": "application/json"}}},
		{"request": {"urlPath": "/base64"}, "response": {"base64Body": "AAEC/w=="}},
		{"request": {"urlPath": "/empty"}, "response": {"status": 204}},
		{"request": {"urlPath": "/message"}, "response": {"status": 418, "statusMessage": "Short and stout", "body": "tea"}},
		{"id": "8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7", "name": "named", "request": {"urlPath": "/named"}, "response": {}}
	]}`)

	resp, body := call(t, ts, "GET", "/body", "")
	require.Equal(t, 201, resp.StatusCode)
	require.Equal(t, "<p>hi</p>", body)
	require.Equal(t, "1", resp.Header.Get("X-One"))
	require.Equal(t, []string{"a", "b"}, resp.Header.Values("X-Many"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	_, sniffed := resp.Header["Content-Type"]
	require.False(t, sniffed, "net/http must not invent a Content-Type the stub did not set")
	require.Equal(t, int64(len(body)), resp.ContentLength)

	resp, body = call(t, ts, "GET", "/json", "")
	require.Equal(t, `{"users":[{"id":1}]}`, body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	_, body = call(t, ts, "GET", "/base64", "")
	require.Equal(t, "\x00\x01\x02\xff", body)

	resp, body = call(t, ts, "GET", "/empty", "")
	require.Equal(t, 204, resp.StatusCode)
	require.Empty(t, body)

	resp, body = call(t, ts, "GET", "/message", "")
	require.Equal(t, 418, resp.StatusCode)
	require.Equal(t, "418 Short and stout", resp.Status)
	require.Equal(t, "tea", body)

	resp, _ = call(t, ts, "GET", "/named", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7", resp.Header.Get("Matched-Stub-Id"))
	require.Equal(t, "named", resp.Header.Get("Matched-Stub-Name"))

	// HEAD gets the headers of the GET stub and no body.
	resp, body = call(t, ts, "HEAD", "/body", "")
	require.Equal(t, 201, resp.StatusCode)
	require.Empty(t, body)
}

func TestResponseDefinitionErrors(t *testing.T) {
	s := New(Options{})
	for _, tt := range []struct{ js, errPart string }{
		{`{"request": {"urlPathPatern": "/x"}, "response": {}}`, "unknown field"},
		{`{"request": {"url": "/a", "urlPath": "/a"}, "response": {}}`, "several URL matchers"},
		{`{"request": {"urlPattern": "(?<=a)b"}, "response": {}}`, "urlPattern"},
		{`{"request": {"headers": {"X": {"equalToXml": "<a/>"}}}, "response": {}}`, "equalToXml"},
		{`{"request": {"urlPath": "/x", "pathParameters": {"id": {"equalTo": "1"}}}, "response": {}}`, "urlPathTemplate"},
		{`{"request": {}, "response": {"fault": "SOMETHING"}}`, "unknown fault"},
		{`{"request": {}, "response": {"status": 42}}`, "not an HTTP status"},
		{`{"request": {}, "response": {"base64Body": "%%%"}}`, "base64Body"},
		{`{"request": {}, "response": {"delayDistribution": {"type": "gamma"}}}`, "unknown delayDistribution"},
		{`{"request": {}, "response": {"delayDistribution": {"type": "uniform", "lower": 5, "upper": 1}}}`, "lower <= upper"},
		{`{"request": {}, "response": {"proxyBaseUrl": "not a url"}}`, "proxyBaseUrl"},
	} {
		_, err := s.AddMappingsJSON([]byte(tt.js))
		require.Error(t, err, tt.js)
		require.Contains(t, err.Error(), tt.errPart, tt.js)
	}
	require.Empty(t, s.Stubs())
}

func TestPrioritiesAndTies(t *testing.T) {
	s, ts := startMock(t, Options{}, `{"mappings": [
		{"priority": 10, "request": {"urlPathPattern": "/p/.*"}, "response": {"body": "catch-all"}},
		{"priority": 1, "request": {"urlPath": "/p/special"}, "response": {"body": "special"}},
		{"request": {"urlPath": "/tie"}, "response": {"body": "first"}},
		{"request": {"urlPath": "/tie"}, "response": {"body": "second"}},
		{"priority": 5, "request": {"urlPath": "/default"}, "response": {"body": "explicit 5, older"}},
		{"request": {"urlPath": "/default"}, "response": {"body": "implicit 5, newer"}}
	]}`)
	_, body := call(t, ts, "GET", "/p/special", "")
	require.Equal(t, "special", body)
	_, body = call(t, ts, "GET", "/p/other", "")
	require.Equal(t, "catch-all", body)
	_, body = call(t, ts, "GET", "/tie", "")
	require.Equal(t, "second", body, "with equal priority the most recently added stub wins")
	_, body = call(t, ts, "GET", "/default", "")
	require.Equal(t, "implicit 5, newer", body)

	// A stub added later wins the tie too.
	_, err := s.AddMappingsJSON([]byte(`{"request": {"urlPath": "/tie"}, "response": {"body": "third"}}`))
	require.NoError(t, err)
	_, body = call(t, ts, "GET", "/tie", "")
	require.Equal(t, "third", body)

	// Editing a stub keeps its place among equal priorities.
	stubs := s.Stubs()
	var firstID string
	for _, m := range stubs {
		if m.Response.Body == "first" {
			firstID = m.ID
		}
	}
	_, err = s.UpdateStub(firstID, StubMapping{Request: RequestPattern{URLPath: "/tie"}, Response: ResponseDefinition{Body: "first, edited"}})
	require.NoError(t, err)
	_, body = call(t, ts, "GET", "/tie", "")
	require.Equal(t, "third", body)

	// Stubs() lists in match order.
	var order []string
	for _, m := range s.Stubs() {
		order = append(order, m.Response.Body)
	}
	require.Equal(t, []string{"special", "third", "implicit 5, newer", "explicit 5, older", "second", "first, edited", "catch-all"}, order)
}

func TestScenarios(t *testing.T) {
	_, ts := startMock(t, Options{}, `{"mappings": [
		{"scenarioName": "retry", "requiredScenarioState": "Started", "newScenarioState": "failed once",
			"request": {"urlPath": "/flaky"}, "response": {"status": 503}},
		{"scenarioName": "retry", "requiredScenarioState": "failed once",
			"request": {"urlPath": "/flaky"}, "response": {"status": 200, "body": "ok"}}
	]}`)
	resp, _ := call(t, ts, "GET", "/flaky", "")
	require.Equal(t, 503, resp.StatusCode)
	resp, _ = call(t, ts, "GET", "/flaky", "")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = call(t, ts, "GET", "/flaky", "")
	require.Equal(t, 200, resp.StatusCode)

	_, body := call(t, ts, "GET", "/__admin/scenarios", "")
	require.JSONEq(t, `{"scenarios": [{"id": "retry", "name": "retry", "state": "failed once",
		"possibleStates": ["Started", "failed once"]}]}`, body)
	resp, _ = call(t, ts, "POST", "/__admin/scenarios/reset", "")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = call(t, ts, "GET", "/flaky", "")
	require.Equal(t, 503, resp.StatusCode)
	resp, _ = call(t, ts, "PUT", "/__admin/scenarios/retry/state", `{"state": "failed once"}`)
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = call(t, ts, "GET", "/flaky", "")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = call(t, ts, "PUT", "/__admin/scenarios/retry/state", `{"state": "no such state"}`)
	require.Equal(t, 400, resp.StatusCode)
}

func TestNotMatchedReport(t *testing.T) {
	s, ts := startMock(t, Options{})
	resp, body := call(t, ts, "GET", "/anything", "")
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, noStubsMessage+"\n", body)

	_, err := s.AddMappingsJSON([]byte(`{"mappings": [
		{"name": "create user", "request": {"method": "POST", "urlPath": "/users",
			"headers": {"Content-Type": {"equalTo": "application/json"}},
			"bodyPatterns": [{"matchesJsonPath": "$.name"}]}, "response": {"status": 201}},
		{"request": {"method": "GET", "urlPath": "/health"}, "response": {"status": 200}}
	]}`))
	require.NoError(t, err)
	resp, body = call(t, ts, "POST", "/users", `{"nom": "x"}`, "Content-Type: text/plain")
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	require.Contains(t, body, "Request was not matched")
	require.Contains(t, body, "create user", "the closest stub is the one with fewest differences")
	require.Contains(t, body, "<<<<< Header does not match")
	require.Contains(t, body, "<<<<< Body does not match")
	require.NotContains(t, body, "<<<<< URL does not match")
	require.NotContains(t, body, "<<<<< HTTP method does not match")
	for line := range strings.SplitSeq(body, "\n") {
		if strings.Contains(line, "[matchesJsonPath] $.name") {
			require.Contains(t, line, `{"nom": "x"}`, "expected and actual sit side by side")
		}
	}
}

func TestBodyFileWithoutFilesDir(t *testing.T) {
	s := New(Options{})
	_, err := s.AddMappingsJSON([]byte(`{"request": {"urlPath": "/f"}, "response": {"bodyFileName": "x.json"}}`))
	require.NoError(t, err, "WireMock accepts the stub and fails when it is served")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/f", nil))
	require.Equal(t, 500, rec.Code)
	require.Contains(t, rec.Body.String(), "bodyFileName")
}

func TestHandlerWithoutListener(t *testing.T) {
	// Tests of other packages may drive the handler directly.
	s := New(Options{})
	_, err := s.AddStub(StubMapping{
		Request:  RequestPattern{Method: "GET", URLPath: "/ping", Headers: map[string]ValuePattern{"X-Test": EqualTo("1")}},
		Response: ResponseDefinition{Status: 200, JSONBody: json.RawMessage(`{"ok": true}`)},
	})
	require.NoError(t, err)
	req := httptest.NewRequest("GET", "/ping?x=1", nil)
	req.Header.Set("X-Test", "1")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code)
	require.Equal(t, `{"ok":true}`, rec.Body.String())
	n, err := s.CountRequests(RequestPattern{URLPath: "/ping"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestProxyStub(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "yes")
		fmt.Fprintf(w, "%s %s?%s %s %s", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Extra"), body)
	}))
	defer backend.Close()
	_, ts := startMock(t, Options{}, `{"request": {"urlPathPattern": "/api/.*"}, "response": {
		"proxyBaseUrl": "`+backend.URL+`/base", "proxyUrlPrefixToRemove": "/api",
		"additionalProxyRequestHeaders": {"X-Extra": "added"}}}`)
	resp, body := call(t, ts, "POST", "/api/items?x=1", "payload")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "yes", resp.Header.Get("X-Backend"))
	require.Equal(t, "POST /base/items?x=1 added payload", body)
}

func TestConcurrentChangesAndRequests(t *testing.T) {
	s, ts := startMock(t, Options{}, `{"request": {"urlPath": "/stable"}, "response": {"body": "stable"}}`)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				m, err := s.AddStub(StubMapping{
					Request:  RequestPattern{URLPath: fmt.Sprintf("/tmp/%d/%d", i, j)},
					Response: ResponseDefinition{Body: "tmp"},
				})
				if !assert.NoError(t, err) {
					return
				}
				assert.True(t, s.RemoveStub(m.ID))
			}
		})
		wg.Go(func() {
			for range 20 {
				resp, err := ts.Client().Get(ts.URL + "/stable")
				if !assert.NoError(t, err) {
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, "stable", string(data))
			}
		})
	}
	wg.Wait()
	require.Len(t, s.Stubs(), 1)
	require.Len(t, s.Requests(), 80)
}

func TestUnknownStubFieldsAreIgnoredWithAWarning(t *testing.T) {
	var logs strings.Builder
	s := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	out, err := s.AddMappingsJSON([]byte(`{"request": {"urlPath": "/x"}, "response": {"body": "x", "fromConfiguredStub": true},
		"serveEventListeners": [{"name": "webhook"}]}`))
	require.NoError(t, err)
	require.Equal(t, "x", out[0].Response.Body)
	require.Contains(t, logs.String(), "sonde does not implement")
	require.Contains(t, logs.String(), "fields=[serveEventListeners]")

	logs.Reset()
	_, err = s.AddMappingsJSON([]byte(`{"request": {}, "response": {"body": "x", "removeProxyRequestHeaders": ["a"]}}`))
	require.NoError(t, err)
	require.Contains(t, logs.String(), "fields=[response.removeProxyRequestHeaders]")

	logs.Reset()
	_, err = s.AddMappingsJSON([]byte(`{"request": {}, "response": {"body": "x"}, "persistent": true, "insertionIndex": 3}`))
	require.NoError(t, err)
	require.Empty(t, logs.String(), "known and harmless fields raise no warning")

	// A misspelt request field is still an error, not a warning.
	_, err = s.AddMappingsJSON([]byte(`{"request": {"urlPth": "/x"}, "response": {}, "extra": 1}`))
	require.ErrorContains(t, err, "urlPth")
}
