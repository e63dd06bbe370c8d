package syslog

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// chunkReader returns its chunks one Read at a time, as TCP reads may.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// frames reads every frame of a stream and renders them as "msg:<text>",
// "too_large" and "truncated".
func frames(t *testing.T, rd io.Reader, maxMessage int) []string {
	t.Helper()
	fr := newFrameReader(rd, maxMessage)
	var out []string
	for range 10_000 {
		msg, kind, _, err := fr.next(true)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, render(msg, kind))
	}
	t.Fatal("frameReader does not end")
	return nil
}

func render(msg []byte, kind frameKind) string {
	switch kind {
	case frameMessage:
		return "msg:" + string(msg)
	case frameTooLarge:
		return "too_large"
	case frameTruncated:
		return "truncated"
	}
	return "BUG"
}

func TestFraming(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name   string
		max    int
		chunks []string
		want   []string
	}{
		{
			name:   "newline framing",
			chunks: []string{"<13>a\n<13>b\n"},
			want:   []string{"msg:<13>a", "msg:<13>b"},
		},
		{
			name:   "CRLF, NUL and a last line without delimiter",
			chunks: []string{"<13>a\r\n<13>b\x00<13>c"},
			want:   []string{"msg:<13>a", "msg:<13>b", "msg:<13>c"},
		},
		{
			name:   "octet counting back to back",
			chunks: []string{"5 <13>a6 <13>bc"},
			want:   []string{"msg:<13>a", "msg:<13>bc"},
		},
		{
			name:   "framing detected per message",
			chunks: []string{"5 <13>a\n<13>b\n7 <13>abc<13>d\n"},
			want:   []string{"msg:<13>a", "msg:<13>b", "msg:<13>abc", "msg:<13>d"},
		},
		{
			name:   "octet-counted frame holding its newline",
			chunks: []string{"6 <13>a\n6 <13>b\n"},
			want:   []string{"msg:<13>a", "msg:<13>b"},
		},
		{
			name:   "octet-counted frame keeps newlines inside",
			chunks: []string{"12 <13>one\ntwo\n"},
			want:   []string{"msg:<13>one\ntwo"},
		},
		{
			name:   "split across reads everywhere",
			chunks: []string{"9", " <13>hel", "lo<13", ">x\r", "\n", "4 <1>", "x"},
			want:   []string{"msg:<13>hello", "msg:<13>x", "msg:<1>x"},
		},
		{
			name:   "empty lines between frames are skipped",
			chunks: []string{"\n\n<13>a\n\r\n\x00\x00<13>b\n"},
			want:   []string{"msg:<13>a", "msg:<13>b"},
		},
		{
			name:   "digits without space are a line",
			chunks: []string{"123abc\n1234567890 <13>x\n"},
			want:   []string{"msg:123abc", "msg:1234567890 <13>x"},
		},
		{
			name:   "digits alone at the end are a line",
			chunks: []string{"<13>a\n42"},
			want:   []string{"msg:<13>a", "msg:42"},
		},
		{
			name:   "octet-counted frame cut by the end of the stream",
			chunks: []string{"<13>a\n10 <13>ab"},
			want:   []string{"msg:<13>a", "truncated"},
		},
		{
			name:   "oversize octet-counted frame is skipped by its length",
			max:    10,
			chunks: []string{"20 <13>0123456789012345", "<13>ok\n"},
			want:   []string{"too_large", "msg:<13>ok"},
		},
		{
			name:   "oversize octet-counted frame split across reads",
			max:    10,
			chunks: []string{"2", "0 <13>01234", "5678901234", "5<13>ok\n"},
			want:   []string{"too_large", "msg:<13>ok"},
		},
		{
			name:   "oversize line is skipped to its newline",
			max:    10,
			chunks: []string{"<13>" + long + "\n<13>ok\n"},
			want:   []string{"too_large", "msg:<13>ok"},
		},
		{
			name:   "oversize line longer than the buffer",
			max:    10,
			chunks: []string{"<13>" + long, long, long + "\x00", "<13>ok\n"},
			want:   []string{"too_large", "msg:<13>ok"},
		},
		{
			name:   "oversize line at the end of the stream",
			max:    10,
			chunks: []string{"<13>ok\n<13>" + long},
			want:   []string{"msg:<13>ok", "too_large"},
		},
		{
			name:   "a message of exactly the limit, with CRLF",
			max:    10,
			chunks: []string{"<13>456789\r", "\n", "10 <13>456789"},
			want:   []string{"msg:<13>456789", "msg:<13>456789"},
		},
		{
			name:   "one byte over the limit",
			max:    10,
			chunks: []string{"<13>4567890\n11 <13>4567890<13>ok\n"},
			want:   []string{"too_large", "too_large", "msg:<13>ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxMessage := tt.max
			if maxMessage == 0 {
				maxMessage = DefaultMaxMessageBytes
			}
			got := frames(t, &chunkReader{chunks: append([]string(nil), tt.chunks...)}, maxMessage)
			require.Equal(t, tt.want, got)
			// Byte by byte gives the same frames.
			one := []string{}
			for _, c := range tt.chunks {
				for i := range len(c) {
					one = append(one, c[i:i+1])
				}
			}
			require.Equal(t, tt.want, frames(t, &chunkReader{chunks: one}, maxMessage))
		})
	}
}

// timeoutReader times out once after its first chunk, then goes on.
type timeoutReader struct {
	chunkReader
	timedOut bool
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (r *timeoutReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 1 && !r.timedOut {
		r.timedOut = true
		return 0, timeoutError{}
	}
	return r.chunkReader.Read(p)
}

func TestFrameReaderTimeoutKeepsPartialFrame(t *testing.T) {
	fr := newFrameReader(&timeoutReader{chunkReader: chunkReader{chunks: []string{"<13>a\n<13>b", "c\n"}}}, 100)
	msg, kind, n, err := fr.next(true)
	require.NoError(t, err)
	require.Equal(t, "msg:<13>a", render(msg, kind))
	require.Equal(t, 11, n)
	_, _, _, err = fr.next(true)
	require.True(t, isTimeout(err), "a timeout is returned so the caller can flush: %v", err)
	msg, kind, _, err = fr.next(true)
	require.NoError(t, err)
	require.Equal(t, "msg:<13>bc", render(msg, kind), "the partial frame survives the timeout")
}

func TestFrameReaderStopped(t *testing.T) {
	fr := newFrameReader(&chunkReader{chunks: []string{"<13>a\n<13>b\n<13>partial"}}, 100)
	msg, kind, _, err := fr.next(true)
	require.NoError(t, err)
	require.Equal(t, "msg:<13>a", render(msg, kind))
	msg, kind, _, err = fr.next(false)
	require.NoError(t, err, "buffered frames are still returned")
	require.Equal(t, "msg:<13>b", render(msg, kind))
	_, _, _, err = fr.next(false)
	require.ErrorIs(t, err, errStopped)
}

func TestFrameReaderBufferStaysBounded(t *testing.T) {
	const maxMessage = 1 << 20
	line := "<13>" + strings.Repeat("y", maxMessage-4) + "\n"
	fr := newFrameReader(&chunkReader{chunks: []string{line + line + "<13>" + strings.Repeat("z", 3*maxMessage) + "\n<13>end\n"}}, maxMessage)
	var kinds []string
	for {
		msg, kind, _, err := fr.next(true)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if kind == frameMessage && len(msg) > 20 {
			kinds = append(kinds, "long")
		} else {
			kinds = append(kinds, render(msg, kind))
		}
		require.LessOrEqual(t, len(fr.buf), fr.f.bufferSize())
	}
	require.Equal(t, []string{"long", "long", "too_large", "msg:<13>end"}, kinds)
}

func TestDatagramMessages(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"<13>a", []string{"<13>a"}},
		{"<13>a\n", []string{"<13>a"}},
		{"<13>a\r\n\x00", []string{"<13>a"}},
		{"<13>a\n<13>b\r\n<13>c\n", []string{"<13>a", "<13>b", "<13>c"}},
		{"<13>a\nsecond line\n  third\n<13>b", []string{"<13>a\nsecond line\n  third", "<13>b"}},
		{"\n\n<13>a\n\n<13>b", []string{"<13>a", "<13>b"}},
		{"garbage\n<13>b", []string{"garbage", "<13>b"}},
		{"\n", nil},
		{"", nil},
	}
	for _, tt := range tests {
		var got []string
		for m := range datagramMessages(tt.in) {
			got = append(got, m)
		}
		require.Equal(t, tt.want, got, "%q", tt.in)
	}
}

// A timeout must be recognised through wrapping, as net.OpError wraps it.
func TestIsTimeout(t *testing.T) {
	require.True(t, isTimeout(timeoutError{}))
	require.False(t, isTimeout(io.EOF))
	require.False(t, isTimeout(errors.New("x")))
	require.True(t, isTimeout(&net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}))
}
