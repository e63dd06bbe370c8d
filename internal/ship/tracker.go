package ship

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// fingerprintMax is how many first bytes of a file identify its content.
const fingerprintMax = 256

// errReplaced means a path got another file between Stat and Open.
var errReplaced = errors.New("file replaced while opening")

// tracker follows one path: it reads the file at the path, and when the
// path gets another file (rotation by rename) it reads the old one to its
// end first, so that a stream's lines keep their order. It runs in its own
// goroutine.
type tracker struct {
	sh      *shipper
	path    string
	initial bool       // found at start-up: Options.StartAtEnd applies
	saved   *fileEntry // remembered by the state file, not resumed yet
	f       *tracked   // the file being read; nil when none
	buf     []byte
	waiting bool // the path's file is read by another tracker
}

// tracked is a file being read.
type tracked struct {
	file   *os.File
	name   string // where it was opened
	id     fileID
	gen    string
	stream string
	fp     []byte // the first bytes, at most fingerprintMax
	done   int64  // confirmed offset
	asm    *assembler
	tgt    *target
	// pending is a range a previous run sent without confirmation: it is
	// sent again, exactly, before anything else.
	pending *span
	size    int64
	mod     time.Time
	// rotatedAt is when the path was found to hold another file, or none;
	// grewAt is when this file last grew.
	rotatedAt, grewAt time.Time
}

func (t *tracker) run(ctx context.Context) error {
	defer t.closeFile()
	tick := time.NewTicker(t.sh.opts.Poll)
	defer tick.Stop()
	for {
		gone, err := t.step(ctx)
		if h := t.sh.opts.hooks; h != nil && h.polled != nil {
			h.polled(t.path)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case err != nil:
			return t.drain(ctx) // a send was interrupted
		case gone:
			return nil
		}
		select {
		case <-ctx.Done():
			return t.drain(ctx)
		case <-tick.C:
		}
	}
}

// step polls the path once. gone means the path has no file and nothing
// is left to read: the tracker ends, and a new one starts if the path
// appears again.
func (t *tracker) step(ctx context.Context) (gone bool, err error) {
	for {
		if t.f == nil {
			opened, gone, err := t.open()
			if err != nil || gone || !opened {
				return gone, err
			}
		}
		finished, err := t.poll(ctx)
		if err != nil || !finished {
			return false, err
		}
		// The rotated file is done: go on with the path's new file.
	}
}

// open starts reading the file at the path, or the file the state
// remembers for it.
func (t *tracker) open() (opened, gone bool, err error) {
	log := t.sh.log
	if t.saved != nil {
		e := *t.saved
		t.saved = nil
		if ok, err := t.resume(e); ok || err != nil {
			return ok, false, err
		}
	}
	fi, err := os.Stat(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, true, nil
	case err != nil:
		t.warn("Cannot read file", "path", t.path, "err", err)
		return false, false, nil
	case !fi.Mode().IsRegular():
		return false, true, nil
	}
	id, _ := fileIDOf(fi)
	if !t.sh.state.claim(id, t.path) {
		if !t.waiting {
			other, _ := t.sh.state.claimedBy(id)
			log.Debug("File is still read under its former name", "path", t.path, "former", other)
			t.waiting = true
		}
		return false, false, nil
	}
	t.waiting = false
	file, err := os.Open(t.path)
	if err != nil {
		t.sh.state.release(id, t.path)
		t.warn("Cannot read file", "path", t.path, "err", err)
		return false, false, nil
	}
	if fi, err = file.Stat(); err == nil {
		if got, _ := fileIDOf(fi); got != id {
			err = errReplaced
		}
	}
	if err != nil {
		// Replaced between Stat and Open: look again at the next poll.
		file.Close()
		t.sh.state.release(id, t.path)
		return false, false, nil
	}
	initial := t.initial
	t.initial = false

	if e, ok := t.sh.state.takeRetired(id); ok {
		// Read before under another name: a rotated file that the patterns
		// match under its new name too.
		if prefix, err := readPrefix(file, e.FingerprintLen); err == nil && len(prefix) == e.FingerprintLen &&
			fingerprint(prefix) == e.Fingerprint && fi.Size() >= e.Offset {
			t.f = t.newTracked(file, t.path, id, e.Generation, e.Stream, e.Offset, prefix)
			log.Info("Following a rotated file under its new name", "path", t.path, "former", e.Path, "offset", e.Offset)
			return true, false, t.record(nil)
		}
	}
	var start int64
	if initial && t.sh.opts.StartAtEnd {
		if start, err = lastLineEnd(file, fi.Size()); err != nil {
			file.Close()
			t.sh.state.release(id, t.path)
			t.warn("Cannot read file", "path", t.path, "err", err)
			return false, false, nil
		}
	}
	stream := t.sh.opts.Stream
	if stream == "" {
		stream = t.path
	}
	t.f = t.newTracked(file, t.path, id, newGeneration(), stream, start, nil)
	log.Info("Reading file", "path", t.path, "offset", start, "inode", id.Ino)
	return true, false, t.record(nil)
}

// resume reopens the file of a state entry: at the path, or, if it was
// rotated while no shipper ran, under another name in the same directory.
func (t *tracker) resume(e fileEntry) (bool, error) {
	log := t.sh.log
	id := e.id()
	file, name := findFile(t.path, id)
	if file == nil {
		t.sh.state.release(id, t.path)
		log.Warn("File in the state not found: lines added to it after the saved offset were not shipped",
			"path", t.path, "inode", id.Ino, "offset", e.Offset)
		return false, t.sh.state.forget(t.path)
	}
	fi, err := file.Stat()
	var prefix []byte
	if err == nil {
		prefix, err = readPrefix(file, e.FingerprintLen)
	}
	if err != nil || len(prefix) < e.FingerprintLen || fingerprint(prefix) != e.Fingerprint || fi.Size() < e.Offset {
		file.Close()
		t.sh.state.release(id, t.path)
		log.Warn("File was truncated or replaced while sonde ship was stopped: reading it from the start",
			"path", t.path, "offset", e.Offset)
		return false, t.sh.state.forget(t.path)
	}
	t.f = t.newTracked(file, name, id, e.Generation, e.Stream, e.Offset, prefix)
	if p := e.Pending; p != nil && p.Start == e.Offset && p.End > p.Start && p.End <= fi.Size() {
		t.f.pending = p
	}
	if name != t.path {
		t.f.rotatedAt = time.Now()
		log.Info("File was rotated while sonde ship was stopped: reading the rest of it", "path", t.path,
			"now", name, "offset", e.Offset)
	} else {
		log.Info("Resuming file", "path", t.path, "offset", e.Offset)
	}
	return true, nil
}

// findFile opens the file id: at path, or in the same directory under
// another name.
func findFile(path string, id fileID) (*os.File, string) {
	try := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		if fi, err := f.Stat(); err == nil {
			if got, _ := fileIDOf(fi); got == id && fi.Mode().IsRegular() {
				return f
			}
		}
		f.Close()
		return nil
	}
	if f := try(path); f != nil {
		return f, path
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, ""
	}
	for _, de := range entries {
		if !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		if got, _ := fileIDOf(info); got == id {
			p := filepath.Join(filepath.Dir(path), de.Name())
			if f := try(p); f != nil {
				return f, p
			}
		}
	}
	return nil, ""
}

func (t *tracker) newTracked(file *os.File, name string, id fileID, gen, stream string, offset int64, prefix []byte) *tracked {
	f := &tracked{file: file, name: name, id: id, gen: gen, stream: stream, fp: prefix, done: offset,
		asm: newAssembler(&t.sh.opts, offset), size: -1}
	f.tgt = &target{
		name: t.path, stream: stream, gen: gen, id: id,
		pending: func(start, end int64) error { return t.sh.state.put(t.entry(f, &span{Start: start, End: end})) },
		confirm: func(end int64) error {
			f.done = end
			return t.sh.state.put(t.entry(f, nil))
		},
	}
	return f
}

// record writes the progress of the file being read to the state file.
func (t *tracker) record(pending *span) error {
	return t.sh.state.put(t.entry(t.f, pending))
}

// entry is what the state remembers of f.
func (t *tracker) entry(f *tracked, pending *span) fileEntry {
	return fileEntry{
		Path: t.path, Stream: f.stream, Dev: f.id.Dev, Inode: f.id.Ino, Generation: f.gen, Offset: f.done,
		FingerprintLen: len(f.fp), Fingerprint: fingerprint(f.fp), Pending: pending,
	}
}

// poll reads what the file gained, sends full and due batches, and notices
// rotation and truncation. finished means the file was rotated away and
// read to its end: the tracker left it.
func (t *tracker) poll(ctx context.Context) (finished bool, err error) {
	f := t.f
	log := t.sh.log
	if f.pending != nil {
		if err := t.resend(ctx); err != nil {
			return false, err
		}
	}
	now := time.Now()
	if f.rotatedAt.IsZero() {
		fi, err := os.Stat(t.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			f.rotatedAt = now
			log.Info("File removed or renamed: reading it to the end", "path", t.path, "offset", f.asm.pos())
		case err == nil:
			if id, _ := fileIDOf(fi); id != f.id {
				f.rotatedAt = now
				log.Info("File rotated: reading the old file to the end", "path", t.path, "offset", f.asm.pos(),
					"old_inode", f.id.Ino, "new_inode", id.Ino)
			}
		}
	}
	fi, err := f.file.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", f.name, err)
	}
	size := fi.Size()
	changed := size != f.size || !fi.ModTime().Equal(f.mod)
	f.size, f.mod = size, fi.ModTime()
	if size < f.asm.pos() {
		log.Info("File truncated: reading it from the start", "path", t.path, "offset", f.asm.pos(), "size", size)
		if err := t.restart(ctx); err != nil {
			return false, err
		}
	} else if changed {
		ok, err := t.checkPrefix(size)
		if err != nil {
			return false, err
		}
		if !ok {
			log.Info("File rewritten: reading it from the start", "path", t.path, "offset", f.asm.pos(), "size", size)
			if err := t.restart(ctx); err != nil {
				return false, err
			}
		}
	}
	grew, err := t.read(ctx, size)
	if grew {
		f.grewAt = time.Now()
	}
	if err != nil {
		return false, err
	}
	if !f.rotatedAt.IsZero() && time.Since(later(f.rotatedAt, f.grewAt)) >= t.sh.opts.RotateWait {
		return true, t.leave(ctx)
	}
	if f.asm.full() || f.asm.due(time.Now(), t.sh.opts.Flush) {
		return false, t.flush(ctx)
	}
	return false, nil
}

// checkPrefix compares the file's first bytes with those seen before and
// extends the fingerprint while the file is shorter than fingerprintMax.
// False means they differ: the file was truncated and written again
// between two polls.
func (t *tracker) checkPrefix(size int64) (bool, error) {
	f := t.f
	n := int(min(size, fingerprintMax))
	if n < len(f.fp) {
		return false, nil
	}
	p, err := readPrefix(f.file, n)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", f.name, err)
	}
	if !bytes.HasPrefix(p, f.fp) {
		return false, nil
	}
	f.fp = p
	return true, nil
}

// restart sends what was read of the file's old content, its unfinished
// last line as it is, and starts a new generation at offset 0.
func (t *tracker) restart(ctx context.Context) error {
	f := t.f
	f.asm.finishPartial(time.Now())
	if err := t.flush(ctx); err != nil {
		return err
	}
	f.gen = newGeneration()
	f.tgt.gen = f.gen
	f.done = 0
	f.fp = nil
	f.size = -1 // take the new fingerprint at the next poll
	f.asm.reset(0)
	return t.record(nil)
}

// read consumes the file from the read position up to size, sending each
// batch that fills up.
func (t *tracker) read(ctx context.Context, size int64) (grew bool, err error) {
	f := t.f
	for {
		pos := f.asm.pos()
		if pos >= size {
			return grew, nil
		}
		n, err := f.file.ReadAt(t.buf[:min(int64(len(t.buf)), size-pos)], pos)
		if n > 0 {
			grew = true
			for p := t.buf[:n]; len(p) > 0; {
				p = p[f.asm.consume(p, time.Now(), false):]
				t.sh.send.countCut(f.asm, t.path)
				if f.asm.full() {
					if err := t.flush(ctx); err != nil {
						return grew, err
					}
				}
			}
		}
		switch {
		case err == io.EOF || n == 0:
			return grew, nil // shrunk meanwhile: the next poll sees it
		case err != nil:
			return grew, fmt.Errorf("read %s: %w", f.name, err)
		}
	}
}

// resend sends again, exactly, the range a previous run sent without
// confirmation: the same range gets the same key, so the server stores it
// once.
func (t *tracker) resend(ctx context.Context) error {
	f := t.f
	p := f.pending
	for f.asm.pos() < p.End {
		pos := f.asm.pos()
		n, err := f.file.ReadAt(t.buf[:min(int64(len(t.buf)), p.End-pos)], pos)
		f.asm.consume(t.buf[:n], time.Now(), true)
		if err != nil && n == 0 {
			if err == io.EOF {
				break
			}
			return fmt.Errorf("read %s: %w", f.name, err)
		}
	}
	t.sh.send.countCut(f.asm, t.path)
	if f.asm.pos() != p.End {
		t.sh.log.Warn("Unconfirmed range of the last run is gone from the file", "path", t.path, "start", p.Start, "end", p.End)
		f.asm.reset(f.done)
		f.pending = nil
		return nil
	}
	// The range ends without a newline when it held the unfinished last
	// line of a rotated file.
	f.asm.finishPartial(time.Now())
	t.sh.log.Info("Sending again the batch the last run left unconfirmed", "path", t.path, "start", p.Start, "end", p.End)
	if err := t.flush(ctx); err != nil {
		return err
	}
	f.pending = nil
	return nil
}

// flush sends the lines read and not yet confirmed.
func (t *tracker) flush(ctx context.Context) error {
	f := t.f
	b := f.asm.cur.suffix(f.done)
	if b.empty() {
		return nil
	}
	err := t.sh.send.ship(ctx, f.tgt, b)
	f.asm.confirmed(f.done)
	return err
}

// leave finishes a file that was rotated away: its unfinished last line is
// sent as it is, and the state remembers it as retired, in case the
// patterns match it under its new name.
func (t *tracker) leave(ctx context.Context) error {
	f := t.f
	f.asm.finishPartial(time.Now())
	if err := t.flush(ctx); err != nil {
		return err
	}
	t.sh.log.Info("Finished rotated file", "path", t.path, "inode", f.id.Ino, "offset", f.done)
	e := t.entry(f, nil)
	t.closeFile()
	return t.sh.state.retire(t.path, e, nil)
}

// drain sends what was read, once ctx ended, for at most DrainTimeout.
func (t *tracker) drain(ctx context.Context) error {
	if t.f == nil || t.f.asm.cur.suffix(t.f.done).empty() {
		return nil
	}
	dctx, cancel := drainContext(ctx, t.sh.opts.DrainTimeout)
	defer cancel()
	err := t.flush(dctx)
	if err != nil && dctx.Err() != nil {
		t.sh.log.Warn("Stopped before the server confirmed every line read: the next run sends them again",
			"path", t.path, "offset", t.f.done)
		return nil
	}
	return err
}

func (t *tracker) closeFile() {
	if t.f == nil {
		return
	}
	t.f.file.Close()
	t.f = nil
}

// warn logs a problem that repeats at every poll, at most once a minute
// across the shipper.
func (t *tracker) warn(msg string, args ...any) {
	if ok, suppressed := t.sh.warnLog.allow(); ok {
		t.sh.log.Warn(msg, append(args, "suppressed", suppressed)...)
	}
}

// readPrefix reads the first n bytes of f, fewer if it is shorter.
func readPrefix(f *os.File, n int) ([]byte, error) {
	p := make([]byte, n)
	m, err := f.ReadAt(p, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return p[:m], nil
}

// lastLineEnd returns the offset after the last newline in the file's last
// 64 KiB: where reading starts when existing content is skipped. A file
// with no newline there starts at 0 when it is that small (its only line
// is still being written), else at its end.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	from := max(0, size-64<<10)
	p := make([]byte, size-from)
	n, err := f.ReadAt(p, from)
	if err != nil && err != io.EOF {
		return 0, err
	}
	if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
		return from + int64(i) + 1, nil
	}
	if from == 0 {
		return 0, nil
	}
	return size, nil
}

// newGeneration returns a random generation id.
func newGeneration() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
