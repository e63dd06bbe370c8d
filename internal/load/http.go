package load

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// newTransport returns the one transport shared by all virtual users.
// Connections are reused across virtual users (Artillery opens one agent per
// virtual user unless http.pool is set; reusing connections keeps the
// generator's own cost per request low and measures the service, not the
// handshake). With pool > 0 at most pool connections are opened, like
// Artillery's shared agent.
func newTransport(pool int, timeout time.Duration, maxIdle int) *http.Transport {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     false,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: os.Getenv("NODE_TLS_REJECT_UNAUTHORIZED") == "0"},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		ReadBufferSize:        4 << 10,
		WriteBufferSize:       4 << 10,
	}
	if pool > 0 {
		t.MaxConnsPerHost = pool
		t.MaxIdleConnsPerHost = pool
	}
	return t
}

// errorCode names a request error the way Artillery's metrics do
// (errors.ETIMEDOUT, errors.ECONNREFUSED, ...), falling back to the message.
func errorCode(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "ETIMEDOUT"
	case errors.As(err, &ne) && ne.Timeout():
		return "ETIMEDOUT"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "ECONNREFUSED"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "ECONNRESET"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "EHOSTUNREACH"
	case errors.Is(err, syscall.ENETUNREACH):
		return "ENETUNREACH"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "EADDRNOTAVAIL"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "ENOTFOUND"
		}
		if dnsErr.IsTimeout {
			return "ETIMEDOUT"
		}
		return "EAI_AGAIN"
	}
	msg := err.Error()
	if ue, ok := err.(*url.Error); ok {
		msg = ue.Err.Error()
	}
	if strings.Contains(msg, "timeout awaiting response headers") {
		return "ETIMEDOUT"
	}
	return msg
}

// vuError is an error that fails a virtual user, counted as errors.<code>.
type vuError struct{ code string }

// Error returns the error name counted as errors.<name>.
func (e *vuError) Error() string { return e.code }

// errCapture is Artillery's error for a failed strict capture.
var errCapture = &vuError{code: "Failed capture or match"}

// resolveURL joins a request URL with the target, as Artillery does: an
// absolute URL is used as it is, anything else is appended to the target.
func resolveURL(target, u string) string {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return u
	}
	return target + u
}
