package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/api"
	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func newServer(t *testing.T, tokens map[string]config.Token, ready func(context.Context) error) (*httptest.Server, store.Store) {
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "128MB", Threads: 1})
	require.NoError(t, err)
	p := pipeline.New(db, pipeline.Options{})
	eng, err := query.New(query.Options{Store: db})
	require.NoError(t, err)
	if ready == nil {
		ready = db.Ping
	}
	s := api.New(api.Options{Store: db, Pipeline: p, Metrics: selfmon.New(func() float64 { return 0 }),
		Tokens: tokens, Ready: ready, Query: eng})
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		p.Close()
		db.Close()
	})
	return srv, db
}

func do(t *testing.T, method, url, token, body string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestTokensAndScopes(t *testing.T) {
	tokens := map[string]config.Token{
		"reader-secret": {Name: "grafana", Scopes: []string{config.ScopeRead}},
		"admin-secret":  {Name: "ops", Scopes: []string{config.ScopeAdmin}},
	}
	srv, _ := newServer(t, tokens, nil)
	status, body := do(t, "GET", srv.URL+"/api/v1/groups", "", "")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "missing or unknown token")
	status, _ = do(t, "GET", srv.URL+"/api/v1/groups", "wrong", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = do(t, "GET", srv.URL+"/api/v1/groups", "reader-secret", "")
	require.Equal(t, http.StatusOK, status)
	status, body = do(t, "PUT", srv.URL+"/api/v1/groups/app/retention", "reader-secret", `{"retentionDays":7}`)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, `token \"grafana\" lacks the admin scope`)
	require.NotContains(t, body, "reader-secret", "tokens are never echoed")
	status, _ = do(t, "PUT", srv.URL+"/api/v1/groups/app/retention", "admin-secret", `{"retentionDays":7}`)
	require.Equal(t, http.StatusOK, status)
	status, _ = do(t, "GET", srv.URL+"/healthz", "", "")
	require.Equal(t, http.StatusOK, status, "health needs no token")
}

func TestRetentionAPI(t *testing.T) {
	srv, _ := newServer(t, nil, nil)
	status, _ := do(t, "GET", srv.URL+"/api/v1/groups/nope/retention", "", "")
	require.Equal(t, http.StatusNotFound, status)
	status, body := do(t, "PUT", srv.URL+"/api/v1/groups/app/retention", "", `{"retentionDays":0}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	status, body = do(t, "PUT", srv.URL+"/api/v1/groups/app/retention", "", `{"days":3}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	status, _ = do(t, "PUT", srv.URL+"/api/v1/groups/app/retention", "", `{"retentionDays":14}`)
	require.Equal(t, http.StatusOK, status)
	status, body = do(t, "GET", srv.URL+"/api/v1/groups/app/retention", "", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"group":"app","retentionDays":14}`, body)
	status, body = do(t, "GET", srv.URL+"/api/v1/groups", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"retentionDays":14`)
}

func TestQueryAPI(t *testing.T) {
	srv, db := newServer(t, nil, nil)
	evs := []event.Event{{Group: "app", Time: 1_795_132_800_000, Message: "a", Fields: []event.Field{{Name: "status", Value: event.Int(500)}}}}
	require.NoError(t, db.Append(context.Background(), &store.Batch{Events: evs}))

	status, body := do(t, "POST", srv.URL+"/api/v1/logs/query", "",
		`{"query":"stats count(*) as n by status","start":"2026-11-20T00:00:00Z","end":1795132900000,"groups":["app"]}`)
	require.Equal(t, http.StatusOK, status, body)
	var res query.Result
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	require.Equal(t, []string{"status", "n"}, res.Columns)
	require.Equal(t, [][]any{{500.0, 1.0}}, res.Rows)
	require.Equal(t, "bar", res.Visualization)
	require.EqualValues(t, 1, res.Stats.RecordsScanned)

	for _, c := range []struct{ body, want string }{
		{`{"query":"stats pctl(x, 99)","start":0,"end":"now"}`, `1:7: unknown function \"pctl\"; did you mean \"pct\"?`},
		{`{"start":0}`, `\"query\" is required`},
		{`{"query":"fields a","start":"yesterday"}`, `start: invalid time \"yesterday\"`},
		{`{"query":"fields a","start":"now","end":"now-1h"}`, "is not after start"},
		{`{"query":"fields a","groups":["missing"],"start":0}`, `log group \"missing\" does not exist`},
		{`{"query":"fields a","bogus":1}`, "unknown field"},
	} {
		status, body := do(t, "POST", srv.URL+"/api/v1/logs/query", "", c.body)
		require.Equal(t, http.StatusBadRequest, status, c.body)
		require.Contains(t, body, c.want, c.body)
	}
}

func TestReadyz(t *testing.T) {
	notReady := errors.New("store closed")
	srv, _ := newServer(t, nil, func(context.Context) error { return notReady })
	status, body := do(t, "GET", srv.URL+"/readyz", "", "")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Contains(t, body, "store closed")
}
