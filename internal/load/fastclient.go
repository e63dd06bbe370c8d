package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"
	"time"
)

// fastClient is the generator's HTTP/1.1 client for plain http:// targets.
// net/http's Transport hands every request to two more goroutines (a write
// loop and a read loop per connection); here the worker writes the request
// and parses the response itself on a pooled keep-alive connection, with a
// request rendered into the worker's buffer, so a request costs one write
// and one read system call and no goroutine switch. Anything it does not
// handle (TLS, proxies, processor hooks, redirects) goes through net/http.
type fastClient struct {
	mu      sync.Mutex
	pools   map[string]*hostPool
	max     int // connections per host, 0 = unlimited
	maxIdle int
	timeout time.Duration
	dialer  net.Dialer
}

func newFastClient(max, maxIdle int, timeout time.Duration) *fastClient {
	return &fastClient{pools: map[string]*hostPool{}, max: max, maxIdle: maxIdle, timeout: timeout,
		dialer: net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}}
}

func (c *fastClient) pool(addr string) *hostPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[addr]
	if p == nil {
		p = &hostPool{c: c, addr: addr}
		c.pools[addr] = p
	}
	return p
}

// abort makes every open connection fail at once (the run was cancelled).
func (c *fastClient) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pools {
		p.mu.Lock()
		for fc := range p.all {
			_ = fc.conn.SetDeadline(time.Unix(1, 0))
		}
		p.mu.Unlock()
	}
}

// close closes every idle connection.
func (c *fastClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pools {
		p.mu.Lock()
		for _, fc := range p.idle {
			fc.conn.Close()
			delete(p.all, fc)
		}
		p.open -= len(p.idle)
		p.idle = nil
		p.mu.Unlock()
	}
}

// fconn is one keep-alive connection.
type fconn struct {
	conn   net.Conn
	br     *bufio.Reader
	reused bool
}

// hostPool holds the connections to one host:port: idle ones (last in,
// first out) and, when the pool is capped, the requests waiting for one
// (first in, first out).
type hostPool struct {
	c       *fastClient
	addr    string
	mu      sync.Mutex
	idle    []*fconn
	open    int
	waiters []chan *fconn
	all     map[*fconn]struct{} // every open connection, for abort
}

// get returns an idle connection, dials a new one, or waits for one.
func (p *hostPool) get(ctx context.Context) (*fconn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		fc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		fc.reused = true
		return fc, nil
	}
	if p.c.max == 0 || p.open < p.c.max {
		p.open++
		p.mu.Unlock()
		return p.dial(ctx)
	}
	ch := make(chan *fconn, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case fc := <-ch:
		if fc == nil { // a slot was freed: dial
			return p.dial(ctx)
		}
		fc.reused = true
		return fc, nil
	case <-ctx.Done():
		p.mu.Lock()
		for i, w := range p.waiters {
			if w == ch {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		p.mu.Unlock()
		// Handed over meanwhile: give it back.
		if fc := <-ch; fc != nil {
			p.put(fc)
		} else {
			p.release()
		}
		return nil, ctx.Err()
	}
}

func (p *hostPool) dial(ctx context.Context) (*fconn, error) {
	conn, err := p.c.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		p.release()
		return nil, err
	}
	fc := &fconn{conn: conn, br: bufio.NewReaderSize(conn, 4<<10)}
	p.mu.Lock()
	if p.all == nil {
		p.all = map[*fconn]struct{}{}
	}
	p.all[fc] = struct{}{}
	p.mu.Unlock()
	if ctx.Err() != nil { // cancelled while dialling: abort may have missed it
		_ = conn.SetDeadline(time.Unix(1, 0))
	}
	return fc, nil
}

// put returns a healthy connection for reuse.
func (p *hostPool) put(fc *fconn) {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- fc
		return
	}
	if len(p.idle) < p.c.maxIdle || p.c.max > 0 {
		p.idle = append(p.idle, fc)
		p.mu.Unlock()
		return
	}
	p.open--
	delete(p.all, fc)
	p.mu.Unlock()
	fc.conn.Close()
}

// discard closes a broken connection and frees its slot.
func (p *hostPool) discard(fc *fconn) {
	fc.conn.Close()
	p.mu.Lock()
	delete(p.all, fc)
	p.mu.Unlock()
	p.release()
}

// release frees a connection slot, handing it to a waiter if any.
func (p *hostPool) release() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- nil
		return
	}
	p.open--
	p.mu.Unlock()
}

// fastResponse is what the fast path reports of a response.
type fastResponse struct {
	status   int
	header   http.Header // only when wanted
	bytes    int64
	location string   // set for redirects, which the caller follows
	cookies  []string // name=value of each Set-Cookie
}

var errMalformed = errors.New("malformed HTTP response")

// errStale marks a failure on a reused connection before any response
// byte: the server closed it while idle, and the request is retried once.
type errStale struct{ err error }

// Error returns the underlying error's message.
func (e *errStale) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *errStale) Unwrap() error { return e.err }

// do sends a rendered request (head and body) and reads the response.
// onFirstByte is called when the first response byte arrives; body, when
// not nil, receives the response body.
func (p *hostPool) do(ctx context.Context, req []byte, head bool, wantHeader bool, body *[]byte, w *worker) (fastResponse, error) {
	for attempt := 0; ; attempt++ {
		fc, err := p.get(ctx)
		if err != nil {
			return fastResponse{}, err
		}
		res, keep, err := p.roundTrip(fc, req, head, wantHeader, body, w)
		if err != nil {
			p.discard(fc)
			var stale *errStale
			if errors.As(err, &stale) && attempt == 0 {
				if body != nil {
					*body = (*body)[:0]
				}
				continue
			}
			return res, err
		}
		if keep {
			p.put(fc)
		} else {
			p.discard(fc)
		}
		return res, nil
	}
}

func (p *hostPool) roundTrip(fc *fconn, req []byte, head, wantHeader bool, body *[]byte, w *worker) (res fastResponse, keep bool, err error) {
	if t := p.c.timeout; t > 0 {
		_ = fc.conn.SetDeadline(time.Now().Add(t))
	}
	if _, err := fc.conn.Write(req); err != nil {
		if fc.reused {
			return res, false, &errStale{err}
		}
		return res, false, err
	}
	w.wrote.Store(w.r.now())
	br := fc.br
	if _, err := br.Peek(1); err != nil {
		if fc.reused && !isTimeout(err) {
			return res, false, &errStale{err}
		}
		return res, false, err
	}
	w.firstByte.Store(w.r.now())

	// Status line, skipping informational responses.
	var closeConn, chunked bool
	length := int64(-1)
	for {
		line, err := readLine(br)
		if err != nil {
			return res, false, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return res, false, errMalformed
		}
		code, err := strconv.Atoi(string(line[9:12]))
		if err != nil {
			return res, false, errMalformed
		}
		res.status = code
		closeConn = line[7] == '0' // HTTP/1.0 closes unless keep-alive
		if wantHeader {
			res.header = make(http.Header, 8)
		}
		for {
			hl, err := readLine(br)
			if err != nil {
				return res, false, err
			}
			if len(hl) == 0 {
				break
			}
			i := bytes.IndexByte(hl, ':')
			if i <= 0 {
				return res, false, errMalformed
			}
			name, value := hl[:i], bytes.TrimSpace(hl[i+1:])
			switch {
			case asciiEqualFold(name, "content-length"):
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 {
					return res, false, errMalformed
				}
				length = n
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
			case asciiEqualFold(name, "connection"):
				v := bytes.ToLower(value)
				if bytes.Contains(v, []byte("close")) {
					closeConn = true
				} else if bytes.Contains(v, []byte("keep-alive")) {
					closeConn = false
				}
			case asciiEqualFold(name, "location"):
				res.location = string(value)
			case asciiEqualFold(name, "set-cookie"):
				if nv, _, _ := bytes.Cut(value, []byte(";")); len(nv) > 0 {
					res.cookies = append(res.cookies, string(bytes.TrimSpace(nv)))
				}
			}
			if res.header != nil {
				k := textproto.CanonicalMIMEHeaderKey(string(name))
				res.header[k] = append(res.header[k], string(value))
			}
		}
		if code >= 100 && code < 200 && code != 101 {
			continue
		}
		break
	}
	if code := res.status; head || code == 204 || code == 304 || (code >= 100 && code < 200) {
		return res, !closeConn, nil
	}
	switch {
	case chunked:
		res.bytes, err = readChunked(br, body)
	case length >= 0:
		res.bytes, err = readN(br, length, body)
	default:
		closeConn = true
		res.bytes, err = readN(br, -1, body)
	}
	if err != nil {
		return res, false, err
	}
	return res, !closeConn, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readLine returns a line without its CRLF; it is valid until the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: header line longer than %d bytes", errMalformed, br.Size())
	}
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readN reads n bytes (or to EOF when n < 0) into body or discards them.
func readN(br *bufio.Reader, n int64, body *[]byte) (int64, error) {
	var total int64
	for n < 0 || total < n {
		chunk, err := br.Peek(1)
		if err != nil {
			if n < 0 && err == io.EOF {
				return total, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
		_ = chunk
		avail := int64(br.Buffered())
		if n >= 0 && avail > n-total {
			avail = n - total
		}
		data, _ := br.Peek(int(avail))
		if body != nil {
			*body = append(*body, data...)
		}
		_, _ = br.Discard(int(avail))
		total += avail
	}
	return total, nil
}

func readChunked(br *bufio.Reader, body *[]byte) (int64, error) {
	var total int64
	for {
		line, err := readLine(br)
		if err != nil {
			return total, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return total, errMalformed
		}
		if size == 0 {
			for { // trailers
				l, err := readLine(br)
				if err != nil {
					return total, err
				}
				if len(l) == 0 {
					return total, nil
				}
			}
		}
		n, err := readN(br, size, body)
		total += n
		if err != nil {
			return total, err
		}
		if l, err := readLine(br); err != nil || len(l) != 0 {
			return total, errMalformed
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
