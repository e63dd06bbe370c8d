package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/sonde-dev/sonde/internal/flock"
	"github.com/sonde-dev/sonde/internal/store"
)

// buffer turns many small Appends into few large inserts. ClickHouse
// writes every INSERT as a new part and merges parts in the background;
// small inserts cost it several times the CPU of the insert itself in
// merges. So Append writes its blocks to a local write-ahead log (wal.go)
// and returns once they are synced there (written, with
// Options.BufferNoFsync); a flusher inserts the log's segments, each as a
// few large INSERTs per column list (see insertSegment), when a segment
// gets Options.BufferRows rows or Options.BufferInterval old, and deletes
// a segment once ClickHouse confirmed it. After a crash, Open inserts what
// the log still holds.
//
// Each block of a segment is inserted once. A crash of
// sonde while a segment is being inserted may insert its blocks again when
// the log is replayed: ClickHouse 18.16 keeps the blocks of an INSERT whose
// client went away, and ClickHouse writes a part on its own whenever an
// INSERT passes min_insert_block_size_rows. Within that window delivery is
// at least once; outside it, exactly once.
//
// While inserts fail (ClickHouse down or slow), Append refuses batches with
// store.ErrUnavailable, as it does without the buffer: the log only holds
// what was accepted while ClickHouse worked, and the flusher keeps retrying
// it. Queries (Snapshot, Scan, Stats, Groups) insert what is buffered
// first, so that they see every acknowledged event.
type buffer struct {
	d        *DB
	dir      string
	lock     *os.File
	interval time.Duration
	maxRows  int64
	maxBytes int64
	fsync    bool
	log      *slog.Logger

	// segMu guards the segment that takes appends. The flusher takes it,
	// not d.wmu, which Append holds across DDL and metadata round trips.
	segMu   sync.Mutex
	cur     *segment // takes appends; nil until the next record
	nextSeq uint64
	recBuf  []byte

	mu           sync.Mutex
	queue        []*segment // closed segments to insert, oldest first
	pendingBytes int64      // in queue and cur
	failed       error      // why the last insert failed; nil once one succeeds
	attempts     uint64     // insert attempts that ended, ok or not
	segments     uint64     // segments inserted
	changed      chan struct{}

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// recordPos is where a record sits in a segment.
type recordPos struct {
	off  int64
	size int64
	rows int
}

// segmentIndex lists a segment's records by column list, in order.
type segmentIndex struct {
	keys    []string // column lists in order of first appearance
	records map[string][]recordPos
	done    map[chunkKey]bool // chunks already inserted
}

// chunkKey names one INSERT of a segment: a run of records of one column
// list (see splitRecords).
type chunkKey struct {
	columns string
	first   int // index of its first record
}

func (ix *segmentIndex) add(key string, pos recordPos) {
	if ix.records == nil {
		ix.records = map[string][]recordPos{}
	}
	if _, ok := ix.records[key]; !ok {
		ix.keys = append(ix.keys, key)
	}
	ix.records[key] = append(ix.records[key], pos)
}

// openBuffer locks dir, queues the segments a previous run left, and
// starts the flusher.
func openBuffer(d *DB) (*buffer, error) {
	o := d.opts
	if err := os.MkdirAll(o.BufferDir, 0o700); err != nil {
		return nil, fmt.Errorf("create buffer directory: %w", err)
	}
	lock, err := flock.Lock(o.BufferDir + "/" + walLockName)
	if err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("buffer directory %s is in use by another sonde server", o.BufferDir)
		}
		return nil, err
	}
	b := &buffer{
		d: d, dir: o.BufferDir, lock: lock, interval: o.BufferInterval, maxRows: int64(o.BufferRows), maxBytes: o.BufferBytes, fsync: !o.BufferNoFsync,
		log: d.log.With("buffer", o.BufferDir), changed: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), nextSeq: 1,
	}
	seqs, err := listSegments(b.dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	var rows int64
	for _, seq := range seqs {
		s := &segment{seq: seq, path: segmentPath(b.dir, seq)}
		ix := &segmentIndex{}
		var off int64
		torn, err := readSegment(s.path, func(blk *block, size int64) error {
			ix.add(blk.columnsKey(), recordPos{off, size, blk.rows})
			off += size
			s.rows += int64(blk.rows)
			return nil
		})
		if err != nil {
			lock.Close()
			return nil, err
		}
		if torn != nil {
			// Never acknowledged: the write was cut short by a crash.
			b.log.Warn("Buffer segment ends in a partial record, which was never acknowledged; it is dropped", "error", torn)
		}
		s.size, s.index = off, ix
		b.queue = append(b.queue, s)
		b.pendingBytes += s.size
		rows += s.rows
		b.nextSeq = seq + 1
	}
	if len(b.queue) > 0 {
		b.log.Info("Inserting events buffered before the last stop", "segments", len(b.queue), "events", rows)
	}
	go b.run()
	b.poke()
	return b, nil
}

// usable fails with store.ErrUnavailable while inserts fail or the log is
// full.
func (b *buffer) usable() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed != nil {
		return fmt.Errorf("%w: inserts into ClickHouse fail: %w", store.ErrUnavailable, b.failed)
	}
	if b.pendingBytes >= b.maxBytes {
		return fmt.Errorf("%w: %d bytes wait to be inserted into ClickHouse (buffer limit %d)", store.ErrUnavailable, b.pendingBytes, b.maxBytes)
	}
	return nil
}

// write logs blocks: once it returns nil they outlive this process (and,
// with fsync, the machine).
func (b *buffer) write(blocks []*block) error {
	b.segMu.Lock()
	defer b.segMu.Unlock()
	if b.cur == nil {
		s, err := createSegment(b.dir, b.nextSeq)
		if err != nil {
			return err
		}
		s.index = &segmentIndex{}
		b.cur = s
		b.nextSeq++
	}
	s := b.cur
	buf := b.recBuf[:0]
	rows := 0
	var pos []recordPos
	for _, blk := range blocks {
		start := len(buf)
		buf = appendRecord(buf, blk)
		pos = append(pos, recordPos{s.size + int64(start), int64(len(buf) - start), blk.rows})
		rows += blk.rows
	}
	b.recBuf = buf
	if cap(b.recBuf) > 64<<20 {
		b.recBuf = nil // do not keep a huge buffer for the next write
	}
	if err := s.write(buf, rows, b.fsync); err != nil {
		return err
	}
	for i, blk := range blocks {
		s.index.add(blk.columnsKey(), pos[i])
	}
	b.mu.Lock()
	b.pendingBytes += int64(len(buf))
	b.mu.Unlock()
	if s.rows >= b.maxRows {
		b.rotate()
		b.poke()
	}
	return nil
}

// rotate closes the segment that takes appends and queues it. The caller
// holds segMu. It returns the sequence number of the last segment queued.
func (b *buffer) rotate() uint64 {
	if s := b.cur; s != nil {
		b.cur = nil
		if err := s.close(); err != nil {
			b.log.Warn("Closing buffer segment", "error", err)
		}
		if s.size == 0 {
			os.Remove(s.path)
		} else {
			b.mu.Lock()
			b.queue = append(b.queue, s)
			b.mu.Unlock()
		}
	}
	return b.nextSeq - 1
}

func (b *buffer) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// notify wakes the waiters of sync. The caller holds b.mu.
func (b *buffer) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// inserted counts the segments inserted so far.
func (b *buffer) inserted() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.segments
}

// sync inserts everything written so far into ClickHouse and waits for it.
// It fails with store.ErrUnavailable when an insert attempt made after the
// call fails.
func (b *buffer) sync(ctx context.Context) error {
	b.segMu.Lock()
	last := b.rotate()
	b.segMu.Unlock()
	b.mu.Lock()
	start := b.attempts
	b.mu.Unlock()
	b.poke()
	for {
		b.mu.Lock()
		if len(b.queue) == 0 || b.queue[0].seq > last {
			b.mu.Unlock()
			return nil
		}
		if b.failed != nil && b.attempts > start {
			err := b.failed
			b.mu.Unlock()
			return fmt.Errorf("%w: insert buffered events into ClickHouse: %w", store.ErrUnavailable, err)
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for buffered events to be inserted: %w", store.ErrUnavailable, ctx.Err())
		}
	}
}

// run is the flusher: it queues segments that are old enough and inserts
// the queue, retrying failed inserts on every tick.
func (b *buffer) run() {
	defer close(b.done)
	tick := b.interval / 4
	tick = max(min(tick, 250*time.Millisecond), 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
		case <-t.C:
		}
		b.segMu.Lock()
		if b.cur != nil && b.cur.size > 0 && time.Since(b.cur.first) >= b.interval {
			b.rotate()
		}
		b.segMu.Unlock()
		b.flushQueue(context.Background())
	}
}

// flushQueue inserts the queued segments in order, until one fails.
func (b *buffer) flushQueue(ctx context.Context) {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.mu.Unlock()
			return
		}
		s := b.queue[0]
		b.mu.Unlock()
		err := b.insertSegment(ctx, s)
		b.mu.Lock()
		b.attempts++
		if err != nil {
			if b.failed == nil {
				b.log.Error("Inserting buffered events into ClickHouse failed; retrying", "segment", s.seq, "events", s.rows, "error", err)
			}
			b.failed = err
			b.notify()
			b.mu.Unlock()
			return
		}
		if b.failed != nil {
			b.log.Info("Inserting buffered events into ClickHouse works again", "segment", s.seq)
		}
		b.failed = nil
		b.segments++
		b.queue = b.queue[1:]
		b.pendingBytes -= s.size
		b.notify()
		b.mu.Unlock()
		if err := os.Remove(s.path); err != nil {
			b.log.Warn("Removing inserted buffer segment", "segment", s.path, "error", err)
		}
	}
}

// Codes of ClickHouse errors after which a block cannot ever be inserted.
const (
	codeUnknownTable    = 60
	codeUnknownDatabase = 81
)

// insertSegment inserts a segment's blocks: the records of each column
// list in up to Options.InsertThreads concurrent INSERTs (see
// splitRecords), skipping those that an earlier attempt inserted.
func (b *buffer) insertSegment(ctx context.Context, s *segment) error {
	ctx, cancel := context.WithTimeout(ctx, b.d.opts.WriteTimeout)
	defer cancel()
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("open buffer segment: %w", err)
	}
	defer f.Close()
	ix := s.index
	if ix.done == nil {
		ix.done = map[chunkKey]bool{}
	}
	for _, key := range ix.keys {
		recs := ix.records[key]
		chunks := splitRecords(recs, b.d.opts.InsertThreads, b.d.opts.InsertChunkRows)
		err := b.insertChunks(ctx, f, key, chunks, ix.done)
		if c := exceptionCode(err); c == codeNoSuchColumn {
			// A host lacks a column that the metadata names: add the
			// block's columns where missing and try again.
			if err = b.repairColumns(ctx, f, recs[0]); err == nil {
				err = b.insertChunks(ctx, f, key, chunks, ix.done)
			}
		}
		switch c := exceptionCode(err); {
		case c == codeUnknownTable || c == codeUnknownDatabase:
			// Someone dropped the table: these events have nowhere to go.
			b.log.Error("Dropping buffered events: their table is gone", "segment", s.seq, "error", err)
			for _, ch := range chunks {
				ix.done[chunkKey{key, ch.first}] = true
			}
		case err != nil:
			return classify(err)
		}
	}
	return nil
}

// recordChunk is a run of records inserted by one INSERT.
type recordChunk struct {
	first int // index of the first record in the column list
	recs  []recordPos
}

// splitRecords cuts the records of one column list into at most threads
// runs of about equal rows, none (but a lone one) under minRows. ClickHouse
// handles an INSERT on one thread and writes a part when it ends: a few
// concurrent INSERTs shorten the wait for a large segment, and the floor
// keeps the parts large enough that merging them stays cheap. The cut
// depends only on the records, so a retry skips the same chunks.
func splitRecords(recs []recordPos, threads, minRows int) []recordChunk {
	total := 0
	for _, r := range recs {
		total += r.rows
	}
	n := max(1, min(threads, total/max(minRows, 1), len(recs)))
	chunks := make([]recordChunk, 0, n)
	first, rows := 0, 0
	for i, r := range recs {
		rows += r.rows
		// Close the chunk once it holds its share of the rows.
		if len(chunks) < n-1 && rows*n >= total*(len(chunks)+1) {
			chunks = append(chunks, recordChunk{first, recs[first : i+1]})
			first = i + 1
		}
	}
	if first < len(recs) {
		chunks = append(chunks, recordChunk{first, recs[first:]})
	}
	return chunks
}

// insertChunks inserts the chunks not yet done concurrently and marks
// those that succeed. It returns the first error.
func (b *buffer) insertChunks(ctx context.Context, f *os.File, key string, chunks []recordChunk, done map[chunkKey]bool) error {
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for i, ch := range chunks {
		if done[chunkKey{key, ch.first}] {
			continue
		}
		wg.Go(func() { errs[i] = b.insertRecords(ctx, f, ch.recs) })
	}
	wg.Wait()
	for i, ch := range chunks {
		if errs[i] == nil {
			done[chunkKey{key, ch.first}] = true
		}
	}
	return errors.Join(errs...)
}

// insertRecords inserts records of one column list as one INSERT, a Data
// packet per record.
func (b *buffer) insertRecords(ctx context.Context, f *os.File, recs []recordPos) error {
	var buf []byte
	return b.d.insertBlocks(ctx, len(recs), func(i int) (*block, error) {
		blk, nb, err := readRecordAt(f, recs[i], buf)
		buf = nb
		return blk, err
	})
}

// repairColumns adds the columns of a record's block to its table where
// they are missing.
func (b *buffer) repairColumns(ctx context.Context, f *os.File, p recordPos) error {
	blk, _, err := readRecordAt(f, p, nil)
	if err != nil {
		return err
	}
	var defs []colDef
	for i, n := range blk.names {
		if !slices.Contains(systemColumns, n) {
			defs = append(defs, colDef{n, blk.types[i]})
		}
	}
	return b.d.addColumns(ctx, blk.table, defs)
}

// readRecordAt reads and checks the record at p. The block aliases buf.
func readRecordAt(f *os.File, p recordPos, buf []byte) (*block, []byte, error) {
	blk, buf, n, err := readRecord(io.NewSectionReader(f, p.off, p.size), p.off, buf)
	if err == nil && n != p.size {
		err = fmt.Errorf("record at offset %d: %d bytes, %d written", p.off, n, p.size)
	}
	if err != nil {
		return nil, buf, fmt.Errorf("buffer segment: %w", err)
	}
	return blk, buf, nil
}

// shutdown queues what is buffered, tries once more to insert it (within
// Options.WriteTimeout), stops the flusher and unlocks the directory. What
// could not be inserted stays in the log for the next Open.
func (b *buffer) shutdown() {
	b.segMu.Lock()
	b.rotate()
	b.segMu.Unlock()
	close(b.stop)
	<-b.done
	b.flushQueue(context.Background())
	b.mu.Lock()
	left := len(b.queue)
	b.mu.Unlock()
	if left > 0 {
		b.log.Warn("Buffered events stay in the log until the next start", "segments", left)
	}
	b.lock.Close()
}
