package otlp

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sonde-dev/sonde/internal/event"
)

var (
	testTraceID = pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	testSpanID  = pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	testTime    = time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)
	testLimits  = limits{maxEventBytes: DefaultMaxEventBytes, maxFields: DefaultMaxFields}
)

// sampleLogs is one record with every part of the mapping set.
func sampleLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.instance.id", "pod-7")
	ra.PutStr("host.name", "node-1")
	ra.PutInt("replicas", 3)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("checkout/http")
	sl.Scope().SetVersion("1.2.3")
	sl.Scope().Attributes().PutStr("lib", "nethttp")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(testTime))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(testTime.Add(time.Second)))
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.SetSeverityText("WARN")
	lr.SetTraceID(testTraceID)
	lr.SetSpanID(testSpanID)
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetEventName("payment.declined")
	lr.Body().SetStr("payment declined")
	a := lr.Attributes()
	a.PutStr("http.route", "/pay")
	a.PutInt("http.status_code", 402)
	a.PutDouble("latency", 0.25)
	a.PutBool("retry", false)
	user := a.PutEmptyMap("user")
	user.PutStr("id", "u-1")
	user.PutInt("tier", 3)
	tags := a.PutEmptySlice("tags")
	tags.AppendEmpty().SetStr("a")
	tags.AppendEmpty().SetStr("b")
	a.PutEmptyBytes("raw").FromRaw([]byte{1, 2, 3})
	a.PutStr("peer", "10.0.0.7")
	a.PutStr("parent", "0af7651916cd43dd8448eb211c80319c")
	return ld
}

// sampleFields is what sampleLogs' record becomes, as fieldTexts renders it.
var sampleFields = map[string]string{
	"severityText":                            "string:WARN",
	"severityNumber":                          "int:13",
	"traceId":                                 "id128:4bf92f3577b34da6a3ce929d0e0e4736",
	"spanId":                                  "id64:00f067aa0ba902b7",
	"flags":                                   "int:1",
	"eventName":                               "string:payment.declined",
	"attributes.http.route":                   "string:/pay",
	"attributes.http.status_code":             "int:402",
	"attributes.latency":                      "float:0.25",
	"attributes.retry":                        "bool:false",
	"attributes.user.id":                      "string:u-1",
	"attributes.user.tier":                    "int:3",
	"attributes.tags.0":                       "string:a",
	"attributes.tags.1":                       "string:b",
	"attributes.raw":                          "string:AQID",
	"attributes.peer":                         "ipv4:10.0.0.7",
	"attributes.parent":                       "id128:0af7651916cd43dd8448eb211c80319c",
	"resource.attributes.service.name":        "string:checkout",
	"resource.attributes.service.instance.id": "string:pod-7",
	"resource.attributes.host.name":           "string:node-1",
	"resource.attributes.replicas":            "int:3",
	"scope.name":                              "string:checkout/http",
	"scope.version":                           "string:1.2.3",
	"scope.attributes.lib":                    "string:nethttp",
}

func TestMapLogsRecord(t *testing.T) {
	events, res := mapLogs(sampleLogs(), "", time.Now(), testLimits)
	require.Equal(t, 0, res.rejected())
	require.Equal(t, 1, res.accepted)
	require.Len(t, events, 1)
	ev := events[0]
	require.Equal(t, "checkout", ev.Group)
	require.Equal(t, "pod-7", ev.Stream)
	require.Equal(t, testTime.UnixMilli(), ev.Time)
	require.Equal(t, "payment declined", ev.Message)
	require.Nil(t, ev.Shape)
	require.Equal(t, sampleFields, fieldTexts(ev))

	// Fields come in the documented order.
	var names []string
	for _, f := range ev.Fields {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{
		"severityText", "severityNumber", "traceId", "spanId", "flags", "eventName",
		"attributes.http.route", "attributes.http.status_code", "attributes.latency", "attributes.retry",
		"attributes.user.id", "attributes.user.tier", "attributes.tags.0", "attributes.tags.1",
		"attributes.raw", "attributes.peer", "attributes.parent",
		"resource.attributes.service.name", "resource.attributes.service.instance.id",
		"resource.attributes.host.name", "resource.attributes.replicas",
		"scope.name", "scope.version", "scope.attributes.lib",
	}, names)
}

func TestMapLogsGroupAndStream(t *testing.T) {
	tests := []struct {
		name             string
		group            string
		resource         map[string]any
		wantGroup        string
		wantStream       string
		wantRejectReason string
	}{
		{name: "service name", resource: map[string]any{"service.name": "api"}, wantGroup: "api"},
		{name: "explicit group wins", group: "team-a", resource: map[string]any{"service.name": "api"}, wantGroup: "team-a"},
		{name: "no service name", resource: map[string]any{}, wantGroup: UnknownService},
		{name: "empty service name", resource: map[string]any{"service.name": ""}, wantGroup: UnknownService},
		{name: "non-string service name", resource: map[string]any{"service.name": 42}, wantGroup: "42"},
		{name: "instance id", resource: map[string]any{"service.instance.id": "i-1", "host.name": "h"}, wantGroup: UnknownService, wantStream: "i-1"},
		{name: "host name", resource: map[string]any{"host.name": "h"}, wantGroup: UnknownService, wantStream: "h"},
		{name: "empty instance id", resource: map[string]any{"service.instance.id": "", "host.name": "h"}, wantGroup: UnknownService, wantStream: "h"},
		{name: "bad service name", resource: map[string]any{"service.name": "a\nb"}, wantRejectReason: "log group name contains a control character"},
		{name: "long stream", resource: map[string]any{"host.name": strings.Repeat("h", 513)}, wantRejectReason: "log stream name longer than 512 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			require.NoError(t, rl.Resource().Attributes().FromRaw(tt.resource))
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
			events, res := mapLogs(ld, tt.group, time.Now(), testLimits)
			if tt.wantRejectReason != "" {
				require.Empty(t, events)
				require.Equal(t, 1, res.invalid)
				require.Equal(t, "1 of 1 log records rejected: resource 0 scope 0 record 0: "+tt.wantRejectReason, res.message("log records"))
				return
			}
			require.Len(t, events, 1)
			require.Equal(t, tt.wantGroup, events[0].Group)
			require.Equal(t, tt.wantStream, events[0].Stream)
		})
	}
}

func TestMapLogsTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		name               string
		time, observedTime time.Time
		want               int64
	}{
		{name: "time", time: testTime, observedTime: now, want: testTime.UnixMilli()},
		{name: "observed time", observedTime: testTime, want: testTime.UnixMilli()},
		{name: "neither", want: now.UnixMilli()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			if !tt.time.IsZero() {
				lr.SetTimestamp(pcommon.NewTimestampFromTime(tt.time))
			}
			if !tt.observedTime.IsZero() {
				lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(tt.observedTime))
			}
			events, _ := mapLogs(ld, "", now, testLimits)
			require.Len(t, events, 1)
			require.Equal(t, tt.want, events[0].Time)
		})
	}
}

func TestMapLogsBody(t *testing.T) {
	tests := []struct {
		name        string
		set         func(v pcommon.Value)
		wantMessage string
		wantFields  map[string]string
	}{
		{name: "string", set: func(v pcommon.Value) { v.SetStr("GET /pay 402") }, wantMessage: "GET /pay 402", wantFields: map[string]string{}},
		{name: "empty", set: func(pcommon.Value) {}, wantMessage: "", wantFields: map[string]string{}},
		{name: "int", set: func(v pcommon.Value) { v.SetInt(42) }, wantMessage: "42", wantFields: map[string]string{}},
		{name: "double", set: func(v pcommon.Value) { v.SetDouble(1.5) }, wantMessage: "1.5", wantFields: map[string]string{}},
		{name: "NaN", set: func(v pcommon.Value) { v.SetDouble(math.NaN()) }, wantMessage: "NaN", wantFields: map[string]string{}},
		{name: "bool", set: func(v pcommon.Value) { v.SetBool(true) }, wantMessage: "true", wantFields: map[string]string{}},
		{name: "bytes", set: func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte("hi")) }, wantMessage: "aGk=", wantFields: map[string]string{}},
		{
			name: "map",
			set: func(v pcommon.Value) {
				m := v.SetEmptyMap()
				m.PutStr("msg", "declined \"card\"")
				m.PutInt("status", 402)
				inner := m.PutEmptyMap("user")
				inner.PutStr("id", "u-1")
				inner.PutDouble("score", math.Inf(1))
				inner.PutEmpty("none")
				l := m.PutEmptySlice("items")
				l.AppendEmpty().SetInt(1)
				l.AppendEmpty().SetEmptyMap().PutBool("ok", true)
				m.PutEmptyBytes("raw").FromRaw([]byte{0xff})
			},
			wantMessage: `{"msg":"declined \"card\"","status":402,"user":{"id":"u-1","score":"Infinity","none":null},"items":[1,{"ok":true}],"raw":"/w=="}`,
			wantFields: map[string]string{
				"body.msg":        `string:declined "card"`,
				"body.status":     "int:402",
				"body.user.id":    "string:u-1",
				"body.user.score": "float:+Inf",
				"body.items.0":    "int:1",
				"body.items.1.ok": "bool:true",
				"body.raw":        "string:/w==",
			},
		},
		{
			name: "array",
			set: func(v pcommon.Value) {
				s := v.SetEmptySlice()
				s.AppendEmpty().SetStr("a")
				s.AppendEmpty().SetEmptySlice().AppendEmpty().SetDouble(2.5)
			},
			wantMessage: `["a",[2.5]]`,
			wantFields:  map[string]string{"body.0": "string:a", "body.1.0": "float:2.5"},
		},
		{name: "invalid UTF-8", set: func(v pcommon.Value) { v.SetStr("bad \xff byte") }, wantMessage: "bad \uFFFD byte", wantFields: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			tt.set(lr.Body())
			events, res := mapLogs(ld, "g", time.Now(), testLimits)
			require.Zero(t, res.rejected(), res.message("log records"))
			require.Len(t, events, 1)
			require.Equal(t, tt.wantMessage, events[0].Message)
			require.Equal(t, tt.wantFields, fieldTexts(events[0]))
		})
	}
}

func TestMapLogsKeys(t *testing.T) {
	// Repeated keys can only arrive on the wire; pdata's Put replaces.
	payload := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[
		{"key":"a","value":{"stringValue":"first"}},
		{"key":"a","value":{"stringValue":"second"}},
		{"key":"m.x","value":{"intValue":"1"}},
		{"key":"m","value":{"kvlistValue":{"values":[{"key":"x","value":{"intValue":"2"}}]}}},
		{"key":"bad\u00ff","value":{"boolValue":true}}
	]}]}]}]}`
	req, err := decodeLogs([]byte(payload), encodingJSON)
	require.NoError(t, err)
	events, res := mapLogs(req.Logs(), "g", time.Now(), testLimits)
	require.Zero(t, res.rejected())
	require.Len(t, events, 1)
	require.Equal(t, map[string]string{
		"attributes.a":    "string:first",
		"attributes.m.x":  "int:1",
		"attributes.badÿ": "bool:true",
	}, fieldTexts(events[0]))

	// Invalid UTF-8 in a key is replaced.
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes().PutStr("k\xff", "v")
	events, _ = mapLogs(ld, "g", time.Now(), testLimits)
	require.Equal(t, map[string]string{"attributes.k\uFFFD": "string:v"}, fieldTexts(events[0]))
}

func TestMapLogsFieldCap(t *testing.T) {
	ld := sampleLogs()
	lim := limits{maxEventBytes: DefaultMaxEventBytes, maxFields: 8}
	events, res := mapLogs(ld, "", time.Now(), lim)
	require.Len(t, events, 1)
	require.Len(t, events[0].Fields, 8)
	require.Equal(t, len(sampleFields)-8, res.truncated)
	require.Equal(t, "attributes.http.status_code", events[0].Fields[7].Name)

	// The cap holds when the record's own fields leave room for only part
	// of the resource's.
	lim.maxFields = 19
	events, res = mapLogs(ld, "", time.Now(), lim)
	require.Len(t, events[0].Fields, 19)
	require.Equal(t, "resource.attributes.service.instance.id", events[0].Fields[18].Name)
	require.Equal(t, len(sampleFields)-19, res.truncated)

	// A resource with more attributes than the cap.
	ld = plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	for i := range 300 {
		rl.Resource().Attributes().PutInt("k"+strings.Repeat("x", i), int64(i))
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.LogRecords().AppendEmpty().Attributes().PutStr("own", "v")
	sl.LogRecords().AppendEmpty()
	events, res = mapLogs(ld, "", time.Now(), testLimits)
	require.Len(t, events, 2)
	require.Len(t, events[0].Fields, DefaultMaxFields)
	require.Equal(t, "attributes.own", events[0].Fields[0].Name)
	require.Len(t, events[1].Fields, DefaultMaxFields)
	require.Equal(t, (301-DefaultMaxFields)+(300-DefaultMaxFields), res.truncated)
}

func TestMapLogsRejects(t *testing.T) {
	ld := plog.NewLogs()
	// Resource 0: a bad group name rejects both of its records.
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "bad\x00name")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.LogRecords().AppendEmpty().Body().SetStr("a")
	sl.LogRecords().AppendEmpty().Body().SetStr("b")
	// Resource 1: one good record, one too large by body, one too large by
	// attributes, one nested too deeply, one good.
	rl = ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("kept 1")
	lrs.AppendEmpty().Body().SetStr(strings.Repeat("x", 101))
	big := lrs.AppendEmpty()
	big.Body().SetStr("small")
	big.Attributes().PutStr("k", strings.Repeat("y", 90))
	deep := lrs.AppendEmpty().Body().SetEmptyMap()
	for range maxValueDepth + 1 {
		deep = deep.PutEmptyMap("a")
	}
	lrs.AppendEmpty().Body().SetStr("kept 2")
	// Resource 2: a scope attribute nested too deeply rejects its records.
	rl = ld.ResourceLogs().AppendEmpty()
	sl = rl.ScopeLogs().AppendEmpty()
	s := sl.Scope().Attributes().PutEmptySlice("s")
	for range maxValueDepth + 1 {
		s = s.AppendEmpty().SetEmptySlice()
	}
	sl.LogRecords().AppendEmpty()

	events, res := mapLogs(ld, "", time.Now(), limits{maxEventBytes: 100, maxFields: 200})
	require.Len(t, events, 2)
	require.Equal(t, "kept 1", events[0].Message)
	require.Equal(t, "kept 2", events[1].Message)
	require.Equal(t, 2, res.accepted)
	require.Equal(t, 4, res.invalid)
	require.Equal(t, 2, res.tooLarge)
	require.Equal(t, "6 of 8 log records rejected: "+
		"resource 0 scope 0 record 0: log group name contains a control character; "+
		"resource 0 scope 0 record 1: log group name contains a control character; "+
		"resource 1 scope 0 record 1: log record of 101 bytes is larger than the 100-byte limit; "+
		"resource 1 scope 0 record 2: log record of 107 bytes is larger than the 100-byte limit; "+
		"resource 1 scope 0 record 3: body: value nested deeper than 64 levels; and 1 more",
		res.message("log records"))
}

func TestValueText(t *testing.T) {
	v := pcommon.NewValueEmpty()
	m := v.SetEmptyMap()
	m.PutStr("<html>", "a&b\n")
	m.PutDouble("neg", math.Inf(-1))
	m.PutDouble("big", 1e21)
	got, err := valueText(v)
	require.NoError(t, err)
	require.Equal(t, `{"<html>":"a&b\n","neg":"-Infinity","big":1e+21}`, got)

	// Every kind of value gives a field of the kind event.TypedString or
	// the numeric constructors give.
	fs := newFieldSet(10)
	fs.reset(nil)
	require.NoError(t, fs.addNested("body", v))
	require.Equal(t, []event.Field{
		{Name: "body.<html>", Value: event.String("a&b\n")},
		{Name: "body.neg", Value: event.Float(math.Inf(-1))},
		{Name: "body.big", Value: event.Float(1e21)},
	}, fs.fields)
}
