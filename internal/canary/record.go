package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"

	"github.com/sonde-dev/sonde/internal/config"
	"github.com/sonde-dev/sonde/internal/event"
)

// EventGroup is the log group of canary runs; the stream is the canary's
// name.
const EventGroup = "sonde/canaries"

// maxEventFields caps the fields of a run's event. A broken-link run
// flattens some fields per link; past the cap the rest stays in @message.
const maxEventFields = 1000

// Metric names. A run writes one sample of each, labelled canary="NAME".
const (
	// MetricSuccessPercent is 100 for a run that succeeded and 0 for one
	// that failed: CloudWatch's SuccessPercent over a period of one run.
	// avg_over_time(canary_success_percent[1h]) is the percent of runs
	// that succeeded in the last hour.
	MetricSuccessPercent = "canary_success_percent"
	// MetricDurationSeconds is how long the run took.
	MetricDurationSeconds = "canary_duration_seconds"
	// MetricStepSuccessPercent and MetricStepDurationSeconds are the same
	// per step of heartbeat and api canaries, with a step label (not per
	// link of broken_links canaries, whose URLs would make unbounded series).
	MetricStepSuccessPercent  = "canary_step_success_percent"
	MetricStepDurationSeconds = "canary_step_duration_seconds"
	// MetricRequestsTotal counts the canary's HTTP requests by
	// code_class: 2xx, 3xx, 4xx, 5xx, or failed for requests without a
	// response. It counts from 0 when sonde starts, as Prometheus counters do.
	MetricRequestsTotal = "canary_requests_total"
)

// codeClasses are written on every run, so that each counter starts at 0.
var codeClasses = []string{"2xx", "3xx", "4xx", "5xx", "failed"}

// codeClass classifies a request by its status.
func codeClass(status int) string {
	if status == 0 {
		return "failed"
	}
	return strconv.Itoa(status/100) + "xx"
}

// Submitter stores events durably; *pipeline.Pipeline implements it.
type Submitter interface {
	// Submit returns once the events are durable or failed.
	Submit(ctx context.Context, protocol, key string, events []event.Event) error
}

// runRecord is the JSON of a run's event: the event's fields, flattened
// (steps.0.timings.waitMs...).
type runRecord struct {
	Timestamp    string       `json:"@timestamp"`
	Name         string       `json:"name"`
	Kind         string       `json:"kind"`
	RunID        string       `json:"runId"`
	Trigger      string       `json:"trigger"`
	Success      bool         `json:"success"`
	DurationMs   float64      `json:"durationMs"`
	Error        string       `json:"error,omitempty"`
	Requests     int          `json:"requests"`
	LinksSkipped int          `json:"linksSkipped,omitempty"`
	Steps        []stepRecord `json:"steps"`
}

type stepRecord struct {
	Name             string        `json:"name"`
	Success          bool          `json:"success"`
	Skipped          bool          `json:"skipped,omitempty"`
	Method           string        `json:"method,omitempty"`
	URL              string        `json:"url,omitempty"`
	Status           int           `json:"status"`
	DurationMs       float64       `json:"durationMs"`
	ResponseTimeMs   float64       `json:"responseTimeMs"`
	Error            string        `json:"error,omitempty"`
	FailedConditions []string      `json:"failedConditions,omitempty"`
	Depth            int           `json:"depth,omitempty"`
	Timings          timingsRecord `json:"timings"`
}

// timingsRecord leaves out the phases that did not happen, so that
// averages over events are not skewed by -1.
type timingsRecord struct {
	BlockedMs *float64 `json:"blockedMs,omitempty"`
	DNSMs     *float64 `json:"dnsMs,omitempty"`
	ConnectMs *float64 `json:"connectMs,omitempty"`
	TLSMs     *float64 `json:"tlsMs,omitempty"`
	SendMs    *float64 `json:"sendMs,omitempty"`
	WaitMs    *float64 `json:"waitMs,omitempty"`
	ReceiveMs *float64 `json:"receiveMs,omitempty"`
}

func timingsRecordOf(t Timings) timingsRecord {
	p := func(v float64) *float64 {
		if v < 0 {
			return nil
		}
		return &v
	}
	return timingsRecord{p(t.BlockedMs), p(t.DNSMs), p(t.ConnectMs), p(t.TLSMs), p(t.SendMs), p(t.WaitMs), p(t.ReceiveMs)}
}

// runEvent returns the event that records run in EventGroup.
func runEvent(run *Run, shapes *event.Shapes) (event.Event, error) {
	rec := runRecord{
		Timestamp: run.Start.UTC().Format("2006-01-02T15:04:05.000Z"),
		Name:      run.Canary, Kind: run.Kind, RunID: run.ID, Trigger: run.Trigger,
		Success: run.Success, DurationMs: run.DurationMs, Error: run.Error, LinksSkipped: run.LinksSkipped,
		Steps: make([]stepRecord, 0, len(run.Steps)),
	}
	for _, st := range run.Steps {
		rec.Requests += len(st.Requests)
		sr := stepRecord{
			Name: st.Name, Success: st.Success, Skipped: st.Skipped, Method: st.Method, URL: st.URL,
			Status: st.Status, DurationMs: st.DurationMs, ResponseTimeMs: st.ResponseTimeMs, Error: st.Error,
			Depth: st.Depth, Timings: timingsRecordOf(st.Timings),
		}
		for _, c := range st.Conditions {
			if !c.Success {
				sr.FailedConditions = append(sr.FailedConditions, c.Condition)
			}
		}
		rec.Steps = append(rec.Steps, sr)
	}
	msg, err := json.Marshal(rec)
	if err != nil {
		return event.Event{}, fmt.Errorf("encode run: %w", err)
	}
	ev := event.Event{Group: EventGroup, Stream: run.Canary}
	p := event.NewParser(shapes, event.ParserOptions{MaxFields: maxEventFields})
	if _, err := p.Parse(string(msg), run.Start.UnixMilli(), &ev); err != nil {
		return event.Event{}, fmt.Errorf("BUG: parse run event: %w", err)
	}
	return ev, nil
}

// appendMetrics writes a run's samples, at the time the run ended.
// requests holds the canary's request counters after this run.
func appendMetrics(ctx context.Context, a storage.Appendable, run *Run, requests map[string]float64) error {
	app := a.Appender(ctx)
	ts := run.Start.UnixMilli() + int64(run.DurationMs)
	var errs []error
	put := func(name string, typ model.MetricType, unit, help string, v float64, kv ...string) {
		lset := labels.FromStrings(append([]string{labels.MetricName, name, "canary", run.Canary}, kv...)...)
		ref, err := app.Append(0, lset, ts, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("append %s: %w", lset, err))
			return
		}
		// Best effort: an appender without metadata still stores samples.
		_, _ = app.UpdateMetadata(ref, lset, metadata.Metadata{Type: typ, Unit: unit, Help: help})
	}
	percent := func(ok bool) float64 {
		if ok {
			return 100
		}
		return 0
	}
	put(MetricSuccessPercent, model.MetricTypeGauge, "percent",
		"100 if the canary's last run succeeded, 0 if it failed (CloudWatch SuccessPercent per run).", percent(run.Success))
	put(MetricDurationSeconds, model.MetricTypeGauge, "seconds", "Duration of the canary's last run.", run.DurationMs/1000)
	if run.Kind != config.CanaryBrokenLinks {
		for _, st := range run.Steps {
			if st.Skipped {
				continue
			}
			put(MetricStepSuccessPercent, model.MetricTypeGauge, "percent",
				"100 if the step succeeded in the canary's last run, 0 if it failed.", percent(st.Success), "step", st.Name)
			put(MetricStepDurationSeconds, model.MetricTypeGauge, "seconds",
				"Duration of the step in the canary's last run.", st.DurationMs/1000, "step", st.Name)
		}
	}
	for _, class := range slices.Sorted(maps.Keys(requests)) {
		put(MetricRequestsTotal, model.MetricTypeCounter, "",
			"HTTP requests the canary made, by status class (failed: no response).", requests[class], "code_class", class)
	}
	// Rejected samples do not spoil the others (see storage.Appender).
	if err := app.Commit(); err != nil {
		errs = append(errs, fmt.Errorf("commit: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("write canary metrics: %w", errors.Join(errs...))
	}
	return nil
}
