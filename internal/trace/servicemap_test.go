package trace

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServiceMap(t *testing.T) {
	groups, err := NewGroups([]Group{{Name: "checkout", Filter: `http.url CONTAINS "/checkout"`}}, "")
	require.NoError(t, err)
	e := newFixtureEngine(t, groups)
	m, err := e.ServiceMap(context.Background(), MapRequest{Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	nodes := map[string]*Node{}
	var names []string
	for _, n := range m.Nodes {
		nodes[n.Name] = n
		names = append(names, n.Name+":"+n.Type)
	}
	require.Equal(t, []string{"DynamoDB:aws", "api.stripe.com:http", "frontend:service", "payments:service",
		"products@postgres:5432:database", "sessions-api:service"}, names)
	fe := nodes["frontend"]
	require.Equal(t, int64(4), fe.Requests)
	require.Equal(t, int64(2), fe.Faults)
	require.Equal(t, int64(1), fe.Throttles)
	require.Equal(t, int64(1), fe.Errors) // the throttle
	require.InDelta(t, 0.5, fe.FaultRate, 1e-9)
	require.InDelta(t, (120+4200+20+2)/4.0, fe.AvgMs, 0.001)
	var inHist int64
	for _, b := range fe.Histogram {
		inHist += b.Count
	}
	require.Equal(t, int64(4), inHist)
	require.Equal(t, int64(1), fe.Histogram[1].Count)  // 2 ms <= 2.5
	require.Equal(t, int64(1), fe.Histogram[11].Count) // 4200 ms <= 5000
	require.Nil(t, fe.Histogram[len(fe.Histogram)-1].LeMs)

	edges := map[string]*Edge{}
	var keys []string
	for _, ed := range m.Edges {
		edges[ed.Source+">"+ed.Target] = ed
		keys = append(keys, ed.Source+">"+ed.Target)
	}
	require.Equal(t, []string{"frontend>payments", "frontend>products@postgres:5432", "frontend>sessions-api",
		"payments>api.stripe.com", "sessions-api>DynamoDB"}, keys)
	// Client-observed: the frontend's client span of 4100 ms, not payments' 4050.
	require.InDelta(t, 4100, edges["frontend>payments"].AvgMs, 0.001)
	require.Equal(t, int64(1), edges["sessions-api>DynamoDB"].Faults)
	require.Equal(t, int64(1), nodes["DynamoDB"].Requests)

	// A group's map holds only its traces.
	m, err = e.ServiceMap(context.Background(), MapRequest{Start: fixtureStart, End: fixtureEnd, Group: "checkout"})
	require.NoError(t, err)
	names = nil
	for _, n := range m.Nodes {
		names = append(names, n.Name)
	}
	require.Equal(t, []string{"api.stripe.com", "frontend", "payments"}, names)
	require.Equal(t, int64(1), m.Nodes[1].Requests)

	_, err = e.ServiceMap(context.Background(), MapRequest{Start: fixtureStart, End: fixtureEnd, Group: "nope"})
	require.ErrorIs(t, err, ErrGroupNotFound)
	_, err = e.ServiceMap(context.Background(), MapRequest{Start: fixtureStart, End: fixtureEnd, Filter: "fault AND"})
	require.ErrorIs(t, err, ErrFilter)
}

func TestDistribution(t *testing.T) {
	groups, err := NewGroups([]Group{{Name: "faults", Filter: `fault`}}, "")
	require.NoError(t, err)
	e := newFixtureEngine(t, groups)
	d, err := e.Distribution(context.Background(), DistributionRequest{Service: "frontend", Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Equal(t, int64(4), d.Requests)
	require.InDelta(t, 70, d.P50Ms, 0.001) // between 20 and 120
	require.Greater(t, d.P99Ms, 4000.0)

	d, err = e.Distribution(context.Background(), DistributionRequest{Service: "sessions-api", Route: "/sessions/{id}", Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Equal(t, int64(1), d.Requests)
	require.Equal(t, int64(1), d.Faults)
	require.InDelta(t, 95, d.P50Ms, 0.001)

	// A span name stands for the route of spans without one.
	d, err = e.Distribution(context.Background(), DistributionRequest{Route: "GET /api/cart", Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Equal(t, int64(0), d.Requests)
	d, err = e.Distribution(context.Background(), DistributionRequest{Route: "/api/cart", Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Equal(t, int64(1), d.Requests)
	require.Equal(t, int64(1), d.Throttles)

	// A group's figures: its traces' root spans.
	d, err = e.Distribution(context.Background(), DistributionRequest{Group: "faults", RootsOnly: true, Start: fixtureStart, End: fixtureEnd})
	require.NoError(t, err)
	require.Equal(t, int64(2), d.Requests)
	require.InDelta(t, 1.0, d.FaultRate, 1e-9)
}
