package canary

import (
	"encoding/json"
	"io"
	"net/url"
	"runtime/debug"
)

// The HAR 1.2 format (http://www.softwareishard.com/blog/har-12-spec/), as
// CloudWatch Synthetics stores it per run. Custom fields start with "_".
type (
	harFile struct {
		Log harLog `json:"log"`
	}
	harLog struct {
		Version string     `json:"version"`
		Creator harCreator `json:"creator"`
		Pages   []harPage  `json:"pages"`
		Entries []harEntry `json:"entries"`
	}
	harCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	harPage struct {
		StartedDateTime string         `json:"startedDateTime"`
		ID              string         `json:"id"`
		Title           string         `json:"title"`
		PageTimings     harPageTimings `json:"pageTimings"`
		Comment         string         `json:"comment,omitempty"`
	}
	harPageTimings struct {
		OnContentLoad float64 `json:"onContentLoad"`
		OnLoad        float64 `json:"onLoad"`
	}
	harEntry struct {
		PageRef         string      `json:"pageref"`
		StartedDateTime string      `json:"startedDateTime"`
		Time            float64     `json:"time"`
		Request         harRequest  `json:"request"`
		Response        harResponse `json:"response"`
		Cache           struct{}    `json:"cache"`
		Timings         harTimings  `json:"timings"`
		ServerIPAddress string      `json:"serverIPAddress,omitempty"`
		Comment         string      `json:"comment,omitempty"`
		Error           string      `json:"_error,omitempty"`
	}
	harRequest struct {
		Method      string      `json:"method"`
		URL         string      `json:"url"`
		HTTPVersion string      `json:"httpVersion"`
		Cookies     []harCookie `json:"cookies"`
		Headers     []Header    `json:"headers"`
		QueryString []Header    `json:"queryString"`
		HeadersSize int         `json:"headersSize"`
		BodySize    int64       `json:"bodySize"`
	}
	harResponse struct {
		Status      int         `json:"status"`
		StatusText  string      `json:"statusText"`
		HTTPVersion string      `json:"httpVersion"`
		Cookies     []harCookie `json:"cookies"`
		Headers     []Header    `json:"headers"`
		Content     harContent  `json:"content"`
		RedirectURL string      `json:"redirectURL"`
		HeadersSize int         `json:"headersSize"`
		BodySize    int64       `json:"bodySize"`
	}
	harCookie struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	harContent struct {
		Size     int64  `json:"size"`
		MimeType string `json:"mimeType"`
		Comment  string `json:"comment,omitempty"`
	}
	// harTimings: connect includes ssl, as the specification says.
	harTimings struct {
		Blocked float64 `json:"blocked"`
		DNS     float64 `json:"dns"`
		Connect float64 `json:"connect"`
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
		SSL     float64 `json:"ssl"`
	}
)

// harTime is HAR's ISO 8601 date with milliseconds.
const harTime = "2006-01-02T15:04:05.000Z07:00"

// WriteHAR writes runs as one HAR 1.2 file: a page per run (its id is the
// run's) and an entry per HTTP request, with the step name as the entry's
// comment.
func WriteHAR(w io.Writer, runs ...*Run) error {
	f := harFile{Log: harLog{Version: "1.2", Creator: harCreator{Name: "sonde", Version: version()},
		Pages: []harPage{}, Entries: []harEntry{}}}
	for _, run := range runs {
		status := "succeeded"
		if !run.Success {
			status = "failed: " + run.Error
		}
		f.Log.Pages = append(f.Log.Pages, harPage{
			StartedDateTime: run.Start.Format(harTime),
			ID:              run.ID,
			Title:           "canary " + run.Canary + " (" + run.Kind + ")",
			PageTimings:     harPageTimings{OnContentLoad: -1, OnLoad: run.DurationMs},
			Comment:         status,
		})
		for _, st := range run.Steps {
			for _, rq := range st.Requests {
				f.Log.Entries = append(f.Log.Entries, harEntryOf(run.ID, st.Name, rq))
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(f)
}

func harEntryOf(pageRef, step string, rq Request) harEntry {
	t := rq.Timings
	connect := t.ConnectMs
	if connect >= 0 && t.TLSMs > 0 {
		connect += t.TLSMs
	}
	ht := harTimings{Blocked: t.BlockedMs, DNS: t.DNSMs, Connect: connect, Send: t.SendMs, Wait: t.WaitMs, Receive: t.ReceiveMs, SSL: t.TLSMs}
	total := 0.0
	for _, v := range []float64{ht.Blocked, ht.DNS, ht.Connect, ht.Send, ht.Wait, ht.Receive} {
		if v > 0 {
			total += v
		}
	}
	version := rq.HTTPVersion
	if version == "" {
		version = "HTTP/1.1"
	}
	query := []Header{}
	if u, err := url.Parse(rq.URL); err == nil {
		for k, vs := range u.Query() {
			for _, v := range vs {
				query = append(query, Header{Name: k, Value: v})
			}
		}
	}
	bodySize := rq.ResponseBodySize
	if rq.Status == 0 || rq.Decompressed {
		bodySize = -1 // unknown: no response, or Go's client undid gzip
	}
	content := harContent{Size: rq.ResponseBodySize, MimeType: rq.MimeType}
	if content.MimeType == "" {
		content.MimeType = "x-unknown"
	}
	if rq.BodyTruncated {
		content.Comment = "body truncated at sonde's read limit"
	}
	return harEntry{
		PageRef:         pageRef,
		StartedDateTime: rq.Start.Format(harTime),
		Time:            total,
		Request: harRequest{
			Method: rq.Method, URL: rq.URL, HTTPVersion: version, Cookies: []harCookie{},
			Headers: nonNil(rq.RequestHeaders), QueryString: query, HeadersSize: -1, BodySize: rq.RequestBodySize,
		},
		Response: harResponse{
			Status: rq.Status, StatusText: rq.StatusText, HTTPVersion: rq.HTTPVersion, Cookies: []harCookie{},
			Headers: nonNil(rq.ResponseHeaders), Content: content, RedirectURL: rq.RedirectURL,
			HeadersSize: -1, BodySize: bodySize,
		},
		Timings:         ht,
		ServerIPAddress: rq.ServerIP,
		Comment:         step,
		Error:           rq.Error,
	}
}

func nonNil(h []Header) []Header {
	if h == nil {
		return []Header{}
	}
	return h
}

// version is sonde's module version, for the HAR creator.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
