package canary

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// shop is a small API: POST /login answers a token and a user id, GET
// /users/{id} wants the token, /old redirects to /users/7.
func shop(t *testing.T) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, "login "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Session", "s-42")
		fmt.Fprint(w, `{"token":"tok-123","user":{"id":7,"name":"probe"}}`)
	})
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, "user "+r.PathValue("id")+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Session"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok-123" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": r.PathValue("id"), "status": "UP", "orders": []int{1, 2}})
	})
	mux.HandleFunc("GET /old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/users/7", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestAPICapturesBetweenSteps(t *testing.T) {
	srv, seen := shop(t)
	run := runOne(t, NewRunner(RunnerOptions{}), `
canaries:
  - name: shop
    kind: api
    steps:
      - name: login
        method: POST
        url: `+srv.URL+`/login
        body: '{"user":"probe"}'
        capture:
          token: "[BODY].token"
          uid: "[BODY].user.id"
          session: "[HEADER].X-Session"
        conditions:
          - "[STATUS] == 200"
          - "[CONTEXT].uid == 7"
      - name: profile
        url: `+srv.URL+`/users/{{ uid }}
        headers:
          Authorization: "Bearer {{token}}"
          X-Session: "{{ session }}"
        conditions:
          - "[STATUS] == 200"
          - "[BODY].id == [CONTEXT].uid"
          - "[BODY].status == UP"
          - "len([BODY].orders) == 2"
`)
	require.True(t, run.Success, run.Error)
	require.Equal(t, []string{`login {"user":"probe"}`, "user 7 Bearer tok-123 s-42"}, *seen)
	require.Len(t, run.Steps, 2)
	require.Equal(t, srv.URL+"/users/7", run.Steps[1].URL)
	require.Len(t, run.Steps[1].Conditions, 4)
	// Secrets are not kept with the run.
	for _, h := range run.Steps[1].Requests[0].RequestHeaders {
		if h.Name == "Authorization" {
			require.Equal(t, "[REDACTED]", h.Value)
		}
	}
	// The second step reused the first one's connection.
	tm := run.Steps[1].Requests[0].Timings
	require.Equal(t, -1.0, tm.ConnectMs)
	require.Equal(t, -1.0, tm.DNSMs)
}

func TestAPIStepFailureSkipsTheRest(t *testing.T) {
	srv, _ := shop(t)
	yaml := `
canaries:
  - name: shop
    kind: api
%s    steps:
      - name: profile
        url: ` + srv.URL + `/users/7
      - name: login
        method: POST
        url: ` + srv.URL + `/login
`
	r := NewRunner(RunnerOptions{})
	run := runOne(t, r, fmt.Sprintf(yaml, ""))
	require.False(t, run.Success)
	require.Equal(t, "step profile: status 401, want 2xx", run.Error)
	require.True(t, run.Steps[1].Skipped)

	run = runOne(t, r, fmt.Sprintf(yaml, "    continue_on_step_failure: true\n"))
	require.False(t, run.Success)
	require.False(t, run.Steps[1].Skipped)
	require.True(t, run.Steps[1].Success)
}

func TestAPIFailedCaptureFailsTheStep(t *testing.T) {
	srv, _ := shop(t)
	run := runOne(t, NewRunner(RunnerOptions{}), `
canaries:
  - name: shop
    kind: api
    steps:
      - name: login
        method: POST
        url: `+srv.URL+`/login
        capture: {token: "[BODY].access_token"}
      - name: profile
        url: `+srv.URL+`/users/7
        headers: {Authorization: "Bearer {{ token }}"}
`)
	require.False(t, run.Success)
	require.Equal(t, `step login: capture token: no field "access_token"`, run.Error)
}

func TestAPISlowStep(t *testing.T) {
	srv := mockServer(t,
		`{"request": {"urlPath": "/fast"}, "response": {"status": 200, "jsonBody": {"status": "UP"}}}`,
		`{"request": {"urlPath": "/slow"}, "response": {"status": 200, "fixedDelayMilliseconds": 400, "jsonBody": {"status": "UP"}}}`,
	)
	run := runOne(t, NewRunner(RunnerOptions{}), `
canaries:
  - name: slow
    kind: api
    continue_on_step_failure: true
    steps:
      - name: slow-budget
        url: `+srv.URL+`/slow
        conditions: ["[STATUS] == 200", "[RESPONSE_TIME] < 300", "[BODY].status == UP"]
      - name: slow-floor
        url: `+srv.URL+`/slow
        conditions: ["[RESPONSE_TIME] >= 400"]
      - name: fast
        url: `+srv.URL+`/fast
        conditions: ["[BODY].status == UP"]
`)
	require.False(t, run.Success)
	slow := run.Steps[0]
	require.False(t, slow.Success)
	require.True(t, slow.Conditions[0].Success)
	require.False(t, slow.Conditions[1].Success, slow.Conditions[1].Condition)
	require.True(t, slow.Conditions[2].Success)
	require.Contains(t, slow.Error, "condition failed: [RESPONSE_TIME] (4")
	require.GreaterOrEqual(t, slow.ResponseTimeMs, 400.0)
	require.GreaterOrEqual(t, slow.Timings.WaitMs, 400.0)
	require.True(t, run.Steps[1].Success, run.Steps[1].Error)
	require.True(t, run.Steps[2].Success, run.Steps[2].Error)
	require.Equal(t, "step slow-budget: "+slow.Error, run.Error)
}

func TestRedirectsAreRecordedPerRequest(t *testing.T) {
	srv, _ := shop(t)
	run := runOne(t, NewRunner(RunnerOptions{}), `
canaries:
  - name: old
    kind: api
    steps:
      - url: `+srv.URL+`/old
        headers: {Authorization: "Bearer tok-123"}
        conditions: ["[STATUS] == 200", "[BODY].id == 7"]
`)
	require.True(t, run.Success, run.Error)
	st := run.Steps[0]
	require.Equal(t, "step-1", st.Name)
	require.Len(t, st.Requests, 2)
	require.Equal(t, http.StatusFound, st.Requests[0].Status)
	require.Equal(t, srv.URL+"/users/7", st.Requests[0].RedirectURL)
	require.Equal(t, 200, st.Requests[1].Status)
	require.Equal(t, st.Requests[0].Timings.add(st.Requests[1].Timings), st.Timings)
	require.GreaterOrEqual(t, st.DurationMs, st.ResponseTimeMs)
}
