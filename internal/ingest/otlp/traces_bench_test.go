package otlp

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

// telemetrygenTraces builds n traces shaped as telemetrygen's: a server
// span "lets-go" and a client span "okey-dokey-0" with the attributes
// telemetrygen sets, under a resource with service.name only.
func telemetrygenTraces(n int, seq uint64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	start := time.Now()
	for i := 0; i < n; i++ {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], seq*0x9e3779b97f4a7c15+uint64(i)*0xbf58476d1ce4e5b9)
		binary.BigEndian.PutUint64(tid[8:], uint64(i)*0x94d049bb133111eb+seq|1)
		var parent, child pcommon.SpanID
		binary.BigEndian.PutUint64(parent[:], uint64(i)*0x2545f4914f6cdd1d+seq|1)
		binary.BigEndian.PutUint64(child[:], uint64(i)*0x9e3779b97f4a7c15+seq|3)
		t := start.Add(time.Duration(i) * time.Microsecond)
		p := spans.AppendEmpty()
		p.SetTraceID(tid)
		p.SetSpanID(parent)
		p.SetName("lets-go")
		p.SetKind(ptrace.SpanKindClient)
		p.SetStartTimestamp(pcommon.NewTimestampFromTime(t))
		p.SetEndTimestamp(pcommon.NewTimestampFromTime(t.Add(123 * time.Microsecond)))
		p.Attributes().PutStr("network.peer.address", "1.2.3.4")
		p.Attributes().PutStr("peer.service", "telemetrygen-server")
		c := spans.AppendEmpty()
		c.SetTraceID(tid)
		c.SetSpanID(child)
		c.SetParentSpanID(parent)
		c.SetName("okey-dokey-0")
		c.SetKind(ptrace.SpanKindServer)
		c.SetStartTimestamp(pcommon.NewTimestampFromTime(t))
		c.SetEndTimestamp(pcommon.NewTimestampFromTime(t.Add(123 * time.Microsecond)))
		c.Attributes().PutStr("network.peer.address", "1.2.3.4")
		c.Attributes().PutStr("peer.service", "telemetrygen-client")
	}
	return td
}

// BenchmarkMapTraces measures decoding and mapping OTLP protobuf spans,
// without the store.
func BenchmarkMapTraces(b *testing.B) {
	body, err := ptraceotlp.NewExportRequestFromTraces(telemetrygenTraces(256, 1)).MarshalProto()
	require.NoError(b, err)
	lim := limits{maxEventBytes: DefaultMaxEventBytes, maxFields: DefaultMaxFields}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, err := decodeTraces(body, encodingProto)
		if err != nil {
			b.Fatal(err)
		}
		events, _ := mapTraces(req.Traces(), time.Now(), lim)
		if len(events) != 512 {
			b.Fatal(len(events))
		}
	}
	b.ReportMetric(float64(b.N*512)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkTracesHTTPIngest measures OTLP/HTTP protobuf ingest end to end:
// HTTP, decoding, mapping, the pipeline and DuckDB, with 4 concurrent
// clients of 512 spans a request.
func BenchmarkTracesHTTPIngest(b *testing.B) {
	st, err := duckdb.Open(context.Background(), duckdb.Options{Dir: b.TempDir()})
	require.NoError(b, err)
	p := pipeline.New(st, pipeline.Options{})
	b.Cleanup(func() {
		p.Close()
		require.NoError(b, st.Close())
	})
	recv := New(Options{Pipeline: p})
	srv := httptest.NewServer(recv.Handler())
	defer srv.Close()
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i], err = ptraceotlp.NewExportRequestFromTraces(telemetrygenTraces(256, uint64(i+1))).MarshalProto()
		require.NoError(b, err)
	}
	b.ReportAllocs()
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			resp, err := http.Post(srv.URL+TracesPath, "application/x-protobuf", bytes.NewReader(bodies[i%len(bodies)]))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N*512)/b.Elapsed().Seconds(), "spans/s")
}
