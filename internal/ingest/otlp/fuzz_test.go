package otlp

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sonde-dev/sonde/internal/ingest"
)

// FuzzDecodeLogs feeds the same bytes to the protobuf and the JSON decoder
// and maps whatever decodes. Nothing may panic, and every record must come
// out either as a storable event or as a counted rejection.
func FuzzDecodeLogs(f *testing.F) {
	seeds := [][]byte{
		[]byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},` +
			`"scopeLogs":[{"scope":{"name":"s","attributes":[{"key":"k","value":{"arrayValue":{"values":[{"intValue":"1"}]}}}]},` +
			`"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,"severityText":"INFO",` +
			`"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","flags":1,` +
			`"body":{"kvlistValue":{"values":[{"key":"a","value":{"doubleValue":"NaN"}},{"key":"b","value":{"bytesValue":"AQI="}}]}},` +
			`"attributes":[{"key":"x","value":{"boolValue":true}},{"key":"x","value":{"stringValue":"dup"}}]}]}]}]}`),
		[]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"\u00ff\ud800"}}]}]}]}`),
		[]byte(`{}`),
		[]byte{},
		[]byte{0x0a, 0x02, 0x12, 0x00},
		marshalProto(f, sampleLogs()),
		marshalProto(f, deepLogs(maxValueDepth+2)),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	lim := limits{maxEventBytes: 512, maxFields: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, enc := range []wireEncoding{encodingProto, encodingJSON} {
			req, err := decodeLogs(data, enc)
			if err != nil {
				continue
			}
			ld := req.Logs()
			events, res := mapLogs(ld, "", time.Unix(1700000000, 0), lim)
			if got, want := len(events)+res.rejected(), ld.LogRecordCount(); got != want {
				t.Fatalf("%d events and %d rejections for %d records", len(events), res.rejected(), want)
			}
			if res.rejected() > 0 && !strings.Contains(res.message("log records"), "rejected: resource ") {
				t.Fatalf("rejection message %q", res.message("log records"))
			}
			for _, ev := range events {
				if err := ingest.CheckName("log group", ev.Group, false); err != nil {
					t.Fatalf("group %q: %v", ev.Group, err)
				}
				if err := ingest.CheckName("log stream", ev.Stream, true); err != nil {
					t.Fatalf("stream %q: %v", ev.Stream, err)
				}
				if !utf8.ValidString(ev.Message) {
					t.Fatalf("message %q is not UTF-8", ev.Message)
				}
				if len(ev.Fields) > lim.maxFields {
					t.Fatalf("%d fields", len(ev.Fields))
				}
				seen := map[string]bool{}
				for _, fl := range ev.Fields {
					if !fl.Kind.Valid() || !utf8.ValidString(fl.Name) || !utf8.ValidString(fl.Str) {
						t.Fatalf("field %q: %+v", fl.Name, fl.Value)
					}
					if seen[fl.Name] {
						t.Fatalf("field %q twice", fl.Name)
					}
					seen[fl.Name] = true
				}
			}
		}
	})
}
