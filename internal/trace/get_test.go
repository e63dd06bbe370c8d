package trace

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetAssemblesTheTrace(t *testing.T) {
	e := newFixtureEngine(t, nil)
	for _, id := range []string{traceA, "1-4bf92f35-77b34da6a3ce929d0e0e4736", "4BF92F3577B34DA6A3CE929D0E0E4736"} {
		tr, err := e.Get(context.Background(), id)
		require.NoError(t, err, id)
		require.Equal(t, traceA, tr.TraceID)
	}
	tr, err := e.Get(context.Background(), traceA)
	require.NoError(t, err)
	require.Equal(t, "1-4bf92f35-77b34da6a3ce929d0e0e4736", tr.XRayTraceID)
	require.Equal(t, 5, tr.SpanCount)
	require.Equal(t, "frontend", tr.RootService)
	require.Equal(t, "GET /api/sessions/{id}", tr.RootName)
	require.InDelta(t, 120, tr.DurationMs, 0.001)
	require.Equal(t, "fault", tr.Status)
	// The client span to sessions-api:8080 was answered by sessions-api: no peer node.
	require.Equal(t, []string{"DynamoDB", "frontend", "sessions-api"}, tr.Services)

	// The tree: root -> client -> sessions-api server -> (DynamoDB, render).
	require.Len(t, tr.Roots, 1)
	root := tr.Roots[0]
	require.Equal(t, "a000000000000001", root.SpanID)
	require.Len(t, root.Children, 1)
	client := root.Children[0]
	require.Len(t, client.Children, 1)
	server := client.Children[0]
	require.Equal(t, "sessions-api", server.Service)
	require.Len(t, server.Children, 2)
	require.Equal(t, "DynamoDB.GetItem", server.Children[0].Name)
	require.Equal(t, "render", server.Children[1].Name)
	require.InDelta(t, 12, server.OffsetMs, 0.001)
	require.Equal(t, int64(500), server.HTTP.Status)
	require.Equal(t, "/sessions/{id}", server.HTTP.Route)
	require.Equal(t, "frontend", root.Attributes["resource.attributes.service.name"])
	// sessions-api's own time: 95 ms minus DynamoDB's 60 and render's 20.
	require.InDelta(t, 15, server.SelfMs, 0.001)
	require.InDelta(t, 20, root.SelfMs, 0.001)

	// The critical path: root 110-120, client 107-110, server 105-107,
	// render 85-105, server 80-85, DynamoDB 20-80, server 12-20, client
	// 10-12, root 0-10.
	var path []string
	total := 0.0
	for _, s := range tr.CriticalPath {
		path = append(path, s.SpanID[15:])
		total += s.DurationMs
	}
	require.Equal(t, []string{"1", "2", "3", "4", "3", "5", "3", "2", "1"}, path)
	require.InDelta(t, 120, total, 0.001)
	require.True(t, server.Children[0].Critical)
	require.InDelta(t, 60, server.Children[0].CriticalMs, 0.001)
	require.InDelta(t, 15, server.CriticalMs, 0.001)

	// The errors, and the logs of three groups that carry the id three ways
	// (the one two hours away is outside the window).
	require.Len(t, tr.Errors, 4)
	require.Equal(t, "a000000000000004", tr.Errors[3].SpanID)
	require.Equal(t, "fault", tr.Errors[3].Status)
	require.Len(t, tr.Logs, 3)
	require.Equal(t, "lambda", tr.Logs[0].Group)
	require.Contains(t, tr.Logs[0].Message, "XRAY TraceId: 1-4bf92f35")
	require.Equal(t, "sessions-api", tr.Logs[1].Group)
	require.Contains(t, tr.Logs[1].Message, "DynamoDB GetItem failed")
	require.Equal(t, "frontend", tr.Logs[2].Group)
	require.False(t, tr.LogsTruncated)

	b, err := e.Get(context.Background(), traceB)
	require.NoError(t, err)
	require.Equal(t, map[string][]any{"PaymentStatus": {"FAILED"}, "amount": {int64(120)}}, b.Annotations)
	require.Len(t, b.Logs, 1)
	require.Contains(t, b.Logs[0].Message, "unrelated")
	data, err := json.Marshal(b)
	require.NoError(t, err)
	require.Contains(t, string(data), `"annotations":{"PaymentStatus":"FAILED","amount":120}`)
}

func TestGetErrors(t *testing.T) {
	e := newFixtureEngine(t, nil)
	_, err := e.Get(context.Background(), "nope")
	require.ErrorIs(t, err, ErrFilter)
	_, err = e.Get(context.Background(), "00000000000000000000000000000000")
	require.ErrorIs(t, err, ErrFilter)
	_, err = e.Get(context.Background(), "11111111111111111111111111111111")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestAssembleKeepsTheCompleteCopyAndOrphans(t *testing.T) {
	spans := []*Span{
		spanFromFields(map[string]any{"spanId": "0000000000000001", "service": "a", "name": "root", "startUs": int64(1000), "inProgress": true, "status": "ok"}),
		spanFromFields(map[string]any{"spanId": "0000000000000001", "service": "a", "name": "root", "startUs": int64(1000), "durationMs": 10.0, "status": "ok"}),
		spanFromFields(map[string]any{"spanId": "0000000000000002", "parentSpanId": "0000000000000009", "service": "b", "name": "orphan",
			"startUs": int64(4000), "durationMs": 20.0, "status": "error"}),
	}
	id, _ := parseTraceIDForTest(traceA)
	tr := assemble(id, spans)
	require.Equal(t, 2, tr.SpanCount)
	require.Len(t, tr.Roots, 2)
	require.False(t, tr.Roots[0].InProgress)
	require.Equal(t, "orphan", tr.Roots[1].Name)
	require.InDelta(t, 23, tr.DurationMs, 0.001)
	require.Equal(t, "error", tr.Status)
}
