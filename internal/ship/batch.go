package ship

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
	"unicode/utf8"
)

// lineRef is one non-blank line of a batch.
type lineRef struct {
	off     int64 // offset of the line's first byte in the source
	bodyEnd int   // end of the line, its newline included, in batch.body
}

// batch is a contiguous byte range [start, end) of one source (one file
// generation, or stdin) cut into lines. body holds the non-blank lines, each
// followed by a newline: it is the NDJSON request body. Blank lines are
// covered by the range but not sent, as the server would skip them anyway.
type batch struct {
	start, end int64
	body       []byte
	lines      []lineRef
	first      time.Time // when the first line was added; zero while empty
}

// empty reports whether the batch covers no bytes at all.
func (b *batch) empty() bool { return b.end == b.start }

// line returns the i-th line without its newline.
func (b *batch) line(i int) []byte {
	from := 0
	if i > 0 {
		from = b.lines[i-1].bodyEnd
	}
	return b.body[from : b.lines[i].bodyEnd-1]
}

// suffix returns the part of b from source offset off, which must be the
// start of one of its lines (or b.end). The result shares b's body.
func (b *batch) suffix(off int64) *batch {
	if off <= b.start {
		return b
	}
	i := b.indexAt(off)
	from := 0
	if i > 0 {
		from = b.lines[i-1].bodyEnd
	}
	lines := make([]lineRef, len(b.lines)-i)
	for j := range lines {
		lines[j] = lineRef{off: b.lines[i+j].off, bodyEnd: b.lines[i+j].bodyEnd - from}
	}
	return &batch{start: off, end: b.end, body: b.body[from:], lines: lines, first: b.first}
}

// prefix returns the part of b before source offset off, which must be the
// start of one of its lines. The result shares b's body.
func (b *batch) prefix(off int64) *batch {
	i := b.indexAt(off)
	to := 0
	if i > 0 {
		to = b.lines[i-1].bodyEnd
	}
	return &batch{start: b.start, end: off, body: b.body[:to:to], lines: b.lines[:i:i], first: b.first}
}

// indexAt returns the index of the first line starting at or after off.
func (b *batch) indexAt(off int64) int {
	lo, hi := 0, len(b.lines)
	for lo < hi {
		m := (lo + hi) / 2
		if b.lines[m].off < off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// batchKey is the idempotency key of the byte range [start, end) of one file
// generation: the same range of the same generation always gets the same
// key, so a batch whose acknowledgement was lost is recognised by the server
// when it is sent again, also by a later run that resumes from the state
// file. gen is random per generation, which keeps the keys of a truncated
// and rewritten file, or of a new file on a reused inode, apart from the old
// ones even when the bytes are the same.
func batchKey(gen string, id fileID, start, end int64) string {
	h := sha256.New()
	h.Write([]byte("sonde-ship/1\x00"))
	h.Write([]byte(gen))
	var buf [32]byte
	binary.BigEndian.PutUint64(buf[0:], id.Dev)
	binary.BigEndian.PutUint64(buf[8:], id.Ino)
	binary.BigEndian.PutUint64(buf[16:], uint64(start))
	binary.BigEndian.PutUint64(buf[24:], uint64(end))
	h.Write(buf[:])
	return "ship1-" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// assembler cuts a byte stream into lines and gathers them into batches.
// The stream is fed in order with consume; the current batch ends where the
// unfinished line starts.
type assembler struct {
	maxLine  int
	maxLines int
	maxBytes int

	cur batch
	// part is the unfinished line, at most maxLine bytes; partLen counts
	// every byte of it consumed so far, those cut off included.
	part    []byte
	partLen int64
	// cut counts the lines cut at maxLine; the owner reads and resets it.
	cut int
}

func newAssembler(opts *Options, start int64) *assembler {
	a := &assembler{maxLine: opts.MaxLineBytes, maxLines: opts.BatchLines, maxBytes: opts.BatchBytes}
	a.reset(start)
	return a
}

// reset drops everything and starts again at offset start.
func (a *assembler) reset(start int64) {
	a.cur = batch{start: start, end: start}
	a.part = a.part[:0]
	a.partLen = 0
}

// pos is the offset just after the last byte consumed.
func (a *assembler) pos() int64 { return a.cur.end + a.partLen }

// full reports whether the current batch has reached a size limit.
func (a *assembler) full() bool {
	return len(a.cur.lines) >= a.maxLines || len(a.cur.body) >= a.maxBytes
}

// due reports whether the current batch holds lines for longer than wait.
func (a *assembler) due(now time.Time, wait time.Duration) bool {
	return !a.cur.empty() && now.Sub(a.cur.first) >= wait
}

// consume takes the bytes that follow those consumed so far and returns how
// many it took. It stops early when the batch becomes full, unless
// unbounded is set; the caller sends the batch and feeds the rest.
func (a *assembler) consume(p []byte, now time.Time, unbounded bool) int {
	n := 0
	for n < len(p) && (unbounded || !a.full()) {
		i := bytes.IndexByte(p[n:], '\n')
		if i < 0 {
			a.appendPart(p[n:])
			return len(p)
		}
		a.appendPart(p[n : n+i])
		a.partLen++ // the newline
		a.endLine(now, true)
		n += i + 1
	}
	return n
}

// finishPartial ends the unfinished line as it is: its file was rotated
// away, or the input ended, so no newline will come.
func (a *assembler) finishPartial(now time.Time) {
	if a.partLen > 0 {
		a.endLine(now, false)
	}
}

func (a *assembler) appendPart(p []byte) {
	a.partLen += int64(len(p))
	if room := a.maxLine - len(a.part); room > 0 {
		a.part = append(a.part, p[:min(room, len(p))]...)
	}
}

// endLine ends the unfinished line; newline tells whether partLen counts
// a newline that ended it.
func (a *assembler) endLine(now time.Time, newline bool) {
	line := a.part
	content := a.partLen
	if newline {
		content--
	}
	if content > int64(len(line)) {
		// Bytes were cut off: do not leave half a UTF-8 sequence behind.
		line = trimPartialRune(line)
		a.cut++
	}
	if a.cur.empty() {
		a.cur.first = now
	}
	if !isBlank(line) {
		a.cur.body = append(a.cur.body, line...)
		a.cur.body = append(a.cur.body, '\n')
		a.cur.lines = append(a.cur.lines, lineRef{off: a.cur.end, bodyEnd: len(a.cur.body)})
	}
	a.cur.end += a.partLen
	a.part = a.part[:0]
	a.partLen = 0
}

// confirmed drops the lines before off (the start of a line, or the end of
// the current batch) once the server has confirmed them.
func (a *assembler) confirmed(off int64) {
	if off >= a.cur.end {
		a.cur = batch{start: a.cur.end, end: a.cur.end}
		return
	}
	rest := a.cur.suffix(off)
	a.cur = batch{start: rest.start, end: rest.end, body: append([]byte(nil), rest.body...), lines: rest.lines, first: rest.first}
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			return b // ASCII: nothing pending
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// isBlank matches the server's notion of a blank line, which it skips.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
