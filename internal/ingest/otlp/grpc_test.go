package otlp

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sonde-dev/sonde/internal/pipeline"
)

// startGRPC serves the receiver's gRPC services on a loopback port and
// returns the address.
func startGRPC(t *testing.T, recv *Receiver) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := grpc.NewServer(GRPCServerOptions(16 << 20)...)
	recv.RegisterGRPC(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return ln.Addr().String()
}

// grpcClient connects a raw OTLP logs client to addr.
func grpcClient(t *testing.T, addr string) plogotlp.GRPCClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, conn.Close()) })
	return plogotlp.NewGRPCClient(conn)
}

func export(t *testing.T, c plogotlp.GRPCClient, ctx context.Context, ld plog.Logs) (plogotlp.ExportResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
}

func TestGRPCExport(t *testing.T) {
	env := newTestEnv(t, pipeline.Options{}, Options{MaxEventBytes: 1000})
	c := grpcClient(t, startGRPC(t, env.recv))

	resp, err := export(t, c, context.Background(), sampleLogs())
	require.NoError(t, err)
	require.Zero(t, resp.PartialSuccess().RejectedLogRecords())
	events := env.scan(t, "checkout")
	require.Len(t, events, 1)
	require.Equal(t, "pod-7", events[0].Stream)
	require.Equal(t, testTime.UnixMilli(), events[0].Time)
	require.Equal(t, "payment declined", events[0].Message)
	require.Equal(t, sampleFields, fieldTexts(events[0]))

	// The metadata names the group; a too large record is rejected alone.
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr(strings.Repeat("x", 1001))
	lrs.AppendEmpty().Body().SetStr("kept")
	ctx := metadata.AppendToOutgoingContext(context.Background(), MetadataLogGroup, "mobile")
	resp, err = export(t, c, ctx, ld)
	require.NoError(t, err)
	require.Equal(t, int64(1), resp.PartialSuccess().RejectedLogRecords())
	require.Equal(t, "1 of 2 log records rejected: resource 0 scope 0 record 0: log record of 1001 bytes is larger than the 1000-byte limit",
		resp.PartialSuccess().ErrorMessage())
	events = env.scan(t, "mobile")
	require.Len(t, events, 1)
	require.Equal(t, "kept", events[0].Message)

	require.InDelta(t, 2, testutil.ToFloat64(env.metrics.EventsAccepted.WithLabelValues(ProtocolGRPC)), 0)
	require.InDelta(t, 1, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolGRPC, "too_large")), 0)
	var logsSize int
	for _, l := range []plog.Logs{sampleLogs(), ld} {
		logsSize += (&plog.ProtoMarshaler{}).LogsSize(l)
	}
	require.InDelta(t, float64(logsSize), testutil.ToFloat64(env.metrics.Bytes.WithLabelValues(ProtocolGRPC)), 0)
}

func TestGRPCErrors(t *testing.T) {
	two := plog.NewLogs()
	lrs := two.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("one")
	lrs.AppendEmpty().Body().SetStr("two")

	t.Run("bad group", func(t *testing.T) {
		env := newTestEnv(t, pipeline.Options{}, Options{})
		c := grpcClient(t, startGRPC(t, env.recv))
		ctx := metadata.AppendToOutgoingContext(context.Background(), MetadataLogGroup, strings.Repeat("g", 513))
		_, err := export(t, c, ctx, two)
		s := status.Convert(err)
		require.Equal(t, codes.InvalidArgument, s.Code())
		require.Equal(t, "log group name longer than 512 bytes", s.Message())
	})
	t.Run("busy", func(t *testing.T) {
		env := newTestEnv(t, pipeline.Options{MaxQueuedEvents: 1}, Options{})
		c := grpcClient(t, startGRPC(t, env.recv))
		_, err := export(t, c, context.Background(), two)
		s := status.Convert(err)
		require.Equal(t, codes.ResourceExhausted, s.Code())
		require.Equal(t, pipeline.ErrBusy.Error(), s.Message())
		requireRetryInfo(t, s, time.Second)
		require.InDelta(t, 2, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolGRPC, "busy")), 0)
	})
	t.Run("closed", func(t *testing.T) {
		env := newTestEnv(t, pipeline.Options{}, Options{})
		c := grpcClient(t, startGRPC(t, env.recv))
		env.pipe.Close()
		_, err := export(t, c, context.Background(), two)
		s := status.Convert(err)
		require.Equal(t, codes.Unavailable, s.Code())
		requireRetryInfo(t, s, 5*time.Second)
		require.InDelta(t, 2, testutil.ToFloat64(env.metrics.EventsRejected.WithLabelValues(ProtocolGRPC, "unavailable")), 0)
	})
}

func requireRetryInfo(t *testing.T, s *status.Status, want time.Duration) {
	t.Helper()
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			require.Equal(t, want, ri.GetRetryDelay().AsDuration())
			return
		}
	}
	t.Fatalf("status %v has no RetryInfo", s)
}

// deepLogs is a record whose body nests arrays n deep.
func deepLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	s := lr.Body().SetEmptySlice()
	for range n - 1 {
		s = s.AppendEmpty().SetEmptySlice()
	}
	return ld
}

func TestGRPCNestingGuard(t *testing.T) {
	require.NotEmpty(t, guardedTypes, "pdata's request type was not found")
	env := newTestEnv(t, pipeline.Options{}, Options{})
	c := grpcClient(t, startGRPC(t, env.recv))

	_, err := export(t, c, context.Background(), deepLogs(maxWireDepth+1))
	s := status.Convert(err)
	require.Equal(t, codes.Internal, s.Code())
	require.Contains(t, s.Message(), "payload nests values deeper than 128 levels")

	// Under the guard's limit but over a record's: the record alone is
	// rejected.
	resp, err := export(t, c, context.Background(), deepLogs(maxWireDepth))
	require.NoError(t, err)
	require.Equal(t, int64(1), resp.PartialSuccess().RejectedLogRecords())
	require.Contains(t, resp.PartialSuccess().ErrorMessage(), "body: value nested deeper than 64 levels")

	_, err = export(t, c, context.Background(), deepLogs(maxValueDepth))
	require.NoError(t, err)
	require.Len(t, env.scan(t, UnknownService), 1)
}
