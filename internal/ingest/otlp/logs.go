package otlp

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest"
)

// UnknownService is the log group of records whose resource has no
// service.name, named as OpenTelemetry SDKs name an unknown service.
const UnknownService = "unknown_service"

// Resource attributes with a meaning for sonde, from the OpenTelemetry
// semantic conventions.
const (
	attrServiceName       = "service.name"
	attrServiceInstanceID = "service.instance.id"
	attrHostName          = "host.name"
)

// Field names and prefixes of a log record's event; see the package doc.
const (
	fieldSeverityText   = "severityText"
	fieldSeverityNumber = "severityNumber"
	fieldTraceID        = "traceId"
	fieldSpanID         = "spanId"
	fieldFlags          = "flags"
	fieldEventName      = "eventName"
	fieldBody           = "body"
	prefixAttributes    = "attributes."
	prefixResource      = "resource.attributes."
	fieldScopeName      = "scope.name"
	fieldScopeVersion   = "scope.version"
	prefixScope         = "scope.attributes."
)

// limits bound what one record may become.
type limits struct {
	maxEventBytes int
	maxFields     int
}

// exportLogs maps a decoded request to events, writes the accepted ones and
// returns the response to send. group, when not empty, overrides every
// resource's service.name. The error is the pipeline's: nothing of the
// request may be reported as stored when it is not nil.
func (r *Receiver) exportLogs(ctx context.Context, protocol, group string, ld plog.Logs) (plogotlp.ExportResponse, error) {
	events, res := mapLogs(ld, group, time.Now(), r.limits)
	r.count(protocol, res)
	if len(events) > 0 {
		if err := r.opts.Pipeline.Submit(ctx, protocol, "", events); err != nil {
			r.countRefused(protocol, err, len(events))
			return plogotlp.ExportResponse{}, err
		}
	}
	resp := plogotlp.NewExportResponse()
	if n := res.rejected(); n > 0 {
		ps := resp.PartialSuccess()
		ps.SetRejectedLogRecords(int64(n))
		ps.SetErrorMessage(res.message("log records"))
	}
	return resp, nil
}

// mapLogs turns every log record of ld into an event, rejecting the ones
// that cannot be stored. It never fails as a whole.
func mapLogs(ld plog.Logs, group string, now time.Time, lim limits) ([]event.Event, *batchResult) {
	res := &batchResult{}
	events := make([]event.Event, 0, ld.LogRecordCount())
	nowMs := now.UnixMilli()
	fs := newFieldSet(lim.maxFields)
	var msgBuf []byte

	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		attrs := rl.Resource().Attributes()
		g, stream, resErr := resourceNames(attrs, group)
		var resFields []event.Field
		var resDropped int
		if resErr == nil {
			fs.reset(nil)
			if err := fs.addMap(prefixResource, attrs); err != nil {
				resErr = fmt.Errorf("resource attributes: %w", err)
			}
			resFields, resDropped = fs.fields, fs.dropped
		}

		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scopeErr := resErr
			var scopeFields []event.Field
			var scopeDropped int
			if scopeErr == nil {
				scopeFields, scopeDropped, scopeErr = scopeSection(fs, sl.Scope())
			}
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if scopeErr != nil {
					res.reject(false, recordLoc(i, j, k), scopeErr.Error())
					continue
				}
				ev := event.Event{Group: g, Stream: stream}
				var tooLarge bool
				var err error
				msgBuf, tooLarge, err = mapLogRecord(fs, lrs.At(k), &ev, nowMs, lim, msgBuf)
				if err != nil {
					res.reject(tooLarge, recordLoc(i, j, k), err.Error())
					continue
				}
				// The record's own fields were built in scratch space: give
				// the event a slice of the size it needs.
				own := fs.fields
				fs.fields = make([]event.Field, len(own), min(lim.maxFields, len(own)+len(resFields)+len(scopeFields)))
				copy(fs.fields, own)
				fs.scratch = own[:0]
				fs.addAll(resFields, resDropped)
				fs.addAll(scopeFields, scopeDropped)
				ev.Fields = fs.fields
				res.truncated += fs.dropped
				events = append(events, ev)
			}
		}
	}
	res.accepted = len(events)
	return events, res
}

// recordLoc names a record in rejection reasons by its indexes.
func recordLoc(resource, scope, record int) string {
	return fmt.Sprintf("resource %d scope %d record %d", resource, scope, record)
}

// resourceNames picks a resource's log group and stream.
func resourceNames(attrs pcommon.Map, group string) (g, stream string, err error) {
	g = group
	if g == "" {
		if v, ok := attrs.Get(attrServiceName); ok {
			g = validUTF8(v.AsString())
		}
		if g == "" {
			g = UnknownService
		}
	}
	for _, key := range []string{attrServiceInstanceID, attrHostName} {
		if v, ok := attrs.Get(key); ok {
			if stream = validUTF8(v.AsString()); stream != "" {
				break
			}
		}
	}
	if err := ingest.CheckName("log group", g, false); err != nil {
		return "", "", err
	}
	if err := ingest.CheckName("log stream", stream, true); err != nil {
		return "", "", err
	}
	return g, stream, nil
}

// scopeSection builds the scope's fields, shared by its records.
func scopeSection(fs *fieldSet, scope pcommon.InstrumentationScope) ([]event.Field, int, error) {
	fs.reset(nil)
	if n := scope.Name(); n != "" {
		fs.add(fieldScopeName, event.TypedString(validUTF8(n)))
	}
	if v := scope.Version(); v != "" {
		fs.add(fieldScopeVersion, event.TypedString(validUTF8(v)))
	}
	if err := fs.addMap(prefixScope, scope.Attributes()); err != nil {
		return nil, 0, fmt.Errorf("scope attributes: %w", err)
	}
	return fs.fields, fs.dropped, nil
}

// mapLogRecord fills ev (whose Group and Stream are set) from lr and leaves
// its own fields, before the resource and scope ones, in fs.fields, which
// is scratch space the caller must copy. tooLarge tells which kind of
// rejection an error is. buf is scratch space for JSON.
func mapLogRecord(fs *fieldSet, lr plog.LogRecord, ev *event.Event, now int64, lim limits, buf []byte) (_ []byte, tooLarge bool, _ error) {
	switch {
	case lr.Timestamp() != 0:
		ev.Time = nanosToMillis(lr.Timestamp())
	case lr.ObservedTimestamp() != 0:
		ev.Time = nanosToMillis(lr.ObservedTimestamp())
	default:
		ev.Time = now
	}

	body := lr.Body()
	switch body.Type() {
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		var err error
		buf, err = appendJSON(buf[:0], body, 0)
		if err != nil {
			return buf, false, fmt.Errorf("body: %w", err)
		}
		if len(buf) > lim.maxEventBytes {
			return buf, true, tooLargeError(len(buf), lim.maxEventBytes)
		}
		ev.Message = string(buf)
	default:
		var err error
		if ev.Message, err = valueText(body); err != nil {
			return buf, false, fmt.Errorf("body: %w", err)
		}
		if len(ev.Message) > lim.maxEventBytes {
			return buf, true, tooLargeError(len(ev.Message), lim.maxEventBytes)
		}
	}

	fs.reset(fs.scratch[:0])
	if s := lr.SeverityText(); s != "" {
		fs.add(fieldSeverityText, event.TypedString(validUTF8(s)))
	}
	if n := lr.SeverityNumber(); n != plog.SeverityNumberUnspecified {
		fs.add(fieldSeverityNumber, event.Int(int64(n)))
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		fs.add(fieldTraceID, event.TypedString(hex.EncodeToString(id[:])))
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		fs.add(fieldSpanID, event.TypedString(hex.EncodeToString(id[:])))
	}
	if f := lr.Flags(); f != 0 {
		fs.add(fieldFlags, event.Int(int64(f)))
	}
	if n := lr.EventName(); n != "" {
		fs.add(fieldEventName, event.TypedString(validUTF8(n)))
	}
	if err := fs.addNested(fieldBody, body); err != nil {
		return buf, false, fmt.Errorf("body: %w", err)
	}
	fs.section()
	if err := fs.addMap(prefixAttributes, lr.Attributes()); err != nil {
		return buf, false, fmt.Errorf("attributes: %w", err)
	}
	if size := len(ev.Message) + fs.size; size > lim.maxEventBytes {
		return buf, true, tooLargeError(size, lim.maxEventBytes)
	}
	return buf, false, nil
}

func tooLargeError(size, limit int) error {
	return fmt.Errorf("log record of %d bytes is larger than the %d-byte limit", size, limit)
}

// nanosToMillis converts OTLP's Unix nanoseconds to the store's Unix
// milliseconds. Every uint64 of nanoseconds fits in int64 milliseconds.
func nanosToMillis(ts pcommon.Timestamp) int64 { return int64(uint64(ts) / 1e6) }
