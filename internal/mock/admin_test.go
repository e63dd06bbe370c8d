package mock

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The admin API is driven here as curl scripts drive WireMock: raw JSON
// bodies as the WireMock documentation writes them, no client library.

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

func TestAdminMappingsCRUD(t *testing.T) {
	_, ts := startMock(t, Options{})

	// curl -X POST --data '{ "request": { "url": "/get/this", "method": "GET" },
	//   "response": { "status": 200, "body": "Here it is!\n" } }' http://localhost:8080/__admin/mappings
	resp, body := call(t, ts, "POST", "/__admin/mappings",
		`{ "request": { "url": "/get/this", "method": "GET" }, "response": { "status": 200, "body": "Here it is!\n" } }`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	created := decode(t, body)
	id, _ := created["id"].(string)
	require.Len(t, id, 36)
	require.Equal(t, id, created["uuid"])
	require.Equal(t, map[string]any{"url": "/get/this", "method": "GET"}, created["request"])

	_, body = call(t, ts, "GET", "/get/this", "")
	require.Equal(t, "Here it is!\n", body)

	// A second stub, with an id chosen by the client, from the docs' example.
	resp, body = call(t, ts, "POST", "/__admin/mappings", `{
		"id": "76ada7b0-49ae-4229-91c4-396a36f18e09",
		"priority": 3,
		"request": {
			"method": "GET",
			"url": "/some/thing"
		},
		"response": {
			"status": 200,
			"body": "Hello, world!",
			"headers": {
				"Content-Type": "text/plain"
			}
		}
	}`, "Content-Type: application/json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Equal(t, "76ada7b0-49ae-4229-91c4-396a36f18e09", decode(t, body)["id"])

	resp, body = call(t, ts, "GET", "/__admin/mappings", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	list := decode(t, body)
	require.Equal(t, map[string]any{"total": float64(2)}, list["meta"])
	mappings := list["mappings"].([]any)
	require.Len(t, mappings, 2)
	require.Equal(t, "76ada7b0-49ae-4229-91c4-396a36f18e09", mappings[0].(map[string]any)["id"], "priority 3 comes first")

	_, body = call(t, ts, "GET", "/__admin/mappings?limit=1&offset=1", "")
	page := decode(t, body)
	require.Len(t, page["mappings"], 1)
	require.Equal(t, id, page["mappings"].([]any)[0].(map[string]any)["id"])
	require.Equal(t, map[string]any{"total": float64(2)}, page["meta"])

	resp, body = call(t, ts, "GET", "/__admin/mappings/"+id, "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "/get/this", decode(t, body)["request"].(map[string]any)["url"])

	resp, body = call(t, ts, "PUT", "/__admin/mappings/"+id,
		`{"request": {"url": "/get/this", "method": "GET"}, "response": {"status": 202, "body": "edited"}}`)
	require.Equal(t, 200, resp.StatusCode, body)
	require.Equal(t, id, decode(t, body)["id"])
	resp, body = call(t, ts, "GET", "/get/this", "")
	require.Equal(t, 202, resp.StatusCode)
	require.Equal(t, "edited", body)

	resp, _ = call(t, ts, "PUT", "/__admin/mappings/00000000-0000-0000-0000-000000000000",
		`{"request": {}, "response": {}}`)
	require.Equal(t, 404, resp.StatusCode)

	resp, _ = call(t, ts, "DELETE", "/__admin/mappings/"+id, "")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = call(t, ts, "GET", "/__admin/mappings/"+id, "")
	require.Equal(t, 404, resp.StatusCode)
	resp, _ = call(t, ts, "DELETE", "/__admin/mappings/"+id, "")
	require.Equal(t, 404, resp.StatusCode)
	resp, _ = call(t, ts, "GET", "/get/this", "")
	require.Equal(t, 404, resp.StatusCode)

	resp, _ = call(t, ts, "DELETE", "/__admin/mappings", "")
	require.Equal(t, 200, resp.StatusCode)
	_, body = call(t, ts, "GET", "/__admin/mappings", "")
	require.JSONEq(t, `{"mappings": [], "meta": {"total": 0}}`, body)
}

func TestAdminRejectsBadStubs(t *testing.T) {
	_, ts := startMock(t, Options{})
	resp, body := call(t, ts, "POST", "/__admin/mappings", `{"request": {"url": "/x"`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	errs := decode(t, body)["errors"].([]any)
	require.Equal(t, "Error parsing JSON", errs[0].(map[string]any)["title"])

	resp, body = call(t, ts, "POST", "/__admin/mappings",
		`{"request": {"bodyPatterns": [{"equalToXml": "<a/>"}]}, "response": {}}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, body, "equalToXml")

	resp, body = call(t, ts, "GET", "/__admin/recordings/status", "")
	require.Equal(t, 404, resp.StatusCode)
	require.Contains(t, body, "does not implement GET /__admin/recordings/status")
	resp, _ = call(t, ts, "PATCH", "/__admin/mappings", "")
	require.Equal(t, 404, resp.StatusCode)
}

func TestAdminImport(t *testing.T) {
	s, ts := startMock(t, Options{}, `{"id": "11111111-1111-4111-8111-111111111111",
		"request": {"urlPath": "/a"}, "response": {"body": "old a"}}`)
	resp, body := call(t, ts, "POST", "/__admin/mappings/import", `{"mappings": [
		{"id": "11111111-1111-4111-8111-111111111111", "request": {"urlPath": "/a"}, "response": {"body": "new a"}},
		{"request": {"urlPath": "/b"}, "response": {"body": "b"}}
	], "importOptions": {"duplicatePolicy": "IGNORE"}}`)
	require.Equal(t, 200, resp.StatusCode, body)
	require.Len(t, s.Stubs(), 2)
	_, body = call(t, ts, "GET", "/a", "")
	require.Equal(t, "old a", body)

	resp, _ = call(t, ts, "POST", "/__admin/mappings/import", `{"mappings": [
		{"id": "11111111-1111-4111-8111-111111111111", "request": {"urlPath": "/a"}, "response": {"body": "new a"}}
	], "importOptions": {"duplicatePolicy": "OVERWRITE", "deleteAllNotInImport": true}}`)
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, s.Stubs(), 1)
	_, body = call(t, ts, "GET", "/a", "")
	require.Equal(t, "new a", body)
}

func TestAdminJournal(t *testing.T) {
	_, ts := startMock(t, Options{}, `{"mappings": [
		{"request": {"method": "POST", "url": "/resource/to/count"}, "response": {"status": 200}},
		{"request": {"method": "GET", "urlPath": "/hello"}, "response": {"body": "hi"}}
	]}`)
	start := time.Now().Add(-time.Second)
	for _, ct := range []string{"application/xml", "text/xml", "application/json"} {
		call(t, ts, "POST", "/resource/to/count", "<a/>", "Content-Type: "+ct)
	}
	call(t, ts, "GET", "/hello?name=ann&name=bob", "", "X-Trace: t1", "Cookie: session=s1")
	call(t, ts, "GET", "/nowhere", "")

	// From the WireMock docs on verifying.
	resp, body := call(t, ts, "POST", "/__admin/requests/count", `{
		"method": "POST",
		"url": "/resource/to/count",
		"headers": {
			"Content-Type": {
				"matches": ".*/xml"
			}
		}
	}`)
	require.Equal(t, 200, resp.StatusCode, body)
	require.JSONEq(t, `{"count": 2}`, body)

	_, body = call(t, ts, "POST", "/__admin/requests/count", `{"method": "ANY", "urlPattern": "/.*"}`)
	require.JSONEq(t, `{"count": 5}`, body)
	_, body = call(t, ts, "POST", "/__admin/requests/count", `{}`)
	require.JSONEq(t, `{"count": 5}`, body)
	resp, _ = call(t, ts, "POST", "/__admin/requests/count", `{"urlPatern": "/.*"}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	_, body = call(t, ts, "POST", "/__admin/requests/find", `{"method": "GET", "urlPath": "/hello"}`)
	found := decode(t, body)["requests"].([]any)
	require.Len(t, found, 1)
	req := found[0].(map[string]any)
	require.Equal(t, "/hello?name=ann&name=bob", req["url"])
	require.Equal(t, ts.URL+"/hello?name=ann&name=bob", req["absoluteUrl"])
	require.Equal(t, "GET", req["method"])
	require.Equal(t, "127.0.0.1", req["clientIp"])
	require.Equal(t, "t1", req["headers"].(map[string]any)["X-Trace"])
	require.Equal(t, "s1", req["cookies"].(map[string]any)["session"])
	require.Equal(t, map[string]any{"key": "name", "values": []any{"ann", "bob"}}, req["queryParams"].(map[string]any)["name"])
	logged := time.UnixMilli(int64(req["loggedDate"].(float64)))
	require.WithinRange(t, logged, start, time.Now().Add(time.Second))

	// The journal, newest first.
	resp, body = call(t, ts, "GET", "/__admin/requests", "")
	require.Equal(t, 200, resp.StatusCode)
	all := decode(t, body)
	require.Equal(t, map[string]any{"total": float64(5)}, all["meta"])
	require.Equal(t, false, all["requestJournalDisabled"])
	events := all["requests"].([]any)
	require.Len(t, events, 5)
	newest := events[0].(map[string]any)
	require.Equal(t, false, newest["wasMatched"])
	require.Equal(t, "/nowhere", newest["request"].(map[string]any)["url"])
	require.Equal(t, float64(404), newest["responseDefinition"].(map[string]any)["status"])
	second := events[1].(map[string]any)
	require.Equal(t, true, second["wasMatched"])
	require.Equal(t, "hi", second["responseDefinition"].(map[string]any)["body"])
	require.Equal(t, "/hello", second["stubMapping"].(map[string]any)["request"].(map[string]any)["urlPath"])
	oldest := events[4].(map[string]any)
	require.Equal(t, "<a/>", oldest["request"].(map[string]any)["body"])
	require.Equal(t, "PGEvPg==", oldest["request"].(map[string]any)["bodyAsBase64"])

	_, body = call(t, ts, "GET", "/__admin/requests?limit=2", "")
	require.Len(t, decode(t, body)["requests"], 2)
	_, body = call(t, ts, "GET", "/__admin/requests?unmatched=true", "")
	require.Len(t, decode(t, body)["requests"], 1)

	id := second["id"].(string)
	resp, body = call(t, ts, "GET", "/__admin/requests/"+id, "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, id, decode(t, body)["id"])

	_, body = call(t, ts, "GET", "/__admin/requests/unmatched", "")
	unmatched := decode(t, body)["requests"].([]any)
	require.Len(t, unmatched, 1)
	require.Equal(t, "/nowhere", unmatched[0].(map[string]any)["url"])

	resp, _ = call(t, ts, "DELETE", "/__admin/requests/"+id, "")
	require.Equal(t, 200, resp.StatusCode)
	_, body = call(t, ts, "GET", "/__admin/requests", "")
	require.Len(t, decode(t, body)["requests"], 4)

	resp, _ = call(t, ts, "DELETE", "/__admin/requests", "")
	require.Equal(t, 200, resp.StatusCode)
	_, body = call(t, ts, "GET", "/__admin/requests", "")
	require.Empty(t, decode(t, body)["requests"])
	_, body = call(t, ts, "GET", "/__admin/requests/unmatched", "")
	require.JSONEq(t, `{"requests": [], "requestJournalDisabled": false}`, body)
}

func TestJournalBounds(t *testing.T) {
	s, ts := startMock(t, Options{JournalSize: 3}, `{"request": {}, "response": {}}`)
	for _, p := range []string{"/1", "/2", "/3", "/4", "/5"} {
		call(t, ts, "GET", p, "")
	}
	evs := s.Requests()
	require.Len(t, evs, 3)
	require.Equal(t, "/5", evs[0].Request.URL)
	require.Equal(t, "/3", evs[2].Request.URL)

	// The body budget drops the oldest requests first.
	s, ts = startMock(t, Options{JournalBodyBytes: 10}, `{"request": {}, "response": {}}`)
	call(t, ts, "POST", "/a", "123456")
	call(t, ts, "POST", "/b", "123456")
	call(t, ts, "POST", "/c", "12")
	evs = s.Requests()
	require.Len(t, evs, 2)
	require.Equal(t, "/c", evs[0].Request.URL)
	require.Equal(t, "/b", evs[1].Request.URL)

	s, ts = startMock(t, Options{JournalSize: -1}, `{"request": {}, "response": {}}`)
	call(t, ts, "GET", "/x", "")
	require.Empty(t, s.Requests())
	resp, body := call(t, ts, "POST", "/__admin/requests/count", `{}`)
	require.Equal(t, 500, resp.StatusCode)
	require.Contains(t, body, "journal is disabled")
}

func TestAdminSettingsAndHealth(t *testing.T) {
	s, ts := startMock(t, Options{})
	resp, _ := call(t, ts, "POST", "/__admin/settings", `{"fixedDelay": 500}`)
	require.Equal(t, 200, resp.StatusCode)
	_, body := call(t, ts, "GET", "/__admin/settings", "")
	require.JSONEq(t, `{"settings": {"fixedDelay": 500}}`, body)
	require.Equal(t, 500*time.Millisecond, s.delay(&compiledResponse{}))

	resp, _ = call(t, ts, "PUT", "/__admin/settings", `{"settings": {"delayDistribution": {"type": "uniform", "lower": 7, "upper": 7}}}`)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 7*time.Millisecond, s.delay(&compiledResponse{}))
	resp, _ = call(t, ts, "POST", "/__admin/settings", `{"fixedDelay": -1}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	resp, body = call(t, ts, "GET", "/__admin/health", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "healthy", decode(t, body)["status"])
}

func TestAdminReset(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mappings/a.json", `{"request": {"urlPath": "/a"}, "response": {"body": "from file"}}`)
	s := New(Options{})
	n, err := s.Load(dir)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, ts := startMockWith(t, s)

	call(t, ts, "POST", "/__admin/mappings", `{"request": {"urlPath": "/b"}, "response": {"body": "from api"}}`)
	call(t, ts, "GET", "/a", "")
	require.Len(t, s.Stubs(), 2)
	require.Len(t, s.Requests(), 1)

	// mappings/reset goes back to the files, re-read from disk, and keeps
	// the journal.
	writeFile(t, dir, "mappings/a.json", `{"request": {"urlPath": "/a"}, "response": {"body": "edited file"}}`)
	resp, _ := call(t, ts, "POST", "/__admin/mappings/reset", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, s.Stubs(), 1)
	require.Len(t, s.Requests(), 1)
	_, body := call(t, ts, "GET", "/a", "")
	require.Equal(t, "edited file", body)

	// reset also clears the journal.
	call(t, ts, "POST", "/__admin/mappings", `{"request": {"urlPath": "/b"}, "response": {}}`)
	resp, _ = call(t, ts, "POST", "/__admin/reset", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, s.Stubs(), 1)
	require.Empty(t, s.Requests())
}
