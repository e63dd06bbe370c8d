package span

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/event"
)

func TestIDs(t *testing.T) {
	id, ok := ParseTraceID("1-5759e988-bd862e3fe1be46a994272793")
	require.True(t, ok)
	require.Equal(t, "5759e988bd862e3fe1be46a994272793", id.String())
	require.Equal(t, "1-5759e988-bd862e3fe1be46a994272793", XRayTraceID(id))
	up, ok := ParseTraceID("5759E988BD862E3FE1BE46A994272793")
	require.True(t, ok)
	require.Equal(t, id, up)
	for _, bad := range []string{"", "00000000000000000000000000000000", "5759e988bd862e3fe1be46a99427279", "2-5759e988-bd862e3fe1be46a994272793", "g759e988bd862e3fe1be46a994272793"} {
		_, ok := ParseTraceID(bad)
		require.False(t, ok, bad)
	}
	s, ok := ParseSpanID("abc")
	require.True(t, ok)
	require.Equal(t, "0000000000000abc", s.String())
	for _, bad := range []string{"", "0", "00000000000000000", "xyz"} {
		_, ok := ParseSpanID(bad)
		require.False(t, ok, bad)
	}
	require.Equal(t, event.TypedString(id.String()), id.Value())
	require.Equal(t, event.TypedString("00f067aa0ba902b7"), mustSpan(t, "00f067aa0ba902b7").Value())
}

func mustSpan(t *testing.T, s string) SpanID {
	id, ok := ParseSpanID(s)
	require.True(t, ok)
	return id
}

func TestStatusOf(t *testing.T) {
	require.Equal(t, StatusOK, StatusOf(200, false))
	require.Equal(t, StatusFault, StatusOf(200, true))
	require.Equal(t, StatusError, StatusOf(404, false))
	require.Equal(t, StatusError, StatusOf(404, true))
	require.Equal(t, StatusThrottle, StatusOf(429, false))
	require.Equal(t, StatusFault, StatusOf(503, false))
	require.Equal(t, "throttle", StatusThrottle.String())
}

func TestRouteFromName(t *testing.T) {
	require.Equal(t, "/api/{id}", RouteFromName("GET", "GET /api/{id}"))
	require.Equal(t, "/api", RouteFromName("get", "GET /api"))
	require.Equal(t, "", RouteFromName("GET", "GET"))
	require.Equal(t, "", RouteFromName("GET", "POST /api"))
	require.Equal(t, "", RouteFromName("GET", "GET api"))
	require.Equal(t, "", RouteFromName("", "GET /api"))
}

func TestAppendEvent(t *testing.T) {
	sp := Span{Service: "api", Name: "GET /x", Kind: KindServer, Start: 1_700_000_000_123_456_789, End: 1_700_000_000_223_456_000,
		Status: StatusError, HTTP: HTTP{Method: "GET", Status: 404, ClientIP: "10.0.0.1"}}
	sp.TraceID, _ = ParseTraceID("4bf92f3577b34da6a3ce929d0e0e4736")
	sp.SpanID = mustSpan(t, "00f067aa0ba902b7")
	sp.Fields = []event.Field{{Name: "annotation.a", Value: event.Int(1)}, {Name: "attributes.b", Value: event.Int(2)}}
	evs, dropped := sp.AppendEvent(nil, 12)
	require.Equal(t, 1, dropped)
	ev := evs[0]
	require.Equal(t, Group, ev.Group)
	require.Equal(t, int64(1_700_000_000_123), ev.Time)
	require.Equal(t, "GET /x", ev.Message)
	var names []string
	for _, f := range ev.Fields {
		names = append(names, f.Name+"="+f.Text(ev.Time))
	}
	require.Equal(t, []string{"traceId=4bf92f3577b34da6a3ce929d0e0e4736", "spanId=00f067aa0ba902b7", "service=api", "name=GET /x",
		"kind=server", "startUs=1700000000123456", "durationMs=99.999", "status=error", "http.method=GET",
		"http.status_code=404", "http.client_ip=10.0.0.1", "annotation.a=1"}, names)

	sp.InProgress, sp.End = true, 0
	sp.Fields = nil
	evs, _ = sp.AppendEvent(nil, 0)
	got := map[string]string{}
	for _, f := range evs[0].Fields {
		got[f.Name] = f.Text(0)
	}
	require.Equal(t, "true", got[FieldInProgress])
	require.NotContains(t, got, FieldDuration)
	require.Equal(t, "Hello_World_1", AnnotationKey("Hello.World-1"))
	require.Equal(t, "api.example.com:8443", PeerFromURL("https://u:p@api.example.com:8443/x?y#z"))
	require.Equal(t, "", PeerFromURL("/relative"))
}
