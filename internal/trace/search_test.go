package trace

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSearchFilterExpressions(t *testing.T) {
	groups, err := NewGroups([]Group{{Name: "slow", Filter: "responsetime > 3"}}, "")
	require.NoError(t, err)
	e := newFixtureEngine(t, groups)
	tests := []struct {
		filter string
		want   []string
	}{
		{``, []string{traceA, traceB, traceC, traceD}},
		{`responsetime > 3`, []string{traceB}},
		{`responsetime < 0.05`, []string{traceC, traceD}},
		{`duration > 3`, []string{traceB}},
		{`duration >= 5 AND duration <= 8`, nil},
		{`service("sessions-api") { fault }`, []string{traceA}},
		{`service("sessions-api") { ok }`, nil},
		{`service("payments") { responsetime > 4 AND annotation.amount = 120 }`, []string{traceB}},
		{`service("DynamoDB") { fault }`, []string{traceA}},
		{`service("DynamoDB") { remote }`, []string{traceA}},
		{`service("frontend") { root AND http.method = "POST" }`, []string{traceB}},
		{`service() { throttle }`, []string{traceD}},
		{`id(name: "payments")`, []string{traceB}},
		{`edge("frontend", "payments") { responsetime > 1 }`, []string{traceB}},
		{`edge("frontend", "sessions-api")`, []string{traceA}},
		{`edge("frontend", "sessions-api") { ok }`, nil},
		{`edge("sessions-api", "DynamoDB") { fault }`, []string{traceA}},
		{`edge("payments", "api.stripe.com") { responsetime > 3 }`, []string{traceB}},
		{`annotation.PaymentStatus = "FAILED"`, []string{traceB}},
		{`annotation.PaymentStatus != "OK"`, []string{traceB}},
		{`annotation.PaymentStatus`, []string{traceB}},
		{`!annotation.PaymentStatus`, []string{traceA, traceC, traceD}},
		{`annotation.amount > 100`, []string{traceB}},
		{`annotation.amount = "120"`, nil},
		{`annotation.missing = "x"`, nil},
		{`http.status = 500`, []string{traceA}},
		{`http.status >= 500`, []string{traceA, traceB}},
		{`http.url CONTAINS "/sessions"`, []string{traceA}},
		{`http.url BEGINSWITH "http://frontend/api/c"`, []string{traceB, traceD}},
		{`http.url ENDSWITH "/products"`, []string{traceC}},
		{`http.method = "POST"`, []string{traceB}},
		{`fault`, []string{traceA, traceB}},
		{`throttle`, []string{traceD}},
		{`error`, []string{traceD}},
		{`ok`, []string{traceC}},
		{`fault = false`, []string{traceC, traceD}},
		{`!fault AND !throttle`, []string{traceC}},
		{`fault AND NOT service("sessions-api")`, []string{traceB}},
		{`fault AND !service("DynamoDB") { fault }`, []string{traceB}},
		{`(fault OR throttle) AND http.method = "GET"`, []string{traceA, traceD}},
		{`user = "alice"`, []string{traceC}},
		{`user CONTAINS ""`, []string{traceC}},
		{`name = "SELECT products"`, []string{traceC}},
		{`type = "aws"`, []string{traceA}},
		{`root`, []string{traceA, traceB, traceC, traceD}},
		{`remote AND ok`, []string{traceC}},
		{`group.name = "slow"`, []string{traceB}},
		{`group.name != "slow" AND fault`, []string{traceA}},
	}
	for _, tc := range tests {
		res, err := e.Search(context.Background(), SearchRequest{Filter: tc.filter, Start: fixtureStart, End: fixtureEnd})
		require.NoError(t, err, tc.filter)
		var got []string
		for _, s := range res.Traces {
			got = append(got, s.TraceID)
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		require.Equal(t, want, got, tc.filter)
	}
}

func TestSearchSummaries(t *testing.T) {
	e := newFixtureEngine(t, nil)
	res, err := e.Search(context.Background(), SearchRequest{Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Len(t, res.Traces, 4)
	// Newest first.
	require.Equal(t, []string{traceD, traceC, traceB, traceA},
		[]string{res.Traces[0].TraceID, res.Traces[1].TraceID, res.Traces[2].TraceID, res.Traces[3].TraceID})
	b := res.Traces[2]
	require.Equal(t, "frontend", b.RootService)
	require.Equal(t, "POST /api/checkout", b.RootName)
	require.Equal(t, "1-5759e988-bd862e3fe1be46a994272793", b.XRayTraceID)
	require.Equal(t, t0.Add(time.Second).UnixMicro(), b.StartUs)
	require.Equal(t, "2026-03-01T12:00:01Z", b.Start)
	require.InDelta(t, 4200, b.DurationMs, 0.001)
	require.InDelta(t, 4200, b.ResponseMs, 0.001)
	require.Equal(t, "fault", b.Status)
	require.True(t, b.HasFault)
	require.False(t, b.HasThrottle)
	require.Equal(t, int64(502), b.HTTPStatus)
	require.Equal(t, "POST", b.HTTPMethod)
	require.Equal(t, int64(4), b.Spans)
	d := res.Traces[0]
	require.Equal(t, "throttle", d.Status)
	require.True(t, d.HasThrottle)
	require.True(t, d.HasError)

	res, err = e.Search(context.Background(), SearchRequest{Start: fixtureStart, End: fixtureEnd, Limit: 2})
	require.NoError(t, err)
	require.Len(t, res.Traces, 2)
	require.Equal(t, traceD, res.Traces[0].TraceID)

	// Outside the range there is nothing.
	res, err = e.Search(context.Background(), SearchRequest{Filter: "fault", Start: fixtureEnd, End: fixtureEnd.Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, res.Traces)
}

func TestSearchErrorsNameThePosition(t *testing.T) {
	e := newFixtureEngine(t, nil)
	for filter, want := range map[string]string{
		`fault AND coverage > 1`:             "1:11: coverage is not supported by sonde",
		`service("a") { last }`:              "1:16: last is not supported by sonde",
		`responsetime >`:                     "1:15: responsetime compares with a number",
		`group.name = "nope"`:                `1:1: unknown trace group "nope"`,
		`service("a") { service("b") }`:      "1:16: service(), id() and edge() cannot be nested in braces",
		`last`:                               "1:1: last is supported only inside service() or id()",
		`edge("a","b") { group.name = "x" }`: "1:17: group.name cannot be used in braces",
	} {
		_, err := e.Search(context.Background(), SearchRequest{Filter: filter, Start: fixtureStart, End: fixtureEnd})
		require.ErrorIs(t, err, ErrFilter, filter)
		require.ErrorContains(t, err, want, filter)
	}
	_, err := e.Search(context.Background(), SearchRequest{Start: fixtureEnd, End: fixtureStart})
	require.ErrorIs(t, err, ErrFilter)
}

func TestGroupsReferringToThemselvesAreRefused(t *testing.T) {
	groups, err := NewGroups([]Group{{Name: "a", Filter: `group.name = "b"`}, {Name: "b", Filter: `fault OR group.name = "a"`}}, "")
	require.NoError(t, err)
	e := newFixtureEngine(t, groups)
	_, err = e.Search(context.Background(), SearchRequest{Filter: `group.name = "a"`, Start: fixtureStart, End: fixtureEnd})
	require.ErrorIs(t, err, ErrFilter)
	require.ErrorContains(t, err, `trace group "a" refers to itself`)
}

func TestSearchWithoutSpans(t *testing.T) {
	e := New(Options{Store: newEmptyStore(t), Dialect: insightsDuckDB()})
	res, err := e.Search(context.Background(), SearchRequest{Filter: "fault", Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Empty(t, res.Traces)
	_, err = e.Search(context.Background(), SearchRequest{Filter: "fault AND", Start: fixtureStart, End: fixtureEnd})
	require.ErrorIs(t, err, ErrFilter)
	_, err = e.Get(context.Background(), traceA)
	require.ErrorIs(t, err, ErrNotFound)
}
