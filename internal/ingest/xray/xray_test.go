package xray

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func texts(ev event.Event) map[string]string {
	m := map[string]string{}
	for _, f := range ev.Fields {
		m[f.Name] = f.Kind.String() + ":" + f.Text(ev.Time)
	}
	return m
}

func readFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

func TestDecodeSegmentWithSubsegments(t *testing.T) {
	d := &Decoder{}
	events, err := d.Decode(readFixture(t, "segment.json"), nil)
	require.NoError(t, err)
	require.Len(t, events, 5)

	seg := texts(events[0])
	require.Equal(t, map[string]string{
		"traceId":                        "id128:5759e988bd862e3fe1be46a994272793",
		"spanId":                         "id64:70de5b6f19ff9a0a",
		"service":                        "string:sessions-api",
		"name":                           "string:sessions-api",
		"kind":                           "string:server",
		"startUs":                        "int:1772366400123456",
		"durationMs":                     "float:400",
		"status":                         "string:fault",
		"http.method":                    "string:POST",
		"http.status_code":               "int:500",
		"http.url":                       "string:https://api.example.com/sessions",
		"http.user_agent":                "string:curl/8.5",
		"http.client_ip":                 "ipv4:78.255.233.48",
		"user":                           "string:alice",
		"origin":                         "string:AWS::ECS::Container",
		"exception.type":                 "string:ResourceNotFoundException",
		"exception.message":              "string:Table sessions not found",
		"exceptions":                     `string:[{"id":"e1","message":"Table sessions not found","type":"ResourceNotFoundException","remote":true,"stack":[{"path":"app/db.py","line":42,"label":"load"}]}]`,
		"http.request.x_forwarded_for":   "bool:true",
		"http.response.content_length":   "int:128",
		"service.version":                "string:1.4.2",
		"annotation.PaymentStatus":       "string:FAILED",
		"annotation.customer_tier":       "int:3",
		"annotation.retried":             "bool:false",
		"metadata.debug.request.items.0": "int:1",
		"metadata.debug.request.items.1": "int:2",
		"metadata.debug.request.note":    "string:cold start",
		"aws.ecs.container":              "string:sessions-1",
		"cause.working_directory":        "string:/app",
	}, seg)
	require.Equal(t, "sessions-api", events[0].Message)

	dynamo := texts(events[1])
	require.Equal(t, "id64:70de5b6f19ff9a0a", dynamo["parentSpanId"])
	require.Equal(t, "string:sessions-api", dynamo["service"])
	require.Equal(t, "string:client", dynamo["kind"])
	require.Equal(t, "string:DynamoDB", dynamo["peer"])
	require.Equal(t, "string:aws", dynamo["peerType"])
	require.Equal(t, "string:fault", dynamo["status"])
	require.Equal(t, "string:GetItem", dynamo["aws.operation"])
	require.Equal(t, "int:2", dynamo["aws.retries"])

	marshal := texts(events[2])
	require.Equal(t, "id64:53995c3f42cd8ad8", marshal["parentSpanId"])
	require.Equal(t, "string:internal", marshal["kind"])
	require.Equal(t, "float:1", marshal["durationMs"])

	sql := texts(events[3])
	require.Equal(t, "string:database", sql["peerType"])
	require.Equal(t, "string:orders@db.internal", sql["peer"])
	require.Equal(t, "string:SELECT * FROM orders WHERE id = ?", sql["sql.sanitized_query"])
	require.Equal(t, "string:PostgreSQL", sql["sql.database_type"])

	stripe := texts(events[4])
	require.Equal(t, "string:throttle", stripe["status"])
	require.Equal(t, "string:http", stripe["peerType"])
	require.Equal(t, "int:429", stripe["http.status_code"])
}

func TestDecodeSeparateSubsegment(t *testing.T) {
	services := map[string]string{}
	d := &Decoder{Seen: func(id, s string) { services[id] = s }, ServiceOf: func(id string) string { return services[id] }}
	events, err := d.Decode(readFixture(t, "segment.json"), nil)
	require.NoError(t, err)
	events, err = d.Decode(readFixture(t, "subsegment.json"), events)
	require.NoError(t, err)
	sub := texts(events[len(events)-1])
	require.Equal(t, "string:sessions-api", sub["service"])
	require.Equal(t, "id64:70de5b6f19ff9a0a", sub["parentSpanId"])
	require.Equal(t, "bool:true", sub["inProgress"])
	require.NotContains(t, sub, "durationMs")

	// Without the parent segment the service is unknown.
	events, err = (&Decoder{}).Decode(readFixture(t, "subsegment.json"), nil)
	require.NoError(t, err)
	require.Equal(t, "string:unknown_service", texts(events[0])["service"])
}

func TestDecodeRejects(t *testing.T) {
	for doc, want := range map[string]string{
		`{`:                  "decode segment",
		`{"trace_id":"1-x"}`: `trace_id "1-x" is not an X-Ray trace id`,
		`{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"zz","name":"a","start_time":1,"end_time":2}`:               `id "zz" is not 16 hex digits`,
		`{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"70de5b6f19ff9a0a","start_time":1,"end_time":2}`:            "has no name",
		`{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"70de5b6f19ff9a0a","name":"a","start_time":2,"end_time":1}`: "needs an end_time",
		`{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"70de5b6f19ff9a0a","name":"a","end_time":1}`:                "no valid start_time",
		`{"trace_id":"1-5759e988-bd862e3fe1be46a994272793","id":"70de5b6f19ff9a0a","name":"a","start_time":1,"end_time":2,` +
			`"subsegments":[{"id":"bad"}]}`: `id "bad" is not 16 hex digits`,
	} {
		events, err := (&Decoder{}).Decode([]byte(doc), nil)
		require.ErrorContains(t, err, want, doc)
		require.Empty(t, events)
	}
	_, err := ParseDatagram([]byte(`{"format":"json","version":2}` + "\n{}"))
	require.ErrorContains(t, err, "unsupported header")
	_, err = ParseDatagram([]byte(`{}`))
	require.ErrorContains(t, err, "no header line")
	doc, err := ParseDatagram([]byte(Header + "\n{\"a\":1}\n"))
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, string(doc))
}

func TestUDPServer(t *testing.T) {
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	m := selfmon.New(func() float64 { return 0 })
	p := pipeline.New(st, pipeline.Options{Metrics: m})
	defer func() {
		p.Close()
		require.NoError(t, st.Close())
	}()
	srv := New(Options{Pipeline: p, Metrics: m})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.ServeUDP(pc) }()

	conn, err := net.Dial("udp", pc.LocalAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	send := func(doc []byte) {
		_, err := conn.Write(append([]byte(Header+"\n"), bytes.TrimSpace(doc)...))
		require.NoError(t, err)
	}
	send(readFixture(t, "segment.json"))
	send(readFixture(t, "subsegment.json"))
	send([]byte(`{"not":"a segment"}`))
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.EventsAccepted.WithLabelValues(Protocol)) == 6
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(m.EventsRejected.WithLabelValues(Protocol, "invalid")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.NoError(t, <-served)

	// The trace reads back with the X-Ray id, as a tree, with annotations.
	eng := trace.New(trace.Options{Store: st, Dialect: insights.DuckDB})
	tr, err := eng.Get(context.Background(), "1-5759e988-bd862e3fe1be46a994272793")
	require.NoError(t, err)
	require.Equal(t, 6, tr.SpanCount)
	require.Len(t, tr.Roots, 1)
	require.Len(t, tr.Roots[0].Children, 4)
	require.Equal(t, []any{"FAILED"}, tr.Annotations["PaymentStatus"])
	data, err := json.Marshal(tr.Roots[0].Metadata)
	require.NoError(t, err)
	require.JSONEq(t, `{"debug.request.items.0":1,"debug.request.items.1":2,"debug.request.note":"cold start"}`, string(data))
	res, err := eng.Search(context.Background(), trace.SearchRequest{
		Filter: `edge("sessions-api", "DynamoDB") { fault } AND annotation.customer_tier = 3`,
		Start:  time.Unix(1772366000, 0), End: time.Unix(1772367000, 0)})
	require.NoError(t, err)
	require.Len(t, res.Traces, 1)
	require.Equal(t, "sessions-api", res.Traces[0].RootService)
}

// FuzzDecode checks that no datagram panics the decoder, and that a
// document decodes all or nothing.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(Header + "\n" + string(readFixture(f, "segment.json"))))
	f.Add([]byte(Header + "\n" + string(readFixture(f, "subsegment.json"))))
	f.Add([]byte(Header + "\n{\"trace_id\":\"1-5759e988-bd862e3fe1be46a994272793\",\"id\":\"70de5b6f19ff9a0a\",\"name\":\"\\u00ff\",\"start_time\":1e300}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDatagram(data)
		if err != nil {
			return
		}
		d := &Decoder{MaxFields: 40}
		events, err := d.Decode(doc, nil)
		if err != nil && len(events) != 0 {
			t.Fatalf("error %v with %d events", err, len(events))
		}
		for _, ev := range events {
			if ev.Group != "spans" || len(ev.Fields) > 40+26 {
				t.Fatalf("event of %q with %d fields", ev.Group, len(ev.Fields))
			}
		}
	})
}
