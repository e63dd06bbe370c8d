package clickhouse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func testBlock() *block {
	return &block{
		table: "g_t", rows: 2,
		names: []string{"ts", "s_route"},
		types: []string{"Int64", "Nullable(String)"},
		data:  [][]byte{make([]byte, 16), {0, 1, 2, 'h', 'i', 0}},
	}
}

// TestRecordRoundTrip writes records and reads them back.
func TestRecordRoundTrip(t *testing.T) {
	b := testBlock()
	buf := appendRecord(appendRecord(nil, b), b)
	r := bufio.NewReader(bytes.NewReader(buf))
	var off int64
	for i := 0; i < 2; i++ {
		got, _, n, err := readRecord(r, off, nil)
		require.NoError(t, err)
		require.Equal(t, b, got)
		off += n
	}
	_, _, _, err := readRecord(r, off, nil)
	require.ErrorIs(t, err, io.EOF)
}

// TestTornTail cuts a segment short at every byte of its last record: the
// whole records before it are read, and the tail is reported as torn, not
// as an error.
func TestTornTail(t *testing.T) {
	b := testBlock()
	one := appendRecord(nil, b)
	two := appendRecord(append([]byte(nil), one...), b)
	dir := t.TempDir()
	for cut := len(one) + 1; cut < len(two); cut++ {
		path := filepath.Join(dir, "seg.wal")
		require.NoError(t, os.WriteFile(path, two[:cut], 0o600))
		var n int
		torn, err := readSegment(path, func(*block, int64) error { n++; return nil })
		require.NoError(t, err)
		require.ErrorIs(t, torn, errTorn, "cut at %d", cut)
		require.Equal(t, 1, n)
	}
	// A flipped bit is caught by the checksum.
	bad := append([]byte(nil), two...)
	bad[len(bad)-2] ^= 1
	_, _, _, err := readRecord(bufio.NewReader(bytes.NewReader(bad[len(one):])), 0, nil)
	require.ErrorContains(t, err, "checksum mismatch")
}

// FuzzReadRecord feeds arbitrary bytes to the log reader: it must return
// records or an error saying where and why, and never panic.
func FuzzReadRecord(f *testing.F) {
	f.Add(appendRecord(nil, testBlock()))
	f.Add([]byte("SWB1\x05\x00\x00\x00\x00\x00\x00\x00hello"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var off int64
		for {
			b, _, n, err := readRecord(r, off, nil)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errTorn) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(b.names) != len(b.data) || len(b.types) != len(b.data) {
				t.Fatalf("inconsistent block %+v", b)
			}
			off += n
		}
	})
}

// FuzzDecodeRecord checks the payload parser alone (the fuzzer rarely gets
// a checksum right).
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, testBlock())[walHeader:])
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decodeRecord(p)
		if err == nil && (b.table == "" || len(b.names) == 0 || len(b.names) != len(b.data)) {
			t.Fatalf("accepted an invalid record: %+v", b)
		}
	})
}

func TestSplitRecords(t *testing.T) {
	recs := func(rows ...int) []recordPos {
		var out []recordPos
		for i, r := range rows {
			out = append(out, recordPos{off: int64(i), rows: r})
		}
		return out
	}
	shape := func(chunks []recordChunk) (firsts, rows []int) {
		for _, c := range chunks {
			firsts = append(firsts, c.first)
			n := 0
			for _, r := range c.recs {
				n += r.rows
			}
			rows = append(rows, n)
		}
		return firsts, rows
	}
	cases := []struct {
		name            string
		rows            []int
		threads, floor  int
		firsts, perPart []int
	}{
		{"even halves", []int{100, 100, 100, 100}, 2, 100, []int{0, 2}, []int{200, 200}},
		{"floor keeps one insert", []int{100, 100, 100, 100}, 2, 300, []int{0}, []int{400}},
		{"small segment", []int{10}, 4, 100, []int{0}, []int{10}},
		{"no more chunks than records", []int{1000, 1000}, 4, 1, []int{0, 1}, []int{1000, 1000}},
		{"uneven records", []int{500, 10, 10, 10, 470}, 2, 100, []int{0, 1}, []int{500, 500}},
		{"three ways", []int{100, 100, 100, 100, 100, 100}, 3, 100, []int{0, 2, 4}, []int{200, 200, 200}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chunks := splitRecords(recs(c.rows...), c.threads, c.floor)
			firsts, rows := shape(chunks)
			require.Equal(t, c.firsts, firsts)
			require.Equal(t, c.perPart, rows)
			n := 0
			for _, ch := range chunks {
				require.Equal(t, n, ch.first, "chunks cover the records in order")
				n += len(ch.recs)
			}
			require.Equal(t, len(c.rows), n)
		})
	}
}

// TestReadRecordAt reads records where the index says they are, and fails
// when the index or the file does not hold the record that was written.
func TestReadRecordAt(t *testing.T) {
	b := testBlock()
	one := appendRecord(nil, b)
	two := appendRecord(append([]byte(nil), one...), b)
	path := filepath.Join(t.TempDir(), "seg.wal")
	require.NoError(t, os.WriteFile(path, two, 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	size := int64(len(one))
	got, _, err := readRecordAt(f, recordPos{off: size, size: size}, nil)
	require.NoError(t, err)
	require.Equal(t, b, got)
	_, _, err = readRecordAt(f, recordPos{off: 1, size: size}, nil)
	require.ErrorContains(t, err, "bad magic")
	_, _, err = readRecordAt(f, recordPos{off: 0, size: size + 1}, nil)
	require.ErrorContains(t, err, "written")
	_, _, err = readRecordAt(f, recordPos{off: size, size: size - 1}, nil)
	require.ErrorContains(t, err, "cut short")
}
