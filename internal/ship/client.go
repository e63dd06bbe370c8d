package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sonde-dev/sonde/internal/event"
)

// errTooLarge means the server refused a batch as too big (413); the
// caller splits it.
var errTooLarge = errors.New("batch too large for the server")

// maxRetryAfter caps a server's Retry-After, against nonsense values.
const maxRetryAfter = 5 * time.Minute

// ServerError is a refusal that retrying cannot fix: a wrong token (401),
// a token without the ingest scope (403), or a request the server does not
// understand (another 4xx). The shipper stops with it; offsets stay where
// they were, so a new run resumes once the cause is fixed.
type ServerError struct {
	Status int
	// Msg is the server's explanation.
	Msg string
}

// Error says what the server refused and, for token problems, what to check.
func (e *ServerError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized:
		hint = " (check --token or SONDE_TOKEN)"
	case http.StatusForbidden:
		hint = " (the token needs the ingest scope)"
	}
	return fmt.Sprintf("server refused the batch: %d %s: %s%s", e.Status, http.StatusText(e.Status), e.Msg, hint)
}

// lineError is a line the server rejected; Line counts from 1 in the body.
type lineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// response is the server's answer to a batch (see internal/ingest/logs).
type response struct {
	Accepted  int         `json:"accepted"`
	Rejected  int         `json:"rejected"`
	Errors    []lineError `json:"errors"`
	Duplicate bool        `json:"duplicate"`
	Error     string      `json:"error"`
}

// client posts batches to the server and retries until they are confirmed.
// It is safe for concurrent use.
type client struct {
	endpoint string // Server + /api/v1/logs, without query
	group    string
	token    string
	compress string
	http     *http.Client
	own      bool // http was made here: close its idle connections at the end
	minWait  time.Duration
	maxWait  time.Duration
	log      *slog.Logger
	stats    *counters
	retryLog *limiter
	zstd     *zstd.Encoder
}

func newClient(o *Options, stats *counters) (*client, error) {
	u, err := url.Parse(o.Server)
	if err != nil {
		return nil, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/logs"
	u.RawQuery, u.Fragment = "", ""
	c := &client{
		endpoint: u.String(),
		group:    o.Group,
		token:    o.Token,
		compress: o.Compression,
		http:     o.HTTPClient,
		minWait:  o.MinBackoff,
		maxWait:  o.MaxBackoff,
		log:      o.Logger,
		stats:    stats,
		retryLog: newLimiter(10 * time.Second),
	}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		c.http = &http.Client{Transport: tr, Timeout: o.RequestTimeout}
		c.own = true
	}
	if c.compress == "zstd" {
		c.zstd, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd encoder: %w", err)
		}
	}
	return c, nil
}

// close releases idle connections of a client made here.
func (c *client) close() {
	if c.own {
		c.http.CloseIdleConnections()
	}
	if c.zstd != nil {
		_ = c.zstd.Close()
	}
}

// send posts b to stream under key and retries until the server confirms
// it, ctx ends, or the server refuses it for good. The outcomes:
//   - nil error: the server stored the batch (or had stored it before:
//     response.Duplicate), or rejected every line of it as invalid
//     (response.Accepted == 0); either way it must not be sent again;
//   - errTooLarge: nothing was stored; the caller splits the batch;
//   - a *ServerError: nothing was stored and retrying will not help;
//   - ctx's error: the batch may or may not be stored; the caller must send
//     it again with the same key before anything after it.
func (c *client) send(ctx context.Context, stream, key string, b *batch) (*response, error) {
	body, ctype, err := c.encode(b)
	if err != nil {
		return nil, err
	}
	q := url.Values{"group": {c.group}}
	if stream != "" {
		q.Set("stream", stream)
	}
	target := c.endpoint + "?" + q.Encode()
	for attempt := 1; ; attempt++ {
		resp, status, retryAfter, err := c.post(ctx, target, key, ctype, body)
		var reason string
		switch {
		case err == nil && status == http.StatusOK:
			return resp, nil
		case err == nil && status == http.StatusBadRequest && resp.Accepted == 0 && resp.Rejected > 0:
			return resp, nil // every line invalid: the caller logs and skips them
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			reason = err.Error()
		case status == http.StatusRequestEntityTooLarge:
			return nil, errTooLarge
		case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable,
			status == http.StatusRequestTimeout, status >= 500:
			reason = fmt.Sprintf("%d %s: %s", status, http.StatusText(status), resp.Error)
		default:
			return nil, &ServerError{Status: status, Msg: resp.Error}
		}
		wait := c.backoff(attempt)
		if retryAfter > 0 {
			wait = retryAfter
		}
		c.stats.retries.Add(1)
		if ok, suppressed := c.retryLog.allow(); ok {
			c.log.Warn("Sending failed, retrying", "stream", stream, "lines", len(b.lines),
				"attempt", attempt, "wait", wait.Round(time.Millisecond), "reason", reason, "suppressed", suppressed)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is the wait before retry attempt n (from 1): it doubles from
// minWait up to maxWait, and is drawn from its upper half so that shippers
// that failed together do not retry together.
func (c *client) backoff(n int) time.Duration {
	d := c.maxWait
	if n < 32 {
		d = min(c.minWait<<(n-1), c.maxWait)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// post makes one attempt. err is a transport error (or an unreadable
// answer); otherwise status is the HTTP status and resp the decoded body.
func (c *client) post(ctx context.Context, target, key, ctype string, body []byte) (_ *response, status int, retryAfter time.Duration, _ error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, 0, 0, err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "sonde-ship")
	req.Header.Set("X-Sonde-Batch-Key", key)
	switch c.compress {
	case "zstd", "gzip":
		req.Header.Set("Content-Encoding", c.compress)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, 0, 0, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("read answer: %w", err)
	}
	resp := &response{}
	if err := json.Unmarshal(data, resp); err != nil {
		resp.Error = strings.TrimSpace(string(data[:min(len(data), 200)]))
		if res.StatusCode == http.StatusOK {
			// A 200 that is not the log endpoint's answer (from a proxy?)
			// confirms nothing.
			return nil, 0, 0, fmt.Errorf("unexpected answer with status 200: %q", resp.Error)
		}
	}
	return resp, res.StatusCode, parseRetryAfter(res.Header.Get("Retry-After"), time.Now()), nil
}

// parseRetryAfter reads delay-seconds or an HTTP date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// encode builds the request body of b: NDJSON, or a JSON array of strings
// when the first line starts with '[' — the server takes a body starting
// with '[' for a JSON array, and each string element is then parsed
// exactly like an NDJSON line, so plain-text lines such as "[INFO] ..."
// keep their meaning.
func (c *client) encode(b *batch) (body []byte, ctype string, err error) {
	body, ctype = b.body, "application/x-ndjson"
	if len(b.lines) > 0 {
		if first := bytes.TrimLeft(b.line(0), " \t\r"); len(first) > 0 && first[0] == '[' {
			body, ctype = jsonArray(b), "application/json"
		}
	}
	switch c.compress {
	case "zstd":
		return c.zstd.EncodeAll(body, make([]byte, 0, len(body)/4)), ctype, nil
	case "gzip":
		buf := bytes.NewBuffer(make([]byte, 0, len(body)/4))
		zw, err := gzip.NewWriterLevel(buf, gzip.BestSpeed)
		if err != nil {
			return nil, "", err
		}
		if _, err := zw.Write(body); err != nil {
			return nil, "", err
		}
		if err := zw.Close(); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), ctype, nil
	}
	return body, ctype, nil
}

// jsonArray encodes the lines of b as a JSON array of strings. Invalid
// UTF-8 is replaced first, as the server does for plain-text lines.
func jsonArray(b *batch) []byte {
	out := make([]byte, 0, len(b.body)+len(b.lines)*3+2)
	out = append(out, '[')
	for i := range b.lines {
		if i > 0 {
			out = append(out, ",\n"...)
		}
		line := b.line(i)
		if !utf8.Valid(line) {
			line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
		}
		out = event.AppendQuoted(out, string(line))
	}
	return append(out, ']')
}

// limiter lets a noisy log message through at most once per interval and
// counts what it held back.
type limiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func newLimiter(every time.Duration) *limiter { return &limiter{every: every} }

// allow reports whether to log now, and how many messages were held back
// since the last one that was logged.
func (l *limiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
