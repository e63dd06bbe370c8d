package canary

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHeartbeatOverHTTPWithTimings(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>ok</html>")
	}))
	defer srv.Close()
	run := runOne(t, NewRunner(RunnerOptions{}), `
canaries:
  - name: home
    kind: heartbeat
    url: `+localhostURL(t, srv)+`/
`)
	require.True(t, run.Success, run.Error)
	require.Equal(t, "home", run.Canary)
	require.NotEmpty(t, run.ID)
	require.Len(t, run.Steps, 1)
	st := run.Steps[0]
	require.Equal(t, 200, st.Status)
	require.Len(t, st.Requests, 1)
	rq := st.Requests[0]
	require.Equal(t, "text/html", rq.MimeType)
	require.Equal(t, int64(len("<html>ok</html>")), rq.ResponseBodySize)
	require.Equal(t, "HTTP/1.1", rq.HTTPVersion)
	require.Contains(t, []string{"127.0.0.1", "::1"}, rq.ServerIP)
	tm := rq.Timings
	require.GreaterOrEqual(t, tm.DNSMs, 0.0, "localhost is looked up")
	require.GreaterOrEqual(t, tm.ConnectMs, 0.0, "a fresh connection")
	require.Equal(t, -1.0, tm.TLSMs, "no TLS over http")
	for _, v := range []float64{tm.BlockedMs, tm.SendMs, tm.WaitMs, tm.ReceiveMs} {
		require.GreaterOrEqual(t, v, 0.0)
	}
	require.LessOrEqual(t, tm.TotalMs(), run.DurationMs+1)
	require.Equal(t, tm, st.Timings, "one request: the step's timings are its")
}

func TestHeartbeatStatusAndLatency(t *testing.T) {
	srv := mockServer(t,
		`{"request": {"urlPath": "/down"}, "response": {"status": 503, "body": "maintenance"}}`,
		`{"request": {"urlPath": "/created"}, "response": {"status": 201}}`,
		`{"request": {"urlPath": "/slow"}, "response": {"status": 200, "fixedDelayMilliseconds": 400}}`,
	)
	r := NewRunner(RunnerOptions{})
	heartbeat := func(path, extra string) *Run {
		return runOne(t, r, "canaries:\n  - name: hb\n    kind: heartbeat\n    url: "+srv.URL+path+"\n"+extra)
	}
	run := heartbeat("/down", "")
	require.False(t, run.Success)
	require.Equal(t, "step "+srv.URL+"/down: status 503, want 2xx", run.Error)

	require.True(t, heartbeat("/created", "").Success)
	run = heartbeat("/created", "    expected_status: 200\n")
	require.False(t, run.Success)
	require.Contains(t, run.Error, "status 201, want 200")

	// The stub waits 400 ms: a 300 ms budget fails, whatever the load.
	run = heartbeat("/slow", "    max_latency: 300ms\n")
	require.False(t, run.Success)
	require.Contains(t, run.Error, "more than max_latency 300ms")
	require.GreaterOrEqual(t, run.Steps[0].Timings.WaitMs, 400.0, "the delay is time to first byte")
}

func TestHeartbeatCertificateExpiration(t *testing.T) {
	srv, r := tlsServer(t, 10*time.Hour, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"status":"UP"}`)
	}))
	canary := func(cond string) string {
		return `
canaries:
  - name: tls
    kind: heartbeat
    url: ` + localhostURL(t, srv) + `/health
    conditions: ["` + cond + `", "[BODY].status == UP"]
`
	}
	run := runOne(t, r, canary("[CERTIFICATE_EXPIRATION] > 48h"))
	require.False(t, run.Success, "the certificate expires in 10 hours")
	require.Contains(t, run.Error, "[CERTIFICATE_EXPIRATION] (9h59m")
	require.Len(t, run.Steps[0].Conditions, 2)
	require.False(t, run.Steps[0].Conditions[0].Success)
	require.True(t, run.Steps[0].Conditions[1].Success)

	run = runOne(t, r, canary("[CERTIFICATE_EXPIRATION] > 1h"))
	require.True(t, run.Success, run.Error)
	tm := run.Steps[0].Requests[0].Timings
	require.GreaterOrEqual(t, tm.TLSMs, 0.0, "a TLS handshake")
	require.GreaterOrEqual(t, tm.DNSMs, 0.0)
	require.GreaterOrEqual(t, tm.ConnectMs, 0.0)
	require.Equal(t, "HTTP/2.0", run.Steps[0].Requests[0].HTTPVersion, "TLS negotiates HTTP/2")

	// An untrusted certificate fails, unless the canary says insecure.
	plain := NewRunner(RunnerOptions{})
	run = runOne(t, plain, canary("[CERTIFICATE_EXPIRATION] > 1h"))
	require.False(t, run.Success)
	require.Contains(t, run.Error, "certificate")
	run = runOne(t, plain, canary("[CERTIFICATE_EXPIRATION] > 1h")+"    insecure_skip_verify: true\n")
	require.True(t, run.Success, run.Error)
}

func TestHeartbeatConnectionRefused(t *testing.T) {
	addr := closedAddr(t)
	r := NewRunner(RunnerOptions{})
	run := runOne(t, r, "canaries:\n  - name: gone\n    kind: heartbeat\n    url: http://"+addr+"/\n")
	require.False(t, run.Success)
	require.Contains(t, run.Error, "connection refused")
	st := run.Steps[0]
	require.Equal(t, 0, st.Status)
	require.Len(t, st.Requests, 1)
	require.Contains(t, st.Requests[0].Error, "connection refused")

	// A condition on [CONNECTED] makes "down" the expected state.
	run = runOne(t, r, "canaries:\n  - name: gone\n    kind: heartbeat\n    url: http://"+addr+"/\n    conditions: [\"[CONNECTED] == false\"]\n")
	require.True(t, run.Success, run.Error)
}

func TestHeartbeatTimeout(t *testing.T) {
	srv := mockServer(t, `{"request": {"urlPath": "/hang"}, "response": {"status": 200, "fixedDelayMilliseconds": 5000}}`)
	run := runOne(t, NewRunner(RunnerOptions{}), "canaries:\n  - name: hang\n    kind: heartbeat\n    timeout: 200ms\n    url: "+srv.URL+"/hang\n")
	require.False(t, run.Success)
	require.True(t, strings.HasPrefix(run.Error, "timed out after 200ms"), run.Error)
}
