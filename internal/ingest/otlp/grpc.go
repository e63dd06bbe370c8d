package otlp

import (
	"context"
	"reflect"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters may gzip their requests.
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sonde-dev/sonde/internal/apierr"
	"github.com/sonde-dev/sonde/internal/ingest"
)

// MetadataLogGroup is the gRPC metadata key naming the log group of an
// export, overriding service.name. gRPC metadata keys are lowercase.
const MetadataLogGroup = "x-sonde-log-group"

// RegisterGRPC registers the OTLP/gRPC services of the receiver
// (LogsService, TraceService and, with a MetricStore, MetricsService) on
// s. Build s with GRPCServerOptions so that payloads are checked before
// pdata decodes them.
func (r *Receiver) RegisterGRPC(s *grpc.Server) {
	plogotlp.RegisterGRPCServer(s, &logsGRPC{r: r})
	ptraceotlp.RegisterGRPCServer(s, &tracesGRPC{r: r})
	if r.metricsSink != nil {
		pmetricotlp.RegisterGRPCServer(s, &metricsGRPC{r: r})
	}
}

// logsGRPC implements plogotlp.GRPCServer.
type logsGRPC struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

var logsSizer plog.ProtoMarshaler

// Export implements plogotlp.GRPCServer.
func (s *logsGRPC) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	group, err := grpcGroup(ctx)
	if err != nil {
		return plogotlp.ExportResponse{}, s.r.grpcError(err)
	}
	ld := req.Logs()
	// gRPC does not tell a handler the wire size; the encoded size of the
	// request is the same before compression.
	s.r.countBytes(ProtocolGRPC, int64(logsSizer.LogsSize(ld)))
	resp, err := s.r.exportLogs(ctx, ProtocolGRPC, group, ld)
	if err != nil {
		return plogotlp.ExportResponse{}, s.r.grpcError(err)
	}
	return resp, nil
}

// grpcGroup reads the explicit log group from the request metadata.
func grpcGroup(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(MetadataLogGroup)
	if len(vals) == 0 || vals[0] == "" {
		return "", nil
	}
	if err := ingest.CheckName("log group", vals[0], false); err != nil {
		return "", err
	}
	return vals[0], nil
}

// grpcError turns err into a gRPC status through apierr.Status, so that
// gRPC and HTTP clients are told the same. Retryable errors carry
// google.rpc.RetryInfo: OTLP clients retry ResourceExhausted only with it.
func (r *Receiver) grpcError(err error) error {
	st, retry := apierr.Status(err)
	code := grpcCode(st)
	if st >= 500 {
		r.log.Error("OTLP export failed", "code", code, "err", err)
	}
	s := status.New(code, validUTF8(err.Error()))
	if retry > 0 {
		if d, derr := s.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(retry) * time.Second)}); derr == nil {
			s = d
		}
	}
	return s.Err()
}

// GRPCServerOptions are the options an OTLP gRPC server must be built
// with: maxRecvBytes caps a message (gRPC's default is 4 MiB), and a codec
// checks how deeply OTLP payloads nest before pdata decodes them (see
// maxWireDepth). The codec delegates everything else, including non-OTLP
// services on the same server, to the registered "proto" codec.
func GRPCServerOptions(maxRecvBytes int) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxRecvBytes),
		grpc.ForceServerCodecV2(guardCodec{}),
	}
}

// guardedTypes maps the Go types gRPC decodes OTLP requests into to the
// message the nesting guard starts from. pdata keeps these types internal;
// they are found through the "orig" field of the public request wrappers.
// If pdata renames it, the map misses the type and TestGRPCNestingGuard
// fails.
var guardedTypes = func() map[reflect.Type]msgKind {
	m := map[reflect.Type]msgKind{}
	if f, ok := reflect.TypeOf(plogotlp.ExportRequest{}).FieldByName("orig"); ok {
		m[f.Type] = msgLogsRequest
	}
	if tracesRequestType != nil {
		m[tracesRequestType] = msgTracesRequest
	}
	if metricsRequestType != nil {
		m[metricsRequestType] = msgMetricsRequest
	}
	return m
}()

// guardCodec is the "proto" codec with the nesting guard in front.
type guardCodec struct{}

// delegate is the registered "proto" codec: pdata's, which decodes its
// types with its own code and passes other messages on to grpc-go's.
func (guardCodec) delegate() encoding.CodecV2 { return encoding.GetCodecV2("proto") }

// Marshal implements encoding.CodecV2.
func (c guardCodec) Marshal(v any) (mem.BufferSlice, error) { return c.delegate().Marshal(v) }

// Unmarshal implements encoding.CodecV2. A message that arrived in several
// buffers is copied once more for the guard; most arrive in one.
func (c guardCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if root, ok := guardedTypes[reflect.TypeOf(v)]; ok {
		var b []byte
		if len(data) == 1 {
			b = data[0].ReadOnlyData()
		} else {
			b = data.Materialize()
		}
		if err := checkProtoDepth(b, root); err != nil {
			return err
		}
	}
	return c.delegate().Unmarshal(data, v)
}

// Name implements encoding.CodecV2.
func (guardCodec) Name() string { return "proto" }
