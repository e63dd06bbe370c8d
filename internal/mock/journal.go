package mock

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Journal limits. A load test can send far more requests than anyone will
// look at, so the journal keeps the newest ones within both bounds.
const (
	// DefaultJournalSize is how many requests the journal keeps.
	DefaultJournalSize = 10000
	// DefaultJournalBodyBytes is how many bytes of request bodies the
	// journal keeps.
	DefaultJournalBodyBytes = 64 << 20
)

// serveEvent is one journal entry.
type serveEvent struct {
	id   string
	req  *loggedRequest
	stub *stub // nil when no stub matched
}

// journal is a bounded, concurrency-safe log of served requests, oldest
// first in a ring.
type journal struct {
	mu        sync.Mutex
	events    []*serveEvent // ring buffer of capacity maxEvents
	head      int           // index of the oldest event
	n         int
	bodyBytes int
	maxEvents int
	maxBytes  int
}

func newJournal(maxEvents, maxBytes int) *journal {
	return &journal{maxEvents: maxEvents, maxBytes: maxBytes}
}

func (j *journal) disabled() bool { return j.maxEvents <= 0 }

func (j *journal) add(ev *serveEvent) {
	if j.disabled() {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.events == nil {
		j.events = make([]*serveEvent, min(j.maxEvents, 1024))
	}
	if j.n == len(j.events) && j.n < j.maxEvents {
		grown := make([]*serveEvent, min(2*len(j.events), j.maxEvents))
		for i := 0; i < j.n; i++ {
			grown[i] = j.events[(j.head+i)%len(j.events)]
		}
		j.events, j.head = grown, 0
	}
	if j.n == len(j.events) {
		j.dropOldest()
	}
	j.events[(j.head+j.n)%len(j.events)] = ev
	j.n++
	j.bodyBytes += len(ev.req.body)
	for j.bodyBytes > j.maxBytes && j.n > 1 {
		j.dropOldest()
	}
}

func (j *journal) dropOldest() {
	old := j.events[j.head]
	j.events[j.head] = nil
	j.head = (j.head + 1) % len(j.events)
	j.n--
	j.bodyBytes -= len(old.req.body)
}

// all returns the events, newest first.
func (j *journal) all() []*serveEvent {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]*serveEvent, j.n)
	for i := 0; i < j.n; i++ {
		out[j.n-1-i] = j.events[(j.head+i)%len(j.events)]
	}
	return out
}

func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events, j.head, j.n, j.bodyBytes = nil, 0, 0, 0
}

// remove deletes the events that keep returns false for, and returns how
// many it removed.
func (j *journal) remove(drop func(*serveEvent) bool) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	var kept []*serveEvent
	removed := 0
	for i := 0; i < j.n; i++ {
		ev := j.events[(j.head+i)%len(j.events)]
		if drop(ev) {
			removed++
			j.bodyBytes -= len(ev.req.body)
			continue
		}
		kept = append(kept, ev)
	}
	if removed > 0 {
		buf := make([]*serveEvent, len(j.events))
		copy(buf, kept)
		j.events, j.head, j.n = buf, 0, len(kept)
	}
	return removed
}

// newID returns a random (version 4) UUID, the form WireMock uses for stub
// and request ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ServeEvent is one request in the journal, in the JSON form of
// GET /__admin/requests.
type ServeEvent struct {
	ID                 string             `json:"id"`
	Request            LoggedRequest      `json:"request"`
	ResponseDefinition ResponseDefinition `json:"responseDefinition"`
	WasMatched         bool               `json:"wasMatched"`
	StubMapping        *StubMapping       `json:"stubMapping,omitempty"`
}

// LoggedRequest is a received request in WireMock's JSON form.
type LoggedRequest struct {
	ID                  string                `json:"id,omitempty"`
	URL                 string                `json:"url"`
	AbsoluteURL         string                `json:"absoluteUrl"`
	Method              string                `json:"method"`
	ClientIP            string                `json:"clientIp"`
	Headers             Headers               `json:"headers"`
	Cookies             Headers               `json:"cookies"`
	BrowserProxyRequest bool                  `json:"browserProxyRequest"`
	LoggedDate          int64                 `json:"loggedDate"`
	LoggedDateString    string                `json:"loggedDateString"`
	Body                string                `json:"body"`
	BodyAsBase64        string                `json:"bodyAsBase64"`
	Scheme              string                `json:"scheme"`
	Host                string                `json:"host"`
	Port                int                   `json:"port"`
	Protocol            string                `json:"protocol"`
	QueryParams         map[string]QueryParam `json:"queryParams"`
}

// QueryParam is one query parameter of a LoggedRequest.
type QueryParam struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// toJSON builds the exported form of a journal event.
func (ev *serveEvent) toJSON() ServeEvent {
	out := ServeEvent{ID: ev.id, Request: ev.req.toJSON(ev.id), WasMatched: ev.stub != nil}
	if ev.stub != nil {
		m := ev.stub.mapping
		out.StubMapping = &m
		out.ResponseDefinition = m.Response
		out.ResponseDefinition.Status = ev.stub.resp.status
	} else {
		out.ResponseDefinition = ResponseDefinition{Status: 404}
	}
	return out
}

func (r *loggedRequest) toJSON(id string) LoggedRequest {
	lr := LoggedRequest{
		ID:               id,
		URL:              r.uri,
		AbsoluteURL:      r.absoluteURL(),
		Method:           r.method,
		ClientIP:         r.clientIP,
		Headers:          Headers{},
		Cookies:          Headers{},
		LoggedDate:       r.loggedAt.UnixMilli(),
		LoggedDateString: r.loggedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		BodyAsBase64:     base64.StdEncoding.EncodeToString(r.body),
		Scheme:           r.scheme,
		Protocol:         r.protocol,
		QueryParams:      map[string]QueryParam{},
	}
	if utf8.Valid(r.body) {
		lr.Body = string(r.body)
	}
	if r.host[0] != "" {
		lr.Headers["Host"] = r.host[:]
	}
	for k, vs := range r.header {
		lr.Headers[k] = vs
	}
	for _, line := range r.header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(part), "="); ok {
				lr.Cookies[k] = append(lr.Cookies[k], strings.Trim(v, `"`))
			}
		}
	}
	host, port, err := net.SplitHostPort(r.host[0])
	if err != nil {
		host, port = r.host[0], "80"
		if r.scheme == "https" {
			port = "443"
		}
	}
	lr.Host = host
	lr.Port, _ = strconv.Atoi(port)
	if q, err := url.ParseQuery(r.rawQuery); err == nil {
		for k, vs := range q {
			lr.QueryParams[k] = QueryParam{Key: k, Values: vs}
		}
	}
	return lr
}
