package syslog

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cet is the "server zone" of the RFC 3164 tests: not UTC, so that a
// timestamp read in the wrong zone shows.
var cet = time.FixedZone("CET", 3600)

// testNow is the receive time of the parser tests.
var testNow = time.Date(2026, time.March, 15, 12, 0, 0, 0, cet)

const bom = "\xef\xbb\xbf"

func utc(year int, month time.Month, day, hour, minute, sec, nsec int) time.Time {
	return time.Date(year, month, day, hour, minute, sec, nsec, time.UTC)
}

func TestParseRFC5424(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Message
	}{
		{
			name: "RFC 5424 example 1: NILVALUEs and a BOM",
			line: "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " + bom + "'su root' failed for lonvick on /dev/pts/8",
			want: Message{Format: RFC5424, Priority: 34, Version: 1, Time: utc(2003, 10, 11, 22, 14, 15, 3e6),
				Hostname: "mymachine.example.com", AppName: "su", MsgID: "ID47",
				Msg: "'su root' failed for lonvick on /dev/pts/8"},
		},
		{
			name: "RFC 5424 example 2: zone offset, microseconds",
			line: "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
			want: Message{Format: RFC5424, Priority: 165, Version: 1, Time: utc(2003, 8, 24, 12, 14, 15, 3000),
				Hostname: "192.0.2.1", AppName: "myproc", ProcID: "8710", Msg: "%% It's time to make the do-nuts."},
		},
		{
			name: "RFC 5424 example 3: structured data and MSG",
			line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] ` + bom + "An application event log entry...",
			want: Message{Format: RFC5424, Priority: 165, Version: 1, Time: utc(2003, 10, 11, 22, 14, 15, 3e6),
				Hostname: "mymachine.example.com", AppName: "evntslog", MsgID: "ID47",
				StructuredData: []SDElement{{ID: "exampleSDID@32473", Params: []SDParam{
					{"iut", "3"}, {"eventSource", "Application"}, {"eventID", "1011"}}}},
				Msg: "An application event log entry..."},
		},
		{
			name: "RFC 5424 example 4: two SD elements, no MSG",
			line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
			want: Message{Format: RFC5424, Priority: 165, Version: 1, Time: utc(2003, 10, 11, 22, 14, 15, 3e6),
				Hostname: "mymachine.example.com", AppName: "evntslog", MsgID: "ID47",
				StructuredData: []SDElement{
					{ID: "exampleSDID@32473", Params: []SDParam{{"iut", "3"}, {"eventSource", "Application"}, {"eventID", "1011"}}},
					{ID: "examplePriority@32473", Params: []SDParam{{"class", "high"}}},
				}},
		},
		{
			name: "every field NILVALUE",
			line: "<0>1 - - - - - -",
			want: Message{Format: RFC5424, Priority: 0, Version: 1},
		},
		{
			name: "space after structured data, empty MSG",
			line: "<0>1 - - - - - - ",
			want: Message{Format: RFC5424, Priority: 0, Version: 1},
		},
		{
			name: "SD escapes; a backslash before another character stays",
			line: `<13>1 2020-01-01T00:00:00Z h a p m [x@1 a="q\"uo\\te\]" b="back\slash" c="" d="un]escaped"] msg`,
			want: Message{Format: RFC5424, Priority: 13, Version: 1, Time: utc(2020, 1, 1, 0, 0, 0, 0),
				Hostname: "h", AppName: "a", ProcID: "p", MsgID: "m",
				StructuredData: []SDElement{{ID: "x@1", Params: []SDParam{
					{"a", `q"uo\te]`}, {"b", `back\slash`}, {"c", ""}, {"d", "un]escaped"}}}},
				Msg: "msg"},
		},
		{
			name: "SD element without params, repeated params kept as sent",
			line: `<14>1 - h - - - [meta][a p="1" p="2"]`,
			want: Message{Format: RFC5424, Priority: 14, Version: 1, Hostname: "h",
				StructuredData: []SDElement{{ID: "meta"}, {ID: "a", Params: []SDParam{{"p", "1"}, {"p", "2"}}}}},
		},
		{
			name: "lowercase t and z, 9 fractional digits, positive offset",
			line: "<14>1 2024-02-29t10:00:00.123456789+05:30 h - - - - x",
			want: Message{Format: RFC5424, Priority: 14, Version: 1, Time: utc(2024, 2, 29, 4, 30, 0, 123456789),
				Hostname: "h", Msg: "x"},
		},
		{
			name: "lowercase z",
			line: "<14>1 2024-02-29T10:00:00z h - - - - x",
			want: Message{Format: RFC5424, Priority: 14, Version: 1, Time: utc(2024, 2, 29, 10, 0, 0, 0),
				Hostname: "h", Msg: "x"},
		},
		{
			name: "MSG keeps spaces, brackets and newlines",
			line: "<14>1 - h - - - - [not sd] two  spaces\nline two",
			want: Message{Format: RFC5424, Priority: 14, Version: 1, Hostname: "h", Msg: "[not sd] two  spaces\nline two"},
		},
		{
			name: "non-ASCII header fields are accepted",
			line: "<14>1 - hôte app - - - x",
			want: Message{Format: RFC5424, Priority: 14, Version: 1, Hostname: "hôte", AppName: "app", Msg: "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.line, testNow)
			require.NoError(t, err)
			requireMessage(t, tt.want, got)
		})
	}
}

func TestParseRFC3164(t *testing.T) {
	tests := []struct {
		name string
		line string
		now  time.Time // testNow when zero
		want Message
	}{
		{
			name: "RFC 3164 example 1: last year's October",
			line: "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
			want: Message{Format: RFC3164, Priority: 34, Time: time.Date(2025, 10, 11, 22, 14, 15, 0, cet),
				Hostname: "mymachine", AppName: "su", Msg: "'su root' failed for lonvick on /dev/pts/8"},
		},
		{
			name: "RFC 3164 example 2: IP as hostname, no tag",
			line: "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 2, 5, 17, 32, 18, 0, cet),
				Hostname: "10.0.0.99", Msg: "Use the BFG!"},
		},
		{
			name: "RFC 3164 example 3: a zone in the timestamp reads as hostname",
			line: "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%",
			want: Message{Format: RFC3164, Priority: 165, Time: time.Date(2025, 8, 24, 5, 34, 0, 0, cet),
				Hostname: "CST", Msg: "1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%"},
		},
		{
			name: "RFC 3164 example 4: no valid timestamp, all MSG",
			line: "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
			want: Message{Format: RFC3164, Priority: 0,
				Msg: "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"},
		},
		{
			name: "missing hostname, tag with pid",
			line: "<13>Feb  5 17:32:18 myapp[123]: started",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 2, 5, 17, 32, 18, 0, cet),
				AppName: "myapp", ProcID: "123", Msg: "started"},
		},
		{
			name: "missing hostname, unpadded day",
			line: "<13>Feb 5 17:32:18 su: hi",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 2, 5, 17, 32, 18, 0, cet),
				AppName: "su", Msg: "hi"},
		},
		{
			name: "tag with pid and no colon",
			line: "<38>Mar 14 23:59:59 host sshd[42] Accepted publickey",
			want: Message{Format: RFC3164, Priority: 38, Time: time.Date(2026, 3, 14, 23, 59, 59, 0, cet),
				Hostname: "host", AppName: "sshd", ProcID: "42", Msg: "Accepted publickey"},
		},
		{
			name: "ISO timestamp with zone",
			line: "<34>2003-10-11T22:14:15.003Z mymachine su: hi",
			want: Message{Format: RFC3164, Priority: 34, Time: utc(2003, 10, 11, 22, 14, 15, 3e6),
				Hostname: "mymachine", AppName: "su", Msg: "hi"},
		},
		{
			name: "ISO timestamp without zone is local",
			line: "<34>2003-10-11T22:14:15 mymachine su: hi",
			want: Message{Format: RFC3164, Priority: 34, Time: time.Date(2003, 10, 11, 22, 14, 15, 0, cet),
				Hostname: "mymachine", AppName: "su", Msg: "hi"},
		},
		{
			name: "year in the timestamp, Cisco style",
			line: "<189>Mar 10 2019 11:22:33 router1 %LINK-3-UPDOWN: Interface up",
			want: Message{Format: RFC3164, Priority: 189, Time: time.Date(2019, 3, 10, 11, 22, 33, 0, cet),
				Hostname: "router1", AppName: "%LINK-3-UPDOWN", Msg: "Interface up"},
		},
		{
			name: "fractional seconds",
			line: "<13>Mar 14 23:59:59.123 host app: x",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 3, 14, 23, 59, 59, 123e6, cet),
				Hostname: "host", AppName: "app", Msg: "x"},
		},
		{
			name: "no timestamp, tag",
			line: "<13>myapp: hello",
			want: Message{Format: RFC3164, Priority: 13, AppName: "myapp", Msg: "hello"},
		},
		{
			name: "no timestamp, plain text",
			line: "<13>hello world",
			want: Message{Format: RFC3164, Priority: 13, Msg: "hello world"},
		},
		{
			name: "only PRI",
			line: "<13>",
			want: Message{Format: RFC3164, Priority: 13},
		},
		{
			name: "timestamp and one word: a message, not a hostname",
			line: "<13>Mar  1 10:00:00 restarting",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 3, 1, 10, 0, 0, 0, cet), Msg: "restarting"},
		},
		{
			name: "impossible date is not a timestamp",
			line: "<13>Feb 30 10:00:00 host x",
			want: Message{Format: RFC3164, Priority: 13, Msg: "Feb 30 10:00:00 host x"},
		},
		{
			name: "December read on New Year's day is last year",
			line: "<13>Dec 31 23:59:00 host app: x",
			now:  time.Date(2026, 1, 1, 0, 10, 0, 0, cet),
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2025, 12, 31, 23, 59, 0, 0, cet),
				Hostname: "host", AppName: "app", Msg: "x"},
		},
		{
			name: "a sender slightly ahead on New Year's Eve is next year",
			line: "<13>Jan  1 00:20:00 host app: x",
			now:  time.Date(2025, 12, 31, 23, 30, 0, 0, cet),
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 1, 1, 0, 20, 0, 0, cet),
				Hostname: "host", AppName: "app", Msg: "x"},
		},
		{
			name: "up to a day ahead is this year",
			line: "<13>Mar 16 11:00:00 host app: x",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2026, 3, 16, 11, 0, 0, 0, cet),
				Hostname: "host", AppName: "app", Msg: "x"},
		},
		{
			name: "more than a day ahead is last year",
			line: "<13>Mar 16 13:00:00 host app: x",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2025, 3, 16, 13, 0, 0, 0, cet),
				Hostname: "host", AppName: "app", Msg: "x"},
		},
		{
			name: "Feb 29 is the last leap year's",
			line: "<13>Feb 29 08:00:00 host app: x",
			want: Message{Format: RFC3164, Priority: 13, Time: time.Date(2024, 2, 29, 8, 0, 0, 0, cet),
				Hostname: "host", AppName: "app", Msg: "x"},
		},
		{
			name: "a time that is not a timestamp is not a tag",
			line: "<13>10:00:00 host app: x",
			want: Message{Format: RFC3164, Priority: 13, Msg: "10:00:00 host app: x"},
		},
		{
			name: "version other than 1 is BSD text",
			line: "<13>2 apples",
			want: Message{Format: RFC3164, Priority: 13, Msg: "2 apples"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			got, err := Parse(tt.line, now)
			require.NoError(t, err)
			requireMessage(t, tt.want, got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{"", "column 1: missing PRI: empty message"},
		{"hello", `column 1: missing PRI: want "<" at the start of the message, got "h"`},
		{"<999>1 - - - - - -", `column 5: invalid PRI "<999>": priority above 191`},
		{"<192>x", `column 5: invalid PRI "<192>": priority above 191`},
		{"<>x", `column 2: invalid PRI "<>": want 1 to 3 digits after "<"`},
		{"<1234>x", `column 5: invalid PRI "<1234>": more than 3 digits`},
		{"<12", `column 4: invalid PRI "<12": want ">" after the digits`},
		{"<12x>", `column 4: invalid PRI "<12x>": want ">" after the digits`},
		{"<34>1 2003-13-11T22:14:15Z h a p m -", `column 7: invalid TIMESTAMP "2003-13-11T22:14:15Z": month out of range`},
		{"<34>1 2003-02-30T22:14:15Z h a p m -", `column 7: invalid TIMESTAMP "2003-02-30T22:14:15Z": day out of range for the month`},
		{"<34>1 2003-10-11T24:14:15Z h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T24:14:15Z": hour out of range`},
		{"<34>1 2003-10-11T22:14:60Z h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T22:14:60Z": second out of range`},
		{"<34>1 2003-10-11T22:14:15 h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T22:14:15": missing time zone (Z or ±hh:mm)`},
		{"<34>1 2003-10-11T22:14:15+0200 h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T22:14:15+0200": want ±hh:mm as the time zone offset`},
		{"<34>1 2003-10-11T22:14:15.Z h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T22:14:15.Z": want digits after "."`},
		{"<34>1 2003-10-11T22:14:15.1234567890Z h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T22:14:15.1234567890Z": more than 9 fractional digits`},
		{"<34>1 2003-10-11T22:14:15ZZ h a p m -", `column 7: invalid TIMESTAMP "2003-10-11T22:14:15ZZ": unexpected "Z" after the time`},
		{"<34>1 Oct 11 22:14:15 h a p m -", `column 7: invalid TIMESTAMP "Oct": want YYYY-MM-DDThh:mm:ss[.fraction] and Z or ±hh:mm`},
		{"<34>1 ", "column 7: unexpected end of message, want TIMESTAMP"},
		{"<34>1 - host", `column 13: unexpected end of message after HOSTNAME, want " "`},
		{"<34>1 - host  app p m -", `column 14: empty APP-NAME ("-" stands for none)`},
		{"<34>1 - h\ta p m -", "column 10: invalid byte 0x09 in HOSTNAME"},
		{"<34>1 - " + strings.Repeat("h", 256) + " a p m -", "column 9: HOSTNAME longer than 255 bytes"},
		{"<34>1 - h a p m", `column 16: unexpected end of message after MSGID, want " "`},
		{"<34>1 - h a p m ", "column 17: unexpected end of message, want STRUCTURED-DATA"},
		{"<34>1 - h a p m x", `column 17: invalid STRUCTURED-DATA: want "[" or "-", got "x"`},
		{`<34>1 - h a p m [id a="1"`, `column 26: unterminated SD-ELEMENT starting at column 17, want "]"`},
		{`<34>1 - h a p m [id a=1]`, `column 23: want '"' to open the value of "a"`},
		{`<34>1 - h a p m [id a]`, `column 22: want "=" after PARAM-NAME "a"`},
		{`<34>1 - h a p m [id a="x]`, `column 23: unterminated PARAM-VALUE, want a closing '"'`},
		{`<34>1 - h a p m [id a="x\"]`, `column 23: unterminated PARAM-VALUE, want a closing '"'`},
		{`<34>1 - h a p m []`, "column 18: empty SD-ID"},
		{`<34>1 - h a p m [`, "column 18: unexpected end of message, want SD-ID"},
		{`<34>1 - h a p m [i` + "\xff" + `d]`, "column 19: invalid byte 0xff in SD-ID"},
		{`<34>1 - h a p m [id ="1"]`, "column 21: empty PARAM-NAME"},
		{`<34>1 - h a p m [id a="1"b="2"]`, `column 26: invalid SD-ELEMENT: want " " or "]", got "b"`},
		{`<34>1 - h a p m [id]x`, `column 21: want " " before MSG after STRUCTURED-DATA, got "x"`},
		{`<34>1 - h a p m -x`, `column 18: want " " before MSG after STRUCTURED-DATA, got "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Parse(tt.line, testNow)
			require.EqualError(t, err, tt.want)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			require.GreaterOrEqual(t, pe.Column, 1)
			require.LessOrEqual(t, pe.Column, len(tt.line)+1)
		})
	}
}

func TestParseErrorQuotesLongTextShort(t *testing.T) {
	line := "<34>1 " + strings.Repeat("9", 100) + " h a p m -"
	_, err := Parse(line, testNow)
	require.EqualError(t, err, `column 7: invalid TIMESTAMP "`+strings.Repeat("9", 40)+`"...: want YYYY-MM-DDThh:mm:ss[.fraction] and Z or ±hh:mm`)
}

func TestFacilityAndSeverity(t *testing.T) {
	m, err := Parse("<191>x", testNow)
	require.NoError(t, err)
	require.Equal(t, 23, m.Facility())
	require.Equal(t, 7, m.Severity())
	m, err = Parse("<0>x", testNow)
	require.NoError(t, err)
	require.Equal(t, 0, m.Facility())
	require.Equal(t, 0, m.Severity())
}

// requireMessage compares messages with times compared as instants.
func requireMessage(t *testing.T, want, got Message) {
	t.Helper()
	require.True(t, want.Time.Equal(got.Time), "time: want %v, got %v", want.Time, got.Time)
	want.Time, got.Time = time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"rfc5424", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry`},
		{"rfc3164", "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.line)))
			for b.Loop() {
				m, err := Parse(bc.line, testNow)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = toEvent(&m, bc.line, "g", "s", 0, DefaultMaxFields)
			}
		})
	}
}
