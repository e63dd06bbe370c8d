package canary

import (
	"time"

	"github.com/sonde-dev/sonde/internal/canary/condition"
)

// What started a run.
const (
	TriggerSchedule = "schedule"
	TriggerAPI      = "api"
	TriggerCLI      = "cli"
)

// Run is the result of one canary run. It is what the API returns, what
// the HAR export is made of, and what is stored as an event. A Run is
// immutable once returned.
type Run struct {
	ID      string    `json:"id"`
	Canary  string    `json:"canary"`
	Kind    string    `json:"kind"`
	Trigger string    `json:"trigger"`
	Start   time.Time `json:"start"`
	// DurationMs is the whole run, in milliseconds.
	DurationMs float64 `json:"durationMs"`
	Success    bool    `json:"success"`
	// Error says why the run failed: the first failed step and its reason.
	Error string       `json:"error,omitempty"`
	Steps []StepResult `json:"steps"`
	// LinksSkipped counts the links a broken_links run found but did not
	// check because of max_links.
	LinksSkipped int `json:"linksSkipped,omitempty"`
}

// StepResult is the result of one step: an api step, a heartbeat's page load, or
// one link of a broken-link check.
type StepResult struct {
	Name    string `json:"name"`
	Success bool   `json:"success"`
	// Skipped marks an api step not run because an earlier one failed.
	Skipped bool   `json:"skipped,omitempty"`
	Method  string `json:"method,omitempty"`
	URL     string `json:"url,omitempty"`
	// Status is the final HTTP status, after redirects (0: no response).
	Status int `json:"status"`
	// DurationMs is the step from its first request to the end of the
	// last body, redirects included.
	DurationMs float64 `json:"durationMs"`
	// ResponseTimeMs is [RESPONSE_TIME]: from the first request to the
	// final response's headers.
	ResponseTimeMs float64 `json:"responseTimeMs"`
	// Error says why the step failed.
	Error      string             `json:"error,omitempty"`
	Conditions []condition.Result `json:"conditions,omitempty"`
	// Timings add up the timings of the step's requests (all -1 when it
	// made none).
	Timings Timings `json:"timings"`
	// Requests are the step's HTTP exchanges: one, or one per redirect.
	Requests []Request `json:"requests,omitempty"`
	// Depth and FoundOn place a link of a broken-link check: the start
	// page is depth 0, the links on it depth 1...
	Depth   int    `json:"depth,omitempty"`
	FoundOn string `json:"foundOn,omitempty"`
}

// Request is one HTTP exchange, with what a HAR entry needs. Secret headers
// (Authorization, Cookie...) are redacted.
type Request struct {
	Start           time.Time `json:"start"`
	Method          string    `json:"method"`
	URL             string    `json:"url"`
	RequestHeaders  []Header  `json:"requestHeaders"`
	RequestBodySize int64     `json:"requestBodySize"`
	// Status is 0 when no response came; Error says why.
	Status          int      `json:"status"`
	StatusText      string   `json:"statusText,omitempty"`
	HTTPVersion     string   `json:"httpVersion,omitempty"`
	ResponseHeaders []Header `json:"responseHeaders,omitempty"`
	// ResponseBodySize counts the body bytes read; BodyTruncated says the
	// body was longer than sonde reads.
	ResponseBodySize int64 `json:"responseBodySize"`
	BodyTruncated    bool  `json:"bodyTruncated,omitempty"`
	// Decompressed says the body came gzip-encoded and its size is the
	// decoded one.
	Decompressed bool    `json:"decompressed,omitempty"`
	MimeType     string  `json:"mimeType,omitempty"`
	RedirectURL  string  `json:"redirectURL,omitempty"`
	ServerIP     string  `json:"serverIP,omitempty"`
	Timings      Timings `json:"timings"`
	Error        string  `json:"error,omitempty"`
}

// Header is one HTTP header line.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Timings break a request's time down, in milliseconds, as HAR 1.2 does,
// except that ConnectMs is the TCP connection alone (HAR's connect also
// holds the TLS handshake). -1 means the phase did not happen: no DNS
// lookup for an IP address, no connection set up for a reused one, no TLS
// over plain HTTP.
type Timings struct {
	// BlockedMs is the wait for a connection before any of the below.
	BlockedMs float64 `json:"blockedMs"`
	DNSMs     float64 `json:"dnsMs"`
	ConnectMs float64 `json:"connectMs"`
	TLSMs     float64 `json:"tlsMs"`
	// SendMs is writing the request.
	SendMs float64 `json:"sendMs"`
	// WaitMs is the time to first byte: from the request written to the
	// first byte of the response.
	WaitMs float64 `json:"waitMs"`
	// ReceiveMs is the download: from the first byte to the end of the body.
	ReceiveMs float64 `json:"receiveMs"`
}

// TotalMs adds up the phases that happened.
func (t Timings) TotalMs() float64 {
	sum := 0.0
	for _, v := range []float64{t.BlockedMs, t.DNSMs, t.ConnectMs, t.TLSMs, t.SendMs, t.WaitMs, t.ReceiveMs} {
		if v > 0 {
			sum += v
		}
	}
	return sum
}

// add adds o's phases to t; a phase stays -1 only if it is -1 in both.
func (t Timings) add(o Timings) Timings {
	plus := func(a, b float64) float64 {
		switch {
		case a < 0:
			return b
		case b < 0:
			return a
		}
		return a + b
	}
	return Timings{
		BlockedMs: plus(t.BlockedMs, o.BlockedMs), DNSMs: plus(t.DNSMs, o.DNSMs),
		ConnectMs: plus(t.ConnectMs, o.ConnectMs), TLSMs: plus(t.TLSMs, o.TLSMs),
		SendMs: plus(t.SendMs, o.SendMs), WaitMs: plus(t.WaitMs, o.WaitMs), ReceiveMs: plus(t.ReceiveMs, o.ReceiveMs),
	}
}

// noTimings is a step without requests, and the identity of add.
var noTimings = Timings{-1, -1, -1, -1, -1, -1, -1}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
