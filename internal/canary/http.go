package canary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	// maxBodyBytes is how much of a response body a canary reads.
	maxBodyBytes = 4 << 20
	// maxRedirects is how many redirects a request follows, as Go's client.
	maxRedirects = 10
	// userAgent is sent unless the canary sets its own.
	userAgent = "sonde-canary/1"
)

// secretHeaders are recorded as "[REDACTED]" (canonical names).
var secretHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
	"X-Api-Key": true, "X-Auth-Token": true,
}

// session is the HTTP client of one run. Each run gets a fresh transport,
// so that it measures DNS, connect and TLS as a new visitor would, while
// its own requests reuse connections as a browser does.
type session struct {
	client *http.Client
	close  func()
}

func (r *Runner) newSession(c *Canary) *session {
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if r.opts.Transport != nil {
		return &session{client: &http.Client{Transport: r.opts.Transport, CheckRedirect: noRedirect}, close: func() {}}
	}
	conf := &tls.Config{}
	if r.opts.TLSConfig != nil {
		conf = r.opts.TLSConfig.Clone()
	}
	if c.Insecure {
		conf.InsecureSkipVerify = true
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       conf,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &session{client: &http.Client{Transport: tr, CheckRedirect: noRedirect}, close: tr.CloseIdleConnections}
}

// exchange is the outcome of one fetch: a request and the redirects it
// followed.
type exchange struct {
	requests []Request
	// status, header, body, ip and tls describe the final response;
	// status is 0 without one.
	status int
	header http.Header
	body   []byte
	ip     string
	tls    *tls.ConnectionState
	url    *url.URL // final URL, after redirects
	// responseTime runs from the first request to the final response's
	// headers; duration to the end of its body.
	responseTime, duration time.Duration
	err                    error
}

// fetch sends a request and follows its redirects, recording each
// exchange with its timings. A 303, or a 301 or 302 answering a POST,
// turns the request into a GET without a body, as browsers do; credentials
// are not sent to another host.
func (s *session) fetch(ctx context.Context, method, rawURL string, header http.Header, body string) *exchange {
	x := &exchange{}
	start := time.Now()
	defer func() { x.duration = time.Since(start) }()
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		x.err = fmt.Errorf("invalid URL %q", rawURL)
		x.responseTime = time.Since(start)
		return x
	}
	header = header.Clone()
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", userAgent)
	}
	for hop := 0; ; hop++ {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		tr := &tracer{}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, tr.clientTrace()), method, u.String(), rd)
		if err != nil {
			x.err = err
			x.responseTime = time.Since(start)
			return x
		}
		req.Header = header
		rec := Request{Method: method, URL: u.String(), RequestHeaders: headerList(header), RequestBodySize: int64(len(body))}
		tr.start = time.Now()
		rec.Start = tr.start
		resp, err := s.client.Do(req)
		if err != nil {
			x.err = requestError(err)
			rec.Error = x.err.Error()
			rec.Timings = tr.timings(time.Now())
			rec.ServerIP = tr.serverIP()
			x.requests = append(x.requests, rec)
			x.responseTime = time.Since(start)
			return x
		}
		headersAt := tr.firstByteOr(time.Now())
		data, truncated, readErr := readBody(resp.Body)
		resp.Body.Close()
		end := time.Now()
		rec.Status = resp.StatusCode
		rec.StatusText = strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
		rec.HTTPVersion = resp.Proto
		rec.ResponseHeaders = headerList(resp.Header)
		rec.ResponseBodySize = int64(len(data))
		rec.BodyTruncated = truncated
		rec.Decompressed = resp.Uncompressed
		rec.MimeType = resp.Header.Get("Content-Type")
		rec.ServerIP = tr.serverIP()
		rec.Timings = tr.timings(end)
		if readErr != nil {
			rec.Error = "read body: " + readErr.Error()
		}
		next := redirectTarget(resp)
		if next != nil {
			next = u.ResolveReference(next)
			rec.RedirectURL = next.String()
		}
		x.requests = append(x.requests, rec)
		if next != nil && hop < maxRedirects && readErr == nil {
			if resp.StatusCode == http.StatusSeeOther || (resp.StatusCode <= http.StatusFound && method == http.MethodPost) {
				method, body = http.MethodGet, ""
				header.Del("Content-Type")
			}
			if !strings.EqualFold(next.Host, u.Host) {
				header.Del("Authorization")
				header.Del("Cookie")
			}
			u = next
			continue
		}
		x.status, x.header, x.body, x.url = resp.StatusCode, resp.Header, data, u
		x.ip, x.tls = rec.ServerIP, resp.TLS
		x.responseTime = headersAt.Sub(start)
		switch {
		case readErr != nil:
			x.err = fmt.Errorf("read body: %w", readErr)
		case next != nil:
			x.err = fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return x
	}
}

// redirectTarget returns the Location of a redirect response, or nil.
func redirectTarget(resp *http.Response) *url.URL {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil
	}
	return u
}

// readBody reads up to maxBodyBytes of a body.
func readBody(r io.Reader) (data []byte, truncated bool, err error) {
	data, err = io.ReadAll(io.LimitReader(r, maxBodyBytes+1))
	if len(data) > maxBodyBytes {
		data, truncated = data[:maxBodyBytes], true
	}
	return data, truncated, err
}

// requestError drops the "Get "url": " prefix of client errors (the URL is
// recorded beside them) and names timeouts.
func requestError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out")
	}
	return err
}

// headerList flattens headers in name order, redacting secrets.
func headerList(h http.Header) []Header {
	out := make([]Header, 0, len(h))
	for name, values := range h {
		for _, v := range values {
			if secretHeaders[http.CanonicalHeaderKey(name)] {
				v = "[REDACTED]"
			}
			out = append(out, Header{Name: name, Value: v})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tracer records when the phases of one request happened. The
// transport calls it from its own goroutines, hence the mutex.
type tracer struct {
	mu    sync.Mutex
	start time.Time
	dnsStart, dnsDone, connStart, connDone, tlsStart, tlsDone,
	gotConn, wrote, firstByte time.Time
	reused bool
	remote net.Addr
}

func (t *tracer) clientTrace() *httptrace.ClientTrace {
	first := func(p *time.Time) {
		t.mu.Lock()
		if p.IsZero() {
			*p = time.Now()
		}
		t.mu.Unlock()
	}
	return &httptrace.ClientTrace{
		DNSStart:     func(httptrace.DNSStartInfo) { first(&t.dnsStart) },
		DNSDone:      func(httptrace.DNSDoneInfo) { first(&t.dnsDone) },
		ConnectStart: func(string, string) { first(&t.connStart) },
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				first(&t.connDone)
			}
		},
		TLSHandshakeStart: func() { first(&t.tlsStart) },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { first(&t.tlsDone) },
		GotConn: func(info httptrace.GotConnInfo) {
			t.mu.Lock()
			t.gotConn, t.reused, t.remote = time.Now(), info.Reused, info.Conn.RemoteAddr()
			t.mu.Unlock()
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { first(&t.wrote) },
		GotFirstResponseByte: func() { first(&t.firstByte) },
	}
}

// firstByteOr returns when the first response byte came, or def.
func (t *tracer) firstByteOr(def time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.firstByte.IsZero() {
		return def
	}
	return t.firstByte
}

func (t *tracer) serverIP() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.remote == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(t.remote.String())
	if err != nil {
		return t.remote.String()
	}
	return host
}

// timings computes the phases of a request whose body ended at end.
func (t *tracer) timings(end time.Time) Timings {
	t.mu.Lock()
	defer t.mu.Unlock()
	span := func(a, b time.Time) float64 {
		if a.IsZero() || b.IsZero() || b.Before(a) {
			return -1
		}
		return ms(b.Sub(a))
	}
	nonNeg := func(v float64) float64 { return max(v, 0) }
	tm := Timings{DNSMs: -1, ConnectMs: -1, TLSMs: -1}
	// The first network activity ends the wait for a connection.
	firstActivity := t.gotConn
	if !t.reused {
		tm.DNSMs = span(t.dnsStart, t.dnsDone)
		tm.ConnectMs = span(t.connStart, t.connDone)
		tm.TLSMs = span(t.tlsStart, t.tlsDone)
		for _, at := range []time.Time{t.dnsStart, t.connStart, t.tlsStart} {
			if !at.IsZero() && (firstActivity.IsZero() || at.Before(firstActivity)) {
				firstActivity = at
			}
		}
	}
	if firstActivity.IsZero() {
		firstActivity = end // nothing happened before the failure
	}
	tm.BlockedMs = nonNeg(span(t.start, firstActivity))
	tm.SendMs = nonNeg(span(t.gotConn, t.wrote))
	tm.WaitMs = nonNeg(span(t.wrote, t.firstByte))
	tm.ReceiveMs = nonNeg(span(t.firstByte, end))
	return tm
}
