package trace

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func newAPI(t *testing.T) *httptest.Server {
	t.Helper()
	groups, err := NewGroups([]Group{{Name: "faults", Filter: "fault"}}, filepath.Join(t.TempDir(), "g.json"))
	require.NoError(t, err)
	h := NewHandler(HandlerOptions{Engine: newFixtureEngine(t, groups), Groups: groups})
	mux := http.NewServeMux()
	scopes := map[string]string{}
	h.Mount(func(p, scope string, hh http.Handler) {
		scopes[p] = scope
		mux.Handle(p, hh)
	})
	require.Equal(t, "read", scopes["POST "+PathSearch])
	require.Equal(t, "admin", scopes["POST "+PathGroups])
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, method, u, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), string(data))
	}
	return resp.StatusCode, out
}

func TestAPI(t *testing.T) {
	srv := newAPI(t)
	ms := func(tm interface{ UnixMilli() int64 }) string { return strconv.FormatInt(tm.UnixMilli(), 10) }
	rangeJSON := `"start": ` + ms(fixtureStart) + `, "end": ` + ms(fixtureEnd)

	st, out := call(t, "POST", srv.URL+PathSearch, `{"filter": "service(\"payments\") { fault }", `+rangeJSON+`, "limit": 10}`)
	require.Equal(t, 200, st, out)
	traces := out["traces"].([]any)
	require.Len(t, traces, 1)
	first := traces[0].(map[string]any)
	require.Equal(t, traceB, first["traceId"])
	require.Equal(t, "frontend", first["rootService"])
	require.Equal(t, "POST /api/checkout", first["rootName"])
	require.Equal(t, "fault", first["status"])
	require.Equal(t, 4200.0, first["durationMs"])

	st, out = call(t, "POST", srv.URL+PathSearch, `{"filter": "fault AND speed > 3", `+rangeJSON+`}`)
	require.Equal(t, 400, st)
	require.Contains(t, out["error"], `1:11: unknown keyword "speed"`)
	st, _ = call(t, "POST", srv.URL+PathSearch, `{"filter": "fault", "limit": 100000}`)
	require.Equal(t, 400, st)
	st, _ = call(t, "POST", srv.URL+PathSearch, `{"query": "fault"}`)
	require.Equal(t, 400, st)

	st, out = call(t, "GET", srv.URL+"/api/v1/traces/"+traceA, "")
	require.Equal(t, 200, st)
	require.Equal(t, traceA, out["traceId"])
	require.Len(t, out["logs"], 3)
	st, _ = call(t, "GET", srv.URL+"/api/v1/traces/22222222222222222222222222222222", "")
	require.Equal(t, 404, st)
	st, _ = call(t, "GET", srv.URL+"/api/v1/traces/xyz", "")
	require.Equal(t, 400, st)

	q := url.Values{"start": {ms(fixtureStart)}, "end": {fixtureEnd.Format("2006-01-02T15:04:05Z")}}
	st, out = call(t, "GET", srv.URL+PathServiceMap+"?"+q.Encode(), "")
	require.Equal(t, 200, st)
	require.Len(t, out["nodes"], 6)
	require.Len(t, out["edges"], 5)
	q.Set("group", "faults")
	st, out = call(t, "GET", srv.URL+PathServiceMap+"?"+q.Encode(), "")
	require.Equal(t, 200, st)
	require.Len(t, out["nodes"], 5)
	q.Set("group", "nope")
	st, _ = call(t, "GET", srv.URL+PathServiceMap+"?"+q.Encode(), "")
	require.Equal(t, 404, st)
	q.Del("group")
	q.Set("start", "yesterday-ish")
	st, _ = call(t, "GET", srv.URL+PathServiceMap+"?"+q.Encode(), "")
	require.Equal(t, 400, st)

	q = url.Values{"start": {ms(fixtureStart)}, "end": {ms(fixtureEnd)}, "service": {"frontend"}, "route": {"/api/checkout"}}
	st, out = call(t, "GET", srv.URL+PathDistribution+"?"+q.Encode(), "")
	require.Equal(t, 200, st)
	require.Equal(t, 1.0, out["requests"])
	require.Len(t, out["histogram"], len(BucketBoundsMs)+1)

	// Groups: create, read, replace, figures, delete; the config group is
	// read-only.
	st, out = call(t, "POST", srv.URL+PathGroups, `{"name": "slow", "filter": "responsetime > 3"}`)
	require.Equal(t, 201, st, out)
	st, _ = call(t, "POST", srv.URL+PathGroups, `{"name": "slow", "filter": "ok"}`)
	require.Equal(t, 409, st)
	st, out = call(t, "POST", srv.URL+PathGroups, `{"name": "bad", "filter": "ok AND"}`)
	require.Equal(t, 400, st)
	require.Contains(t, out["error"], "1:7:")
	st, out = call(t, "GET", srv.URL+"/api/v1/traces/groups/slow", "")
	require.Equal(t, 200, st)
	require.Equal(t, "api", out["source"])
	st, _ = call(t, "PUT", srv.URL+"/api/v1/traces/groups/slow", `{"filter": "responsetime > 4"}`)
	require.Equal(t, 200, st)
	st, _ = call(t, "PUT", srv.URL+"/api/v1/traces/groups/faults", `{"filter": "ok"}`)
	require.Equal(t, 409, st)
	st, out = call(t, "GET", srv.URL+"/api/v1/traces/groups/slow/stats?start="+ms(fixtureStart)+"&end="+ms(fixtureEnd), "")
	require.Equal(t, 200, st)
	require.Equal(t, 1.0, out["requests"])
	require.Equal(t, 1.0, out["faultRate"])
	st, out = call(t, "GET", srv.URL+PathGroups, "")
	require.Equal(t, 200, st)
	require.Len(t, out["groups"], 2)
	st, _ = call(t, "DELETE", srv.URL+"/api/v1/traces/groups/slow", "")
	require.Equal(t, 204, st)
	st, _ = call(t, "GET", srv.URL+"/api/v1/traces/groups/slow", "")
	require.Equal(t, 404, st)
	st, _ = call(t, "GET", srv.URL+"/api/v1/traces/groups/slow/stats", "")
	require.Equal(t, 404, st)

	st, out = call(t, "GET", srv.URL+PathSamplingJSON+"?service=frontend", "")
	require.Equal(t, 200, st)
	require.Equal(t, "PROBABILISTIC", out["strategyType"])
	st, _ = call(t, "GET", srv.URL+PathSamplingJSON, "")
	require.Equal(t, 400, st)
	st, out = call(t, "GET", srv.URL+PathSamplingList, "")
	require.Equal(t, 200, st)
	require.Len(t, out["rules"], 1)
}
