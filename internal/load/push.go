package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// PushLogGroup is the log group that load test events are written to.
const PushLogGroup = "sonde/load"

// Pusher streams a run into a sonde server while it runs: one event per
// period plus start and end annotations through the log endpoint
// (POST /api/v1/logs?group=sonde/load&stream=<test id>, NDJSON), and load_*
// metrics through Prometheus remote_write (POST /api/v1/write). A failed
// push does not stop the run; Err reports the first failure.
type Pusher struct {
	base   string
	client *http.Client

	mu       sync.Mutex
	info     RunInfo
	totals   map[string]int64 // cumulative counters
	sums     map[string]float64
	counts   map[string]int64
	err      error
	failures int
}

// NewPusher returns a pusher to the sonde server at base (for example
// http://127.0.0.1:4380). A nil client uses one with a 10 s timeout.
func NewPusher(base string, client *http.Client) (*Pusher, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("push URL %q: must be http(s)://host[:port]", base)
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Pusher{
		base:   strings.TrimSuffix(base, "/"),
		client: client,
		totals: map[string]int64{},
		sums:   map[string]float64{},
		counts: map[string]int64{},
	}, nil
}

// Err returns the first push failure, with the number of failed pushes.
func (p *Pusher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		return nil
	}
	return fmt.Errorf("%d push(es) failed, first: %w", p.failures, p.err)
}

func (p *Pusher) fail(err error) {
	if err == nil {
		return
	}
	p.failures++
	if p.err == nil {
		p.err = err
	}
}

// Started implements Observer: a start annotation.
func (p *Pusher) Started(info RunInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.info = info
	phases := make([]map[string]any, 0, len(info.Phases))
	for _, ph := range info.Phases {
		phases = append(phases, map[string]any{
			"name": ph.DisplayName(), "duration_s": ph.Length().Seconds(),
			"arrival_rate": ph.ArrivalRate, "ramp_to": ph.RampTo, "arrival_count": ph.ArrivalCount,
		})
	}
	p.fail(p.postEvents(map[string]any{
		"@timestamp": info.Start.UTC().Format(time.RFC3339Nano),
		"type":       "start",
		"message":    fmt.Sprintf("Load test %s started against %s", info.TestID, info.Target),
		"test_id":    info.TestID,
		"target":     info.Target,
		"phases":     phases,
	}))
}

// Period implements Observer: an interval event and the metrics.
func (p *Pusher) Period(per Period, snap Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := time.UnixMilli(per.Period)
	if per.LastMetricAt > 0 {
		at = time.UnixMilli(per.LastMetricAt)
	}
	p.fail(p.postEvents(map[string]any{
		"@timestamp":    at.UTC().Format(time.RFC3339Nano),
		"type":          "interval",
		"message":       fmt.Sprintf("Load test %s: %d requests, %d responses", p.info.TestID, per.Counters[mHTTPRequests], per.Counters[mHTTPResponses]),
		"test_id":       p.info.TestID,
		"target":        p.info.Target,
		"period":        per.Period,
		"counters":      per.Counters,
		"rates":         per.Rates,
		"summaries":     per.Summaries,
		"vusers_active": snap.ActiveVusers,
	}))
	p.fail(p.write(p.series(per, snap, at)))
}

// Finished implements Observer: an end annotation with the aggregate and
// the checks.
func (p *Pusher) Finished(res *Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	agg := res.Report.Aggregate
	p.fail(p.postEvents(map[string]any{
		"@timestamp": res.End.UTC().Format(time.RFC3339Nano),
		"type":       "end",
		"message":    fmt.Sprintf("Load test %s finished: exit code %d", p.info.TestID, res.ExitCode),
		"test_id":    p.info.TestID,
		"target":     p.info.Target,
		"exit_code":  res.ExitCode,
		"checks":     res.Checks,
		"counters":   agg.Counters,
		"rates":      agg.Rates,
		"summaries":  agg.Summaries,
	}))
}

func (p *Pusher) postEvents(events ...map[string]any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	u := p.base + "/api/v1/logs?group=" + url.QueryEscape(PushLogGroup) + "&stream=" + url.QueryEscape(p.info.TestID)
	return p.post(u, "application/x-ndjson", "", buf.Bytes())
}

func (p *Pusher) post(u, contentType, encoding string, body []byte) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("push to %s: %w", u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push to %s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// metricName turns an Artillery metric name into a Prometheus one.
func metricName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// counterSeries maps Artillery counters to load_* metric names and labels.
func counterSeries(name string) (string, []prompb.Label) {
	switch {
	case strings.HasPrefix(name, "http.codes."):
		return "load_http_requests_total", []prompb.Label{{Name: "code", Value: strings.TrimPrefix(name, "http.codes.")}}
	case strings.HasPrefix(name, mErrors):
		return "load_errors_total", []prompb.Label{{Name: "error", Value: strings.TrimPrefix(name, mErrors)}}
	case strings.HasPrefix(name, mVusersCreatedByName):
		return "load_vusers_created_by_scenario_total", []prompb.Label{{Name: "scenario", Value: strings.TrimPrefix(name, mVusersCreatedByName)}}
	case name == mHTTPRequests:
		return "load_http_requests_sent_total", nil
	case name == mHTTPDownloaded:
		return "load_http_downloaded_bytes_total", nil
	}
	return "load_" + metricName(name) + "_total", nil
}

// series builds the remote_write time series of a period: cumulative
// counters, per-period quantiles of every histogram (times in seconds) with
// cumulative _count and _sum, rates and active virtual users as gauges.
func (p *Pusher) series(per Period, snap Snapshot, at time.Time) []prompb.TimeSeries {
	ts := at.UnixMilli()
	base := []prompb.Label{{Name: "target", Value: p.info.Target}, {Name: "test_id", Value: p.info.TestID}}
	var out []prompb.TimeSeries
	add := func(name string, extra []prompb.Label, v float64) {
		labels := make([]prompb.Label, 0, len(base)+len(extra)+1)
		labels = append(labels, prompb.Label{Name: "__name__", Value: name})
		labels = append(labels, base...)
		labels = append(labels, extra...)
		sort.Slice(labels, func(i, j int) bool { return labels[i].Name < labels[j].Name })
		out = append(out, prompb.TimeSeries{Labels: labels, Samples: []prompb.Sample{{Value: v, Timestamp: ts}}})
	}
	for k, v := range per.Counters {
		p.totals[k] += v
	}
	names := make([]string, 0, len(p.totals))
	for k := range p.totals {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name, labels := counterSeries(k)
		add(name, labels, float64(p.totals[k]))
	}
	for k, v := range per.Rates {
		add("load_"+metricName(k), nil, v)
	}
	add("load_vusers_active", nil, float64(snap.ActiveVusers))
	hists := make([]string, 0, len(per.Summaries))
	for k := range per.Summaries {
		hists = append(hists, k)
	}
	sort.Strings(hists)
	for _, k := range hists {
		s := per.Summaries[k]
		name, scale := "load_"+metricName(k), 1.0
		if k == mHTTPResponseTime || k == mHTTPServiceTime || k == mVusersSession || strings.HasPrefix(k, mHTTPResponseTime+".") {
			name, scale = name+"_seconds", 1.0/1000
		}
		p.counts[k] += s.Count
		p.sums[k] += s.Mean * float64(s.Count) * scale
		for _, q := range []struct {
			q string
			v float64
		}{{"0.5", s.P50}, {"0.9", s.P90}, {"0.95", s.P95}, {"0.99", s.P99}, {"0.999", s.P999}, {"1", s.Max}} {
			add(name, []prompb.Label{{Name: "quantile", Value: q.q}}, q.v*scale)
		}
		add(name+"_count", nil, float64(p.counts[k]))
		add(name+"_sum", nil, p.sums[k])
	}
	return out
}

func (p *Pusher) write(series []prompb.TimeSeries) error {
	if len(series) == 0 {
		return nil
	}
	wr := &prompb.WriteRequest{Timeseries: series}
	data, err := wr.Marshal()
	if err != nil {
		return err
	}
	return p.post(p.base+"/api/v1/write", "application/x-protobuf", "snappy", snappy.Encode(nil, data))
}
