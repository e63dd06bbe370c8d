package zipkin

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/query/insights"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
	"github.com/sonde-dev/sonde/internal/trace"
	"github.com/sonde-dev/sonde/internal/trace/span"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func texts(ev event.Event) map[string]string {
	m := map[string]string{}
	for _, f := range ev.Fields {
		m[f.Name] = f.Kind.String() + ":" + f.Text(ev.Time)
	}
	return m
}

func TestDecodeFixture(t *testing.T) {
	body, err := os.ReadFile("testdata/spans.json")
	require.NoError(t, err)
	events, rejected, _, err := Decode(body, time.Now(), 200)
	require.NoError(t, err)
	require.Empty(t, rejected)
	require.Len(t, events, 5)

	root := texts(events[0])
	require.Equal(t, "id128:00000000000000005af7183fb1d4cf5f", root["traceId"])
	require.Equal(t, "string:frontend", root["service"])
	require.Equal(t, "string:server", root["kind"])
	require.Equal(t, "int:1772366400123456", root["startUs"])
	require.Equal(t, "float:207", root["durationMs"])
	require.Equal(t, "string:/api", root["http.url"])
	require.Equal(t, "string:/api", root["http.route"]) // from the name "get /api"
	require.Equal(t, "string:ok", root["status"])
	require.Equal(t, "string:Frontend", root["attributes.mvc.controller.class"])
	require.Equal(t, "192.168.99.1:8081", events[0].Stream)

	client := texts(events[1])
	require.Equal(t, "string:client", client["kind"])
	require.Equal(t, "string:fault", client["status"])
	require.Equal(t, "string:503 Service Unavailable", client["statusMessage"])
	require.Equal(t, "string:backend", client["peer"])
	require.Equal(t, "string:http", client["peerType"])
	require.Equal(t, `string:[{"name":"wire send","timeUs":1772366400126000},{"name":"wire receive","timeUs":1772366400324000}]`, client["events"])

	// The shared server span gets its own id under the client span.
	shared := texts(events[2])
	require.Equal(t, "id64:352bff9a74ca9ad2", shared["parentSpanId"])
	require.Equal(t, "id64:6f71a5c02e90c088", shared["spanId"])
	require.Equal(t, "string:backend", shared["service"])

	db := texts(events[3])
	require.Equal(t, "string:mysql", db["peer"])
	require.Equal(t, "string:database", db["peerType"])

	internal := texts(events[4])
	require.Equal(t, "string:internal", internal["kind"])
	require.Equal(t, "bool:true", internal["attributes.debug"])
	require.Equal(t, "float:0.012", internal["durationMs"])
}

func TestDecodeRejects(t *testing.T) {
	_, _, _, err := Decode([]byte(`{"not":"an array"}`), time.Now(), 0)
	require.Error(t, err)
	events, rejected, _, err := Decode([]byte(`[
		{"traceId":"xyz","id":"1"},
		{"traceId":"5af7183fb1d4cf5f","id":""},
		{"traceId":"5af7183fb1d4cf5f","id":"1","parentId":"zz"},
		{"traceId":"5af7183fb1d4cf5f","id":"1","kind":"SIDEWAYS"},
		{"traceId":"5af7183fb1d4cf5f","id":"1","timestamp":-5},
		{"traceId":"5af7183fb1d4cf5f","id":"1"}]`), time.Unix(1800000000, 0), 0)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, int64(1800000000000), events[0].Time)
	require.Len(t, rejected, 5)
	require.Equal(t, `traceId "xyz" is not 16 or 32 hex digits`, rejected[0].Reason)
	require.Equal(t, `unknown kind "SIDEWAYS"`, rejected[3].Reason)
}

func TestHandlerStoresTheFixture(t *testing.T) {
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	m := selfmon.New(func() float64 { return 0 })
	p := pipeline.New(st, pipeline.Options{Metrics: m})
	defer func() {
		p.Close()
		require.NoError(t, st.Close())
	}()
	srv := httptest.NewServer(New(Options{Pipeline: p, Metrics: m}))
	defer srv.Close()

	body, err := os.ReadFile("testdata/spans.json")
	require.NoError(t, err)
	resp, err := http.Post(srv.URL+Path, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, 5.0, testutil.ToFloat64(m.EventsAccepted.WithLabelValues(Protocol)))

	resp, err = http.Post(srv.URL+Path, "application/json", bytes.NewReader([]byte(`[{"traceId":"x","id":"1"}]`)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, err = http.Post(srv.URL+Path, "application/x-protobuf", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	resp, err = http.Get(srv.URL + Path)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// The trace reads back as a tree across frontend and backend.
	eng := trace.New(trace.Options{Store: st, Dialect: insights.DuckDB})
	tr, err := eng.Get(context.Background(), "5af7183fb1d4cf5f")
	require.Error(t, err) // 16 digits are not a trace id for the API...
	tr, err = eng.Get(context.Background(), "00000000000000005af7183fb1d4cf5f")
	require.NoError(t, err) // ...the padded id is.
	require.Equal(t, 4, tr.SpanCount)
	require.Len(t, tr.Roots, 1)
	client := tr.Roots[0].Children[0]
	require.Equal(t, "backend", client.Children[0].Service)
	// Children of a shared span hang off the client span, whose id they
	// name.
	require.Equal(t, "mysql", client.Children[1].Peer)
	require.Equal(t, span.Group, "spans")
}

// FuzzDecode checks that no body panics the decoder and that every span
// comes out as an event or a rejection.
func FuzzDecode(f *testing.F) {
	body, err := os.ReadFile("testdata/spans.json")
	require.NoError(f, err)
	f.Add(body)
	f.Add([]byte(`[{"traceId":"5af7183fb1d4cf5f","id":"1","tags":{"http.status_code":"x","\u00ff":"\ud800"}}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, rejected, _, err := Decode(data, time.Unix(1800000000, 0), 30)
		if err != nil {
			return
		}
		for _, ev := range events {
			if ev.Group != span.Group {
				t.Fatalf("group %q", ev.Group)
			}
			if len(ev.Fields) > 30+26 {
				t.Fatalf("%d fields", len(ev.Fields))
			}
		}
		_ = rejected
	})
}
