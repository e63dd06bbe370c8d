package otlp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// deepAttrLogs is a record with an attribute whose maps nest n deep, which
// is n AnyValues on the wire.
func deepAttrLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	m := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	for range n - 1 {
		m = m.PutEmptyMap("m")
	}
	m.PutStr("leaf", "v")
	return ld
}

func TestCheckProtoDepth(t *testing.T) {
	tests := []struct {
		name    string
		ld      plog.Logs
		wantErr bool
	}{
		{name: "sample", ld: sampleLogs()},
		{name: "array body at the limit", ld: deepLogs(maxWireDepth)},
		{name: "array body over the limit", ld: deepLogs(maxWireDepth + 1), wantErr: true},
		{name: "map attribute at the limit", ld: deepAttrLogs(maxWireDepth)},
		{name: "map attribute over the limit", ld: deepAttrLogs(maxWireDepth + 1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkProtoDepth(marshalProto(t, tt.ld), msgLogsRequest)
			if tt.wantErr {
				require.EqualError(t, err, "payload nests values deeper than 128 levels")
				return
			}
			require.NoError(t, err)
			// The JSON guard agrees on the same payloads.
			require.NoError(t, checkJSONDepth(marshalJSON(t, tt.ld)))
		})
	}

	// Bytes that would nest deeply if they were messages are left alone
	// where the schema has a string (the body's string_value, field 1).
	nested := []byte{}
	for range 2 * maxWireDepth {
		nested = protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), nested)
	}
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(string(nested))
	require.NoError(t, checkProtoDepth(marshalProto(t, ld), msgLogsRequest))

	// Malformed input is the decoder's to report.
	require.NoError(t, checkProtoDepth([]byte{0x0a, 0xff}, msgLogsRequest))
}

func TestCheckJSONDepth(t *testing.T) {
	require.NoError(t, checkJSONDepth([]byte(strings.Repeat("[", maxJSONDepth))))
	require.Error(t, checkJSONDepth([]byte(strings.Repeat("[", maxJSONDepth+1))))
	// Brackets in strings, escaped quotes included, do not count.
	s := `{"a":"` + strings.Repeat(`[\"{`, maxJSONDepth+1) + `"}`
	require.NoError(t, checkJSONDepth([]byte(s)))
	// A record attribute of maps has the same limit in both encodings.
	require.NoError(t, checkJSONDepth(marshalJSON(t, deepAttrLogs(maxWireDepth))))
	require.Error(t, checkJSONDepth(marshalJSON(t, deepAttrLogs(maxWireDepth+1))))
}

// BenchmarkLogs decodes and maps 1000 records like sampleLogs' one.
func BenchmarkLogs(b *testing.B) {
	ld := plog.NewLogs()
	for range 10 {
		sampleLogs().ResourceLogs().At(0).CopyTo(ld.ResourceLogs().AppendEmpty())
	}
	for i := range ld.ResourceLogs().Len() {
		lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
		for range 99 {
			lrs.At(0).CopyTo(lrs.AppendEmpty())
		}
	}
	payload := marshalProto(b, ld)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeLogs(payload, encodingProto); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		now := time.Now()
		for b.Loop() {
			events, _ := mapLogs(ld, "", now, testLimits)
			if len(events) != 1000 {
				b.Fatalf("%d events", len(events))
			}
		}
	})
}
