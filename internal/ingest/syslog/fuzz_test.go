package syslog

import (
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var fuzzLines = []string{
	"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + bom + "'su root' failed",
	"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
	`<165>1 2003-10-11T22:14:15.003Z h evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App"][p@1 class="high"] msg`,
	`<13>1 - h a p m [x@1 a="q\"uo\\te\]" b="back\slash"] msg`,
	"<0>1 - - - - - -",
	"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
	"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
	"<13>Feb 29 17:32:18 app[1]: x",
	"<189>Mar 10 2019 11:22:33 router1 %LINK-3-UPDOWN: up",
	"<34>2003-10-11T22:14:15 mymachine su: hi",
	"<999>x", "<>", "", "hello", "<13>",
}

// FuzzParse checks that Parse never panics, that its errors point into the
// line, and that what it accepts maps to a valid event.
func FuzzParse(f *testing.F) {
	for _, l := range fuzzLines {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := Parse(line, testNow)
		if err != nil {
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.GreaterOrEqual(t, pe.Column, 1)
			require.LessOrEqual(t, pe.Column, len(line)+1)
			return
		}
		require.GreaterOrEqual(t, m.Priority, 0)
		require.LessOrEqual(t, m.Priority, maxPriority)
		require.True(t, strings.HasSuffix(line, m.Msg), "MSG is the end of the line")
		ev, _ := toEvent(&m, line, "g", "s", 0, 50)
		require.LessOrEqual(t, len(ev.Fields), 50)
		require.True(t, utf8.ValidString(ev.Message))
		require.True(t, utf8.ValidString(ev.Stream))
		require.NotEmpty(t, ev.Stream)
		for _, fl := range ev.Fields {
			require.NotEmpty(t, fl.Name)
			require.True(t, utf8.ValidString(fl.Name))
			require.True(t, utf8.ValidString(fl.Str))
		}
	})
}

// FuzzTCPFraming checks that framing an arbitrary stream never panics,
// ends, keeps messages within the limit, and finds the same frames however
// the stream is cut into reads.
func FuzzTCPFraming(f *testing.F) {
	f.Add([]byte("5 <13>a<13>b\n\n12 <13>one\ntwo\r\n<13>c\x00"), uint8(3), uint16(64))
	f.Add([]byte("20 <13>0123456789012345<13>ok\n<13>"+strings.Repeat("x", 40)+"\n"), uint8(1), uint16(10))
	f.Add([]byte("999999999 x\n1234567890 <13>x\n10 <13>ab"), uint8(7), uint16(16))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, maxMessage uint16) {
		if maxMessage == 0 {
			maxMessage = 1
		}
		max := int(maxMessage)

		// The reference: the whole stream in one call sequence.
		var want []string
		f := framer{max: max}
		for rest := data; ; {
			adv, msg, kind := f.split(rest, true)
			rest = rest[adv:]
			if kind == frameNeedMore {
				require.Empty(t, rest, "at the end of the stream all input is consumed")
				break
			}
			require.True(t, adv > 0 || kind != frameSkip, "split makes progress")
			if kind != frameSkip {
				require.LessOrEqual(t, len(msg), max)
				want = append(want, render(msg, kind))
			}
		}

		// The stream cut into reads of chunk bytes (1 to 256) through the
		// bounded buffer of frameReader.
		size := int(chunk) + 1
		var chunks []string
		for i := 0; i < len(data); i += size {
			chunks = append(chunks, string(data[i:min(i+size, len(data))]))
		}
		fr := newFrameReader(&chunkReader{chunks: chunks}, max)
		var got []string
		for range len(data) + 2 {
			msg, kind, _, err := fr.next(true)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.LessOrEqual(t, len(fr.buf), fr.f.bufferSize())
			got = append(got, render(msg, kind))
			if kind == frameMessage {
				_, _ = Parse(string(msg), testNow)
			}
		}
		_, _, _, err := fr.next(true)
		require.ErrorIs(t, err, io.EOF, "the reader ends")
		require.Equal(t, want, got)
	})
}
