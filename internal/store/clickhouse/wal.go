package clickhouse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The write-ahead log keeps the blocks that Append acknowledged until
// ClickHouse has them. It is a directory of segment files, named by a
// sequence number; a segment is a run of records:
//
//	magic "SWB1" | payload length uint32 | CRC-32C of payload uint32 | payload
//
// and a payload is one block (all integers uvarint):
//
//	table | rows | columns | per column: name, type, data length, data
//
// A segment is written by one process (the directory is locked), synced
// (only written, with Options.BufferNoFsync) before Append returns, and deleted
// once every block in it was inserted.
// A record cut short by a crash was never acknowledged: reading stops there.

const (
	walMagic     = "SWB1"
	walHeader    = 12
	walSuffix    = ".wal"
	walLockName  = "LOCK"
	maxWALRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one file of the log.
type segment struct {
	seq   uint64
	path  string
	f     *os.File // open while the segment takes appends
	size  int64
	rows  int64
	first time.Time // when its first record was written
	index *segmentIndex
}

func segmentPath(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", seq, walSuffix))
}

// createSegment opens a new, empty segment file.
func createSegment(dir string, seq uint64) (*segment, error) {
	p := segmentPath(dir, seq)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create log segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{seq: seq, path: p, f: f}, nil
}

// appendRecord encodes a block as a record onto buf.
func appendRecord(buf []byte, b *block) []byte {
	start := len(buf)
	buf = append(buf, walMagic...)
	buf = append(buf, make([]byte, 8)...)
	buf = appendString(buf, b.table)
	buf = binary.AppendUvarint(buf, uint64(b.rows))
	buf = binary.AppendUvarint(buf, uint64(len(b.names)))
	for i := range b.names {
		buf = appendString(buf, b.names[i])
		buf = appendString(buf, b.types[i])
		buf = binary.AppendUvarint(buf, uint64(len(b.data[i])))
		buf = append(buf, b.data[i]...)
	}
	payload := buf[start+walHeader:]
	binary.LittleEndian.PutUint32(buf[start+4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+8:], crc32.Checksum(payload, castagnoli))
	return buf
}

// write appends encoded records, and syncs them to disk if asked. On failure the
// segment is cut back to what it held, so that no partial record stays.
func (s *segment) write(records []byte, rows int, sync bool) error {
	if _, err := s.f.Write(records); err != nil {
		s.f.Truncate(s.size)
		s.f.Seek(s.size, io.SeekStart)
		return fmt.Errorf("write log segment: %w", err)
	}
	// Without sync the records are in the kernel's page cache, which
	// outlives this process.
	if sync {
		if err := s.f.Sync(); err != nil {
			// The kernel may have dropped the pages: the segment cannot be
			// trusted to hold what it should. Report it; the caller fails
			// the batch, and the next write rewrites from the last good size.
			s.f.Truncate(s.size)
			s.f.Seek(s.size, io.SeekStart)
			return fmt.Errorf("sync log segment: %w", err)
		}
	}
	if s.size == 0 {
		s.first = time.Now()
	}
	s.size += int64(len(records))
	s.rows += int64(rows)
	return nil
}

// close closes the file after the last append.
func (s *segment) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// errTorn marks a record cut short or damaged: the log ends there.
var errTorn = errors.New("torn record")

// readRecord reads one record, at offset off of its segment, reusing buf
// for its payload. It returns io.EOF at a clean end, and an error wrapping
// errTorn, with the offset and the reason, for a record cut short or
// damaged.
func readRecord(r io.Reader, off int64, buf []byte) (*block, []byte, int64, error) {
	var hdr [walHeader]byte
	n, err := io.ReadFull(r, hdr[:])
	if err == io.EOF {
		return nil, buf, 0, io.EOF
	}
	if err != nil {
		return nil, buf, 0, fmt.Errorf("%w at offset %d: header cut short after %d bytes", errTorn, off, n)
	}
	if string(hdr[:4]) != walMagic {
		return nil, buf, 0, fmt.Errorf("%w at offset %d: bad magic %q", errTorn, off, hdr[:4])
	}
	size := binary.LittleEndian.Uint32(hdr[4:])
	if size > maxWALRecord {
		return nil, buf, 0, fmt.Errorf("%w at offset %d: record of %d bytes is too large", errTorn, off, size)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if n, err := io.ReadFull(r, buf); err != nil {
		return nil, buf, 0, fmt.Errorf("%w at offset %d: payload cut short after %d of %d bytes", errTorn, off, n, size)
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, buf, 0, fmt.Errorf("%w at offset %d: checksum mismatch", errTorn, off)
	}
	b, err := decodeRecord(buf)
	if err != nil {
		return nil, buf, 0, fmt.Errorf("%w at offset %d: %w", errTorn, off, err)
	}
	return b, buf, walHeader + int64(size), nil
}

// decodeRecord parses a record's payload. The block's data aliases p.
func decodeRecord(p []byte) (*block, error) {
	d := recordDecoder{p: p}
	b := &block{table: string(d.bytes("table"))}
	rows := d.uvarint("rows")
	ncols := d.uvarint("columns")
	if d.err == nil && (rows > maxWALRecord || ncols > uint64(len(p))) {
		d.fail("implausible size: %d rows, %d columns", rows, ncols)
	}
	b.rows = int(rows)
	for i := uint64(0); i < ncols && d.err == nil; i++ {
		b.names = append(b.names, string(d.bytes("column name")))
		b.types = append(b.types, string(d.bytes("column type")))
		b.data = append(b.data, d.bytes("column data"))
	}
	if d.err == nil && d.off != len(p) {
		d.fail("%d bytes after the last column", len(p)-d.off)
	}
	if d.err == nil && (b.table == "" || ncols == 0) {
		d.fail("no table or no columns")
	}
	return b, d.err
}

// recordDecoder reads the fields of a payload; the first error sticks.
type recordDecoder struct {
	p   []byte
	off int
	err error
}

func (d *recordDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("byte %d: %s", d.off, fmt.Sprintf(format, args...))
	}
}

func (d *recordDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p[d.off:])
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *recordDecoder) bytes(what string) []byte {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.p)-d.off) {
		d.fail("%s of %d bytes runs past the record", what, n)
		return nil
	}
	s := d.p[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return s
}

// readSegment reads every whole record of a segment file. A torn tail (a
// crash during a write that was therefore never acknowledged) ends the
// segment; it is reported in torn, not as an error.
func readSegment(path string, fn func(b *block, size int64) error) (torn error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open log segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var buf []byte
	for {
		b, nb, n, err := readRecord(r, off, buf)
		buf = nb
		if err == io.EOF {
			return nil, nil
		}
		if errors.Is(err, errTorn) {
			return fmt.Errorf("log segment %s: %w", filepath.Base(path), err), nil
		}
		if err != nil {
			return nil, err
		}
		if err := fn(b, n); err != nil {
			return nil, err
		}
		off += n
	}
}

// listSegments returns the sequence numbers of the segments in dir, in
// order.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list log segments: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), walSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// syncDir makes a file's creation or removal in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync log directory: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync log directory: %w", err)
	}
	return nil
}
