package mock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// compiledResponse is a ResponseDefinition prepared for sending: headers
// canonicalized, the body decoded or read from its file, delays checked.
type compiledResponse struct {
	status  int
	message string
	header  http.Header
	body    []byte
	// bodyErr is set when bodyFileName could not be read; WireMock answers
	// such a stub with a 500 rather than refusing it.
	bodyErr    error
	fixedDelay *time.Duration
	dist       *DelayDistribution
	dribble    *ChunkedDribbleDelay
	fault      Fault
	proxy      *httputil.ReverseProxy
}

func compileResponse(d ResponseDefinition, filesDir, stubID, stubName string) (*compiledResponse, error) {
	c := &compiledResponse{status: d.Status, message: d.StatusMessage, fault: d.Fault, dribble: d.ChunkedDribbleDelay}
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.status < 100 || c.status > 999 {
		return nil, fmt.Errorf("response status %d is not an HTTP status", c.status)
	}
	switch d.Fault {
	case "", FaultEmptyResponse, FaultMalformedResponseChunk, FaultRandomDataThenClose, FaultConnectionResetByPeer:
	default:
		return nil, fmt.Errorf("unknown fault %q (want EMPTY_RESPONSE, MALFORMED_RESPONSE_CHUNK, RANDOM_DATA_THEN_CLOSE or CONNECTION_RESET_BY_PEER)", d.Fault)
	}
	if d.FixedDelayMilliseconds != nil {
		if *d.FixedDelayMilliseconds < 0 {
			return nil, errors.New("fixedDelayMilliseconds must not be negative")
		}
		fd := time.Duration(*d.FixedDelayMilliseconds) * time.Millisecond
		c.fixedDelay = &fd
	}
	if d.DelayDistribution != nil {
		if err := checkDistribution(d.DelayDistribution); err != nil {
			return nil, err
		}
		dist := *d.DelayDistribution
		c.dist = &dist
	}
	if dd := d.ChunkedDribbleDelay; dd != nil && (dd.NumberOfChunks < 1 || dd.TotalDuration < 0) {
		return nil, errors.New("chunkedDribbleDelay needs numberOfChunks >= 1 and totalDuration >= 0")
	}

	switch {
	case d.Body != "":
		c.body = []byte(d.Body)
	case d.Base64Body != "":
		b, err := base64.StdEncoding.DecodeString(d.Base64Body)
		if err != nil {
			return nil, fmt.Errorf("base64Body: %w", err)
		}
		c.body = b
	case d.JSONBody != nil:
		var buf bytes.Buffer
		if err := json.Compact(&buf, d.JSONBody); err != nil {
			return nil, fmt.Errorf("jsonBody: %w", err)
		}
		c.body = buf.Bytes()
	case d.BodyFileName != "":
		c.body, c.bodyErr = readBodyFile(filesDir, d.BodyFileName)
	}

	c.header = make(http.Header, len(d.Headers)+3)
	for k, vs := range d.Headers {
		ck := http.CanonicalHeaderKey(k)
		c.header[ck] = append(c.header[ck], vs...)
	}
	if _, ok := c.header["Content-Type"]; !ok {
		// WireMock sends no Content-Type unless the stub sets one; stop
		// net/http from sniffing one.
		c.header["Content-Type"] = nil
	}
	_, hasLength := c.header["Content-Length"]
	_, hasTE := c.header["Transfer-Encoding"]
	if !hasLength && !hasTE && c.dribble == nil && c.bodyErr == nil {
		c.header["Content-Length"] = []string{strconv.Itoa(len(c.body))}
	}
	c.header["Matched-Stub-Id"] = []string{stubID}
	if stubName != "" {
		c.header["Matched-Stub-Name"] = []string{stubName}
	}

	if d.ProxyBaseURL != "" {
		p, err := newProxy(d)
		if err != nil {
			return nil, err
		}
		c.proxy = p
	}
	return c, nil
}

// readBodyFile reads a bodyFileName from the __files directory; like
// WireMock 3 it refuses names that climb out of that directory.
func readBodyFile(filesDir, name string) ([]byte, error) {
	if filesDir == "" {
		return nil, fmt.Errorf("bodyFileName %q: no __files directory is configured", name)
	}
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("bodyFileName %q is outside the __files directory", name)
	}
	b, err := os.ReadFile(filepath.Join(filesDir, clean))
	if err != nil {
		return nil, fmt.Errorf("bodyFileName: %w", err)
	}
	return b, nil
}

func checkDistribution(d *DelayDistribution) error {
	switch d.Type {
	case "lognormal":
		if d.Median < 0 || d.Sigma < 0 {
			return errors.New("lognormal delayDistribution needs median >= 0 and sigma >= 0")
		}
		if d.MaxValue != nil && *d.MaxValue < 0 {
			return errors.New("lognormal delayDistribution needs maxValue >= 0")
		}
	case "uniform":
		if d.Lower < 0 || d.Upper < d.Lower {
			return errors.New("uniform delayDistribution needs 0 <= lower <= upper")
		}
	case "fixed":
		if d.Milliseconds < 0 {
			return errors.New("fixed delayDistribution needs milliseconds >= 0")
		}
	default:
		return fmt.Errorf("unknown delayDistribution type %q (want lognormal, uniform or fixed)", d.Type)
	}
	return nil
}

// sampleMillis draws one delay in milliseconds, as WireMock's LogNormal,
// UniformDistribution and FixedDelayDistribution do: lognormal is
// round(median * exp(sigma * N(0,1))), resampled while above maxValue;
// uniform is an integer in [lower, upper].
func sampleMillis(d *DelayDistribution, rng *rand.Rand) int64 {
	switch d.Type {
	case "lognormal":
		v := d.Median * math.Exp(d.Sigma*rng.NormFloat64())
		if d.MaxValue != nil {
			// Resampling keeps the shape below the cap; give up after a
			// while if the cap sits far in the left tail.
			for i := 0; v > *d.MaxValue && i < 1000; i++ {
				v = d.Median * math.Exp(d.Sigma*rng.NormFloat64())
			}
			v = math.Min(v, *d.MaxValue)
		}
		return int64(math.Round(v))
	case "uniform":
		return int64(d.Lower + rng.IntN(d.Upper-d.Lower+1))
	case "fixed":
		return int64(d.Milliseconds)
	}
	return 0
}

// sleepCtx waits for d or until ctx is done, and reports whether the whole
// delay passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// write sends the response. The delay has already passed.
func (c *compiledResponse) write(w http.ResponseWriter, r *http.Request, body []byte, rng func(int) []byte) {
	if c.fault != "" {
		c.writeFault(w, rng)
		return
	}
	if c.proxy != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.proxy.ServeHTTP(w, r)
		return
	}
	if c.bodyErr != nil {
		http.Error(w, c.bodyErr.Error(), http.StatusInternalServerError)
		return
	}
	if c.message != "" && r.ProtoMajor == 1 && c.writeRaw(w, r) {
		return
	}
	h := w.Header()
	for k, v := range c.header {
		h[k] = v
	}
	w.WriteHeader(c.status)
	if c.dribble == nil || len(c.body) == 0 {
		_, _ = w.Write(c.body)
		return
	}
	rc := http.NewResponseController(w)
	n := c.dribble.NumberOfChunks
	size := (len(c.body) + n - 1) / n
	pause := time.Duration(c.dribble.TotalDuration) * time.Millisecond / time.Duration(n)
	for off, i := 0, 0; off < len(c.body); off, i = off+size, i+1 {
		if i > 0 && !sleepCtx(r.Context(), pause) {
			return
		}
		if _, err := w.Write(c.body[off:min(off+size, len(c.body))]); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

// writeRaw writes the response by hand on the hijacked HTTP/1.x
// connection, because net/http cannot send a custom reason phrase. The
// connection is closed afterwards. It reports false if the connection could
// not be hijacked (for example under httptest.ResponseRecorder).
func (c *compiledResponse) writeRaw(w http.ResponseWriter, r *http.Request) bool {
	conn, bufrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	fmt.Fprintf(bufrw, "HTTP/1.1 %d %s\r\n", c.status, c.message)
	for k, vs := range c.header {
		for _, v := range vs {
			fmt.Fprintf(bufrw, "%s: %s\r\n", k, v)
		}
	}
	if c.dribble != nil {
		fmt.Fprintf(bufrw, "Content-Length: %d\r\n", len(c.body))
	}
	bufrw.WriteString("Connection: close\r\n\r\n")
	if r.Method != http.MethodHead {
		_, _ = bufrw.Write(c.body)
	}
	_ = bufrw.Flush()
	return true
}

// garbage is what MALFORMED_RESPONSE_CHUNK sends where a chunk should be,
// as WireMock does.
const garbage = "lskdu018973t09sylgasjkfg1][]'./.sdlv"

func (c *compiledResponse) writeFault(w http.ResponseWriter, random func(int) []byte) {
	conn, bufrw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2, or a ResponseWriter without a connection: abort the
		// stream, which is the nearest thing to a broken connection.
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	switch c.fault {
	case FaultMalformedResponseChunk:
		writeFaultHead(bufrw, c.status)
		_, _ = bufrw.WriteString(garbage + "\r\n") // a chunk-size line that is not a size
	case FaultRandomDataThenClose:
		_, _ = bufrw.Write(random(512))
	case FaultConnectionResetByPeer:
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // Close now sends RST instead of FIN
		}
	}
	_ = bufrw.Flush()
}

func writeFaultHead(w *bufio.ReadWriter, status int) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\nTransfer-Encoding: chunked\r\n\r\n", status, http.StatusText(status))
}

// newProxy forwards matched requests to proxyBaseUrl, as WireMock's proxy
// stubs do: the request path (less proxyUrlPrefixToRemove) and query are
// appended to the base URL.
func newProxy(d ResponseDefinition) (*httputil.ReverseProxy, error) {
	base, err := url.Parse(d.ProxyBaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("proxyBaseUrl %q is not an absolute URL", d.ProxyBaseURL)
	}
	prefix := d.ProxyURLPrefixToRemove
	extra := d.AdditionalProxyRequestHeaders
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			path := strings.TrimPrefix(pr.In.URL.Path, prefix)
			pr.Out.URL.Scheme = base.Scheme
			pr.Out.URL.Host = base.Host
			pr.Out.URL.Path = strings.TrimSuffix(base.Path, "/") + path
			pr.Out.URL.RawPath = ""
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = base.Host
			for k, vs := range extra {
				pr.Out.Header[http.CanonicalHeaderKey(k)] = vs
			}
		},
	}, nil
}
