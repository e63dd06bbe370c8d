package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/ingest/xray"
)

// TestTracesEndToEnd starts sonde with every trace listener on a free port,
// sends one trace by each protocol (OTLP/HTTP on both ports, Zipkin, X-Ray
// UDP) and reads them back through the trace API.
func TestTracesEndToEnd(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{HTTP: "127.0.0.1:0", OTLPHTTP: "127.0.0.1:0", XRay: "127.0.0.1:0"}
	cfg.TraceGroups = []config.TraceGroup{{Name: "faults", Filter: "fault"}}
	cfg.TraceSampling.Rules = []config.SamplingRule{{RuleName: "pay", Priority: 1, FixedRate: 1, URLPath: "/pay", HTTPMethod: "POST"}}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	base := "http://" + a.Addr("http").String()
	post := func(url, ct string, body []byte, want int) {
		resp, err := http.Post(url, ct, bytes.NewReader(body))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, string(b))
	}

	now := time.Now()
	otlpTrace := func(tid byte, service string) []byte {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{tid, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{tid, 1, 2, 3, 4, 5, 6, 7})
		s.SetName("GET /x")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(5 * time.Millisecond)))
		s.Status().SetCode(ptrace.StatusCodeError)
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		require.NoError(t, err)
		return b
	}
	post(base+"/v1/traces", "application/x-protobuf", otlpTrace(0xa1, "main-port"), 200)
	post("http://"+a.Addr("otlp_http").String()+"/v1/traces", "application/x-protobuf", otlpTrace(0xa2, "otlp-port"), 200)
	zipkin := `[{"traceId":"00000000000000000000000000000bbb","id":"0000000000000bbb","name":"get /z","kind":"SERVER",` +
		`"timestamp":` + itoa(now.UnixMicro()) + `,"duration":1000,"localEndpoint":{"serviceName":"zipkin-svc"}}]`
	post(base+"/api/v2/spans", "application/json", []byte(zipkin), 202)

	conn, err := net.Dial("udp", a.Addr("xray_udp").String())
	require.NoError(t, err)
	defer conn.Close()
	seg, err := os.ReadFile("../ingest/xray/testdata/segment.json")
	require.NoError(t, err)
	seg = bytes.ReplaceAll(seg, []byte("1772366400."), []byte(itoa(now.Unix())+"."))
	_, err = conn.Write(append([]byte(xray.Header+"\n"), seg...))
	require.NoError(t, err)

	get := func(url string) map[string]any {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	var m map[string]any
	require.Eventually(t, func() bool {
		m = get(base + "/api/v1/servicemap?start=now-1h&end=now%2B1h")
		return len(m["nodes"].([]any)) == 7
	}, 15*time.Second, 50*time.Millisecond)
	var names []string
	for _, n := range m["nodes"].([]any) {
		names = append(names, n.(map[string]any)["name"].(string))
	}
	require.Equal(t, []string{"DynamoDB", "api.stripe.com", "main-port", "orders@db.internal", "otlp-port", "sessions-api", "zipkin-svc"}, names)

	tr := get(base + "/api/v1/traces/1-5759e988-bd862e3fe1be46a994272793")
	require.Equal(t, 5.0, tr["spanCount"])
	resp, err := http.Post(base+"/api/v1/traces/search", "application/json",
		strings.NewReader(`{"filter":"group.name = \"faults\"","start":"now-1h","end":"now+1h"}`))
	require.NoError(t, err)
	var found struct {
		Traces []struct {
			RootService string `json:"rootService"`
		} `json:"traces"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&found))
	resp.Body.Close()
	var roots []string
	for _, tr := range found.Traces {
		roots = append(roots, tr.RootService)
	}
	require.ElementsMatch(t, []string{"main-port", "otlp-port", "sessions-api"}, roots)

	st := get(base + "/api/sampling?service=shop")
	require.Equal(t, "PROBABILISTIC", st["strategyType"])
	ops := st["operationSampling"].(map[string]any)["perOperationStrategies"].([]any)
	require.Equal(t, "POST /pay", ops[0].(map[string]any)["operation"])

	// Insights queries read spans too.
	resp, err = http.Post(base+"/api/v1/logs/query", "application/json", strings.NewReader(
		`{"query":"SOURCE \"spans\" | filter status = \"fault\" | stats count(*) as n by service | sort service","start":"now-1h","end":"now+1h"}`))
	require.NoError(t, err)
	var q struct {
		Rows  [][]any `json:"rows"`
		Error string  `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&q))
	resp.Body.Close()
	require.Empty(t, q.Error)
	require.Equal(t, [][]any{{"main-port", 1.0}, {"otlp-port", 1.0}, {"sessions-api", 2.0}}, q.Rows)
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
