package canary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// validateHAR checks data against the HAR 1.2 specification's required
// fields and types, reading it as plain JSON (not through sonde's types).
// It returns the entries.
func validateHAR(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	log := field[map[string]any](t, doc, "log")
	require.Equal(t, "1.2", field[string](t, log, "version"))
	creator := field[map[string]any](t, log, "creator")
	require.NotEmpty(t, field[string](t, creator, "name"))
	field[string](t, creator, "version")

	pages := map[string]bool{}
	for _, p := range field[[]any](t, log, "pages") {
		page := p.(map[string]any)
		isDate(t, field[string](t, page, "startedDateTime"))
		pages[field[string](t, page, "id")] = true
		field[string](t, page, "title")
		field[map[string]any](t, page, "pageTimings")
	}
	var entries []map[string]any
	for _, e := range field[[]any](t, log, "entries") {
		entry := e.(map[string]any)
		entries = append(entries, entry)
		require.True(t, pages[field[string](t, entry, "pageref")], "pageref names a page")
		isDate(t, field[string](t, entry, "startedDateTime"))
		field[map[string]any](t, entry, "cache")

		req := field[map[string]any](t, entry, "request")
		field[string](t, req, "method")
		_, err := url.Parse(field[string](t, req, "url"))
		require.NoError(t, err)
		field[string](t, req, "httpVersion")
		nameValues(t, req, "cookies")
		nameValues(t, req, "headers")
		nameValues(t, req, "queryString")
		field[float64](t, req, "headersSize")
		field[float64](t, req, "bodySize")

		resp := field[map[string]any](t, entry, "response")
		field[float64](t, resp, "status")
		field[string](t, resp, "statusText")
		field[string](t, resp, "httpVersion")
		nameValues(t, resp, "cookies")
		nameValues(t, resp, "headers")
		content := field[map[string]any](t, resp, "content")
		field[float64](t, content, "size")
		field[string](t, content, "mimeType")
		field[string](t, resp, "redirectURL")
		field[float64](t, resp, "headersSize")
		field[float64](t, resp, "bodySize")

		timings := field[map[string]any](t, entry, "timings")
		sum := 0.0
		for _, k := range []string{"send", "wait", "receive"} {
			v := field[float64](t, timings, k)
			require.GreaterOrEqual(t, v, 0.0, k)
			sum += v
		}
		for _, k := range []string{"blocked", "dns", "connect", "ssl"} {
			if v, ok := timings[k]; ok {
				require.GreaterOrEqual(t, v.(float64), -1.0, k)
				if k != "ssl" && v.(float64) > 0 {
					sum += v.(float64)
				}
			}
		}
		if ssl, ok := timings["ssl"].(float64); ok && ssl >= 0 {
			require.GreaterOrEqual(t, timings["connect"].(float64), ssl, "connect includes ssl")
		}
		require.InDelta(t, sum, field[float64](t, entry, "time"), 1e-6, "time is the sum of the timings")
	}
	return entries
}

// field returns doc[key] as a T, failing when it is missing or another type.
func field[T any](t *testing.T, doc map[string]any, key string) T {
	t.Helper()
	v, ok := doc[key]
	require.True(t, ok, "missing %q in %v", key, doc)
	x, ok := v.(T)
	require.True(t, ok, "%q is %T, want %T", key, v, x)
	return x
}

// nameValues checks an array of {name, value} strings.
func nameValues(t *testing.T, doc map[string]any, key string) {
	t.Helper()
	for _, v := range field[[]any](t, doc, key) {
		nv := v.(map[string]any)
		field[string](t, nv, "name")
		field[string](t, nv, "value")
	}
}

func isDate(t *testing.T, s string) {
	t.Helper()
	_, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, s)
}

func TestHAR(t *testing.T) {
	srv, _ := shop(t)
	api := runOne(t, NewRunner(RunnerOptions{}), `
canaries:
  - name: shop
    kind: api
    steps:
      - name: login
        method: POST
        url: `+srv.URL+`/login?from=canary&x=1
        body: '{"user":"probe"}'
        capture: {token: "[BODY].token"}
      - name: old-profile
        url: `+srv.URL+`/old
        headers: {Authorization: "Bearer {{ token }}"}
`)
	require.True(t, api.Success, api.Error)
	tlsSrv, r := tlsServer(t, 24*time.Hour, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "ok")
	}))
	hb := runOne(t, r, "canaries:\n  - name: tls\n    kind: heartbeat\n    url: "+localhostURL(t, tlsSrv)+"/\n")
	require.True(t, hb.Success, hb.Error)
	refused := runOne(t, NewRunner(RunnerOptions{}), "canaries:\n  - name: down\n    kind: heartbeat\n    timeout: 2s\n    url: http://"+closedAddr(t)+"/\n")
	require.False(t, refused.Success)

	var buf bytes.Buffer
	require.NoError(t, WriteHAR(&buf, api, hb, refused))
	entries := validateHAR(t, buf.Bytes())
	require.Len(t, entries, 5, "login, the redirect and its target, the heartbeat, the refused request")

	login := entries[0]
	require.Equal(t, api.ID, login["pageref"])
	require.Equal(t, "login", login["comment"])
	req := login["request"].(map[string]any)
	require.Equal(t, "POST", req["method"])
	require.Equal(t, float64(len(`{"user":"probe"}`)), req["bodySize"])
	require.ElementsMatch(t, []any{
		map[string]any{"name": "from", "value": "canary"}, map[string]any{"name": "x", "value": "1"},
	}, req["queryString"])

	redirect := entries[1]["response"].(map[string]any)
	require.Equal(t, 302.0, redirect["status"])
	require.Equal(t, srv.URL+"/users/7", redirect["redirectURL"])
	for _, h := range entries[2]["request"].(map[string]any)["headers"].([]any) {
		if h.(map[string]any)["name"] == "Authorization" {
			require.Equal(t, "[REDACTED]", h.(map[string]any)["value"])
		}
	}

	tlsEntry := entries[3]
	require.Equal(t, hb.ID, tlsEntry["pageref"])
	tm := tlsEntry["timings"].(map[string]any)
	require.GreaterOrEqual(t, tm["ssl"].(float64), 0.0)
	require.GreaterOrEqual(t, tm["dns"].(float64), 0.0)
	require.Equal(t, "HTTP/2.0", tlsEntry["response"].(map[string]any)["httpVersion"])

	down := entries[4]
	require.Equal(t, 0.0, down["response"].(map[string]any)["status"])
	require.Contains(t, down["_error"], "connection refused")
	require.Equal(t, -1.0, down["response"].(map[string]any)["bodySize"])
	require.False(t, math.IsNaN(down["time"].(float64)))
}
