package syslog

import (
	"errors"
	"io"
	"net"
)

// frameKind is what the framer found at the start of its input.
type frameKind uint8

const (
	frameNeedMore  frameKind = iota // no complete frame yet: read more
	frameSkip                       // bytes consumed, nothing to report
	frameMessage                    // a message
	frameTooLarge                   // a message longer than the limit, skipped
	frameTruncated                  // an octet-counted frame cut short by the end of the stream
)

// maxLenDigits bounds MSG-LEN: a longer run of digits is not a length but
// the start of a newline-framed line (which will not parse as syslog).
const maxLenDigits = 9

// framer splits a TCP byte stream into syslog messages by RFC 6587: octet
// counting ("MSG-LEN SP MSG") when a frame starts with a digit, newline
// framing (LF, CRLF or NUL) otherwise. The method is detected per frame, as
// some relays mix them. A message longer than max bytes is reported as
// frameTooLarge and skipped up to the end of its frame: the length tells
// where an octet-counted frame ends, the next delimiter where a line ends.
type framer struct {
	max      int
	skip     int  // bytes of an oversize octet-counted frame still to skip
	skipLine bool // skipping an oversize line up to its delimiter
}

// bufferSize is the input a framer needs to see at once to always make
// progress: a whole frame of max bytes with its length prefix.
func (f *framer) bufferSize() int { return f.max + maxLenDigits + 2 }

// split looks at the start of data, the unconsumed input, and returns how
// many bytes it consumed and what it found. The message returned points into
// data, without framing or line terminator. atEOF means no more input will
// come: a final line without delimiter is then a message. split needs more
// input (frameNeedMore) only while len(data) < bufferSize(); its results do
// not depend on how the stream is cut into calls.
func (f *framer) split(data []byte, atEOF bool) (int, []byte, frameKind) {
	if f.skip > 0 {
		n := min(f.skip, len(data))
		f.skip -= n
		if n == 0 {
			return 0, nil, frameNeedMore
		}
		return n, nil, frameSkip
	}
	if f.skipLine {
		if i := indexDelim(data); i >= 0 {
			f.skipLine = false
			return i + 1, nil, frameSkip
		}
		if len(data) == 0 {
			return 0, nil, frameNeedMore
		}
		return len(data), nil, frameSkip
	}
	// Terminators between frames: empty lines, or a newline a sender put
	// after an octet-counted frame.
	i := 0
	for i < len(data) && (data[i] == '\n' || data[i] == '\r' || data[i] == 0) {
		i++
	}
	if i > 0 {
		return i, nil, frameSkip
	}
	if len(data) == 0 {
		return 0, nil, frameNeedMore
	}

	if data[0] >= '1' && data[0] <= '9' {
		n, j := 0, 0
		for j < len(data) && j < maxLenDigits && isDigit(data[j]) {
			n = n*10 + int(data[j]-'0')
			j++
		}
		switch {
		case j == len(data) && !atEOF:
			return 0, nil, frameNeedMore
		case j < len(data) && data[j] == ' ':
			if n > f.max {
				f.skip = n
				return j + 1, nil, frameTooLarge
			}
			end := j + 1 + n
			if end > len(data) {
				if atEOF {
					return len(data), nil, frameTruncated
				}
				return 0, nil, frameNeedMore
			}
			return end, trimEnd(data[j+1 : end]), frameMessage
		}
		// Not a length: a line that starts with digits.
	}

	if i := indexDelim(data); i >= 0 {
		line := trimCR(data[:i])
		if len(line) > f.max {
			return i + 1, nil, frameTooLarge
		}
		return i + 1, line, frameMessage
	}
	// A line of max bytes may still get a CR before its LF.
	if len(data) > f.max+1 {
		f.skipLine = true
		return len(data), nil, frameTooLarge
	}
	if atEOF {
		line := trimCR(data)
		if len(line) > f.max {
			return len(data), nil, frameTooLarge
		}
		return len(data), line, frameMessage
	}
	return 0, nil, frameNeedMore
}

// indexDelim returns the index of the first LF or NUL in b, or -1.
func indexDelim(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == 0 {
			return i
		}
	}
	return -1
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// trimEnd removes the line terminators that some senders count into an
// octet-counted frame.
func trimEnd(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
		default:
			return b
		}
	}
	return b
}

// errStopped is returned by frameReader.next when it needs to read but was
// told not to.
var errStopped = errors.New("reading stopped")

// frameReader reads frames from a stream through a framer, with a buffer
// that grows to the framer's bufferSize at most.
type frameReader struct {
	rd    io.Reader
	f     framer
	buf   []byte
	start int   // buf[start:end] is read but not yet framed
	end   int   //
	err   error // the read error that ended the stream (io.EOF at its end)
}

func newFrameReader(rd io.Reader, maxMessage int) *frameReader {
	fr := &frameReader{rd: rd, f: framer{max: maxMessage}}
	fr.buf = make([]byte, min(16<<10, fr.f.bufferSize()))
	return fr
}

// next returns the next frame of kind frameMessage, frameTooLarge or
// frameTruncated; a message is valid until the next call. It reads from the
// stream only when the buffered input holds no complete frame, and then only
// if read is true (else it returns errStopped). It returns a read timeout as
// it is, so the caller can act and call again; the stream's end or failure it
// returns once the buffered frames are used up: io.EOF or the read error.
// The second result is how many bytes it read.
func (fr *frameReader) next(read bool) ([]byte, frameKind, int, error) {
	nread := 0
	for {
		adv, msg, kind := fr.f.split(fr.buf[fr.start:fr.end], fr.err != nil)
		fr.start += adv
		switch kind {
		case frameMessage, frameTooLarge, frameTruncated:
			return msg, kind, nread, nil
		case frameSkip:
			continue
		}
		if fr.err != nil {
			return nil, 0, nread, fr.err
		}
		if !read {
			return nil, 0, nread, errStopped
		}
		if fr.start > 0 {
			fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
			fr.start = 0
		}
		if fr.end == len(fr.buf) {
			// split consumes a full bufferSize, so the buffer never needs
			// more than that.
			grown := make([]byte, min(2*len(fr.buf), fr.f.bufferSize()))
			copy(grown, fr.buf[:fr.end])
			fr.buf = grown
		}
		n, err := fr.rd.Read(fr.buf[fr.end:])
		fr.end += n
		nread += n
		switch {
		case err == nil:
		case isTimeout(err):
			if n == 0 {
				return nil, 0, nread, err
			}
			// Frame what arrived; the next read times out again.
		default:
			fr.err = err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
