package duckdb

/*
#include <stdlib.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2/mapping"
)

// physType is how a column's values are laid out in a DuckDB vector.
type physType uint8

const (
	physBigInt physType = iota // int64
	physDouble
	physVarchar // duckdb_string_t
	physBool
	physUUID    // hugeint with the top bit flipped
	physUBigInt // uint64
	physUInt    // uint32
	physUTiny   // uint8
	physInt     // int32
)

func (p physType) duckType() mapping.Type {
	return [...]mapping.Type{
		physBigInt: mapping.TypeBigInt, physDouble: mapping.TypeDouble, physVarchar: mapping.TypeVarchar,
		physBool: mapping.TypeBoolean, physUUID: mapping.TypeUUID, physUBigInt: mapping.TypeUBigInt,
		physUInt: mapping.TypeUInteger, physUTiny: mapping.TypeUTinyInt, physInt: mapping.TypeInteger,
	}[p]
}

// chunkAppender appends rows to a table through DuckDB's C appender, writing
// values straight into the vectors of a data chunk. The duckdb-go Appender
// makes three cgo calls and a malloc per string; this makes none per value:
// long strings of a chunk are copied into one C buffer, which DuckDB copies
// again when the chunk is appended.
//
// Use: set every column of a row with the Set methods or Null, then Next.
// A chunkAppender is not safe for concurrent use.
type chunkAppender struct {
	app   mapping.Appender
	chunk mapping.DataChunk
	phys  []physType
	data  []unsafe.Pointer // per column: vector data
	valid [][]uint64       // per column: validity words
	cap   int
	row   int

	bufs   []unsafe.Pointer // C buffers holding this chunk's long strings
	buf    unsafe.Pointer   // current buffer
	bufLen int
	bufCap int
}

// newChunkAppender opens an appender on table for the given columns.
func newChunkAppender(conn mapping.Connection, table string, cols []string, phys []physType) (*chunkAppender, error) {
	a := &chunkAppender{phys: phys, cap: int(mapping.VectorSize())}
	if mapping.AppenderCreateExt(conn, "", "", table, &a.app) == mapping.StateError {
		err := errors.New(mapping.AppenderError(a.app))
		mapping.AppenderDestroy(&a.app)
		return nil, fmt.Errorf("open appender on %s: %w", table, err)
	}
	for _, c := range cols {
		if mapping.AppenderAddColumn(a.app, c) == mapping.StateError {
			err := errors.New(mapping.AppenderError(a.app))
			mapping.AppenderDestroy(&a.app)
			return nil, fmt.Errorf("append column %s to %s: %w", c, table, err)
		}
	}
	types := make([]mapping.LogicalType, len(phys))
	for i, p := range phys {
		types[i] = mapping.CreateLogicalType(p.duckType())
	}
	a.chunk = mapping.CreateDataChunk(types)
	for i := range types {
		mapping.DestroyLogicalType(&types[i])
	}
	a.data = make([]unsafe.Pointer, len(phys))
	a.valid = make([][]uint64, len(phys))
	a.bindVectors()
	return a, nil
}

// bindVectors fetches the chunk's vector buffers; called after each reset.
func (a *chunkAppender) bindVectors() {
	words := (a.cap + 63) / 64
	for i := range a.phys {
		vec := mapping.DataChunkGetVector(a.chunk, mapping.IdxT(i))
		mapping.VectorEnsureValidityWritable(vec)
		a.data[i] = mapping.VectorGetData(vec)
		a.valid[i] = unsafe.Slice((*uint64)(mapping.VectorGetValidity(vec)), words)
		for w := range a.valid[i] {
			a.valid[i][w] = math.MaxUint64
		}
	}
}

// Null marks column c of the current row NULL.
func (a *chunkAppender) Null(c int) {
	a.valid[c][a.row>>6] &^= 1 << (a.row & 63)
}

func (a *chunkAppender) SetInt64(c int, v int64) {
	*(*int64)(unsafe.Add(a.data[c], a.row*8)) = v
}

func (a *chunkAppender) SetUint64(c int, v uint64) {
	*(*uint64)(unsafe.Add(a.data[c], a.row*8)) = v
}

func (a *chunkAppender) SetFloat64(c int, v float64) {
	*(*float64)(unsafe.Add(a.data[c], a.row*8)) = v
}

func (a *chunkAppender) SetUint32(c int, v uint32) {
	*(*uint32)(unsafe.Add(a.data[c], a.row*4)) = v
}

func (a *chunkAppender) SetInt32(c int, v int32) {
	*(*int32)(unsafe.Add(a.data[c], a.row*4)) = v
}

func (a *chunkAppender) SetUint8(c int, v uint8) {
	*(*uint8)(unsafe.Add(a.data[c], a.row)) = v
}

func (a *chunkAppender) SetBool(c int, v bool) {
	*(*bool)(unsafe.Add(a.data[c], a.row)) = v
}

// SetUUID writes a 128-bit id given as its big-endian halves. DuckDB keeps a
// UUID as a hugeint {lower, upper} whose top bit is flipped, so that signed
// order matches the order of the text form.
func (a *chunkAppender) SetUUID(c int, hi, lo uint64) {
	p := unsafe.Add(a.data[c], a.row*16)
	*(*uint64)(p) = lo
	*(*uint64)(unsafe.Add(p, 8)) = hi ^ (1 << 63)
}

// SetString writes a duckdb_string_t: up to 12 bytes inline, longer strings
// as length, 4-byte prefix and a pointer into the chunk's C buffer.
func (a *chunkAppender) SetString(c int, s string) {
	p := unsafe.Add(a.data[c], a.row*16)
	st := unsafe.Slice((*byte)(p), 16)
	*(*uint32)(p) = uint32(len(s))
	if len(s) <= 12 {
		n := copy(st[4:], s)
		clear(st[4+n:])
		return
	}
	copy(st[4:8], s[:4])
	dst := a.alloc(len(s))
	copy(unsafe.Slice((*byte)(dst), len(s)), s)
	*(*unsafe.Pointer)(unsafe.Add(p, 8)) = dst
}

func (a *chunkAppender) alloc(n int) unsafe.Pointer {
	if a.bufLen+n > a.bufCap {
		size := max(1<<20, n)
		a.buf = C.malloc(C.size_t(size))
		if a.buf == nil {
			panic("BUG: out of C memory")
		}
		a.bufs = append(a.bufs, a.buf)
		a.bufLen, a.bufCap = 0, size
	}
	p := unsafe.Add(a.buf, a.bufLen)
	a.bufLen += n
	return p
}

// Next finishes the current row, appending the chunk when it is full.
func (a *chunkAppender) Next() error {
	a.row++
	if a.row == a.cap {
		return a.appendChunk()
	}
	return nil
}

func (a *chunkAppender) appendChunk() error {
	if a.row == 0 {
		return nil
	}
	mapping.DataChunkSetSize(a.chunk, mapping.IdxT(a.row))
	state := mapping.AppendDataChunk(a.app, a.chunk)
	// DuckDB has copied the strings: the buffers can be reused.
	a.releaseBuffers(true)
	mapping.DataChunkReset(a.chunk)
	a.row = 0
	a.bindVectors()
	if state == mapping.StateError {
		return errors.New(mapping.AppenderError(a.app))
	}
	return nil
}

// releaseBuffers frees the string buffers, keeping the last for reuse.
func (a *chunkAppender) releaseBuffers(keepLast bool) {
	for i, b := range a.bufs {
		if keepLast && i == len(a.bufs)-1 {
			continue
		}
		C.free(b)
	}
	if keepLast && len(a.bufs) > 0 {
		a.bufs = append(a.bufs[:0], a.buf)
		a.bufLen = 0
		return
	}
	a.bufs, a.buf, a.bufLen, a.bufCap = nil, nil, 0, 0
}

// Close appends what is left and flushes the rows into the connection's
// transaction. The appender must not be used afterwards.
func (a *chunkAppender) Close() error {
	err := a.appendChunk()
	if err == nil && mapping.AppenderFlush(a.app) == mapping.StateError {
		err = errors.New(mapping.AppenderError(a.app))
	}
	a.Destroy()
	return err
}

// Destroy releases the appender without flushing.
func (a *chunkAppender) Destroy() {
	if a.app.Ptr != nil {
		mapping.AppenderDestroy(&a.app)
	}
	if a.chunk.Ptr != nil {
		mapping.DestroyDataChunk(&a.chunk)
	}
	a.releaseBuffers(false)
}
