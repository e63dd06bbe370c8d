// Package ingest holds what the ingest protocols share: reading bounded,
// possibly compressed request bodies, and naming rules for log groups and
// streams. Each protocol has its own sub-package.
package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sonde-dev/sonde/internal/apierr"
)

var (
	bufPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzipPool sync.Pool
	zstdPool = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			panic(fmt.Sprintf("BUG: zstd decoder: %v", err))
		}
		return d
	}}
)

// Body is a request body read into memory. Release returns its buffer for
// reuse; Bytes must not be used afterwards.
type Body struct {
	buf *bytes.Buffer
	// Wire is the number of bytes received, before decompression.
	Wire int64
}

// Bytes returns the (decompressed) body.
func (b *Body) Bytes() []byte { return b.buf.Bytes() }

// Release returns the buffer to the pool.
func (b *Body) Release() {
	if b.buf != nil && b.buf.Cap() <= 64<<20 {
		b.buf.Reset()
		bufPool.Put(b.buf)
	}
	b.buf = nil
}

// ReadBody reads r's body, decompressing gzip or zstd by Content-Encoding.
// Both the received and the decompressed size must stay within limit, so
// that a small compressed body cannot expand without bound.
func ReadBody(r *http.Request, limit int64) (*Body, error) {
	counted := &countingReader{r: http.MaxBytesReader(nil, r.Body, limit)}
	var src io.Reader = counted
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		var zr *gzip.Reader
		if v := gzipPool.Get(); v != nil {
			zr = v.(*gzip.Reader)
			if err := zr.Reset(counted); err != nil {
				return nil, apierr.BadRequest("read gzip body: %v", err)
			}
		} else {
			var err error
			if zr, err = gzip.NewReader(counted); err != nil {
				return nil, apierr.BadRequest("read gzip body: %v", err)
			}
		}
		defer gzipPool.Put(zr)
		src = zr
	case "zstd":
		d := zstdPool.Get().(*zstd.Decoder)
		if err := d.Reset(counted); err != nil {
			return nil, apierr.BadRequest("read zstd body: %v", err)
		}
		defer func() {
			_ = d.Reset(nil)
			zstdPool.Put(d)
		}()
		src = d
	default:
		return nil, &apierr.Error{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("unsupported Content-Encoding %q (want gzip or zstd)", enc)}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	body := &Body{buf: buf, Wire: counted.n}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		body.Release()
		return nil, apierr.TooLarge("request body larger than %d bytes", limit)
	case err != nil:
		body.Release()
		return nil, apierr.BadRequest("read body: %v", err)
	case int64(buf.Len()) > limit:
		body.Release()
		return nil, apierr.TooLarge("decompressed request body larger than %d bytes", limit)
	}
	return body, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// CheckName validates a log group or stream name: 1 to 512 bytes of UTF-8
// without control characters (a stream may be empty).
func CheckName(kind, name string, allowEmpty bool) error {
	if name == "" {
		if allowEmpty {
			return nil
		}
		return apierr.BadRequest("%s name must not be empty", kind)
	}
	if len(name) > 512 {
		return apierr.BadRequest("%s name longer than 512 bytes", kind)
	}
	if !utf8.ValidString(name) {
		return apierr.BadRequest("%s name is not valid UTF-8", kind)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return apierr.BadRequest("%s name contains a control character", kind)
		}
	}
	return nil
}
