package syslog

import (
	"fmt"
	"strings"
	"time"
)

// Format is the syslog format a message was written in.
type Format uint8

// The formats Parse recognises.
const (
	// RFC3164 is the BSD syslog format and its common variants.
	RFC3164 Format = 1
	// RFC5424 is the IETF syslog protocol.
	RFC5424 Format = 2
)

// String returns the format's RFC name.
func (f Format) String() string {
	switch f {
	case RFC3164:
		return "RFC 3164"
	case RFC5424:
		return "RFC 5424"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Message is one parsed syslog message. Its strings point into the parsed
// line, except structured-data values that held escapes.
type Message struct {
	Format Format
	// Priority is PRIVAL, facility*8 + severity, between 0 and 191.
	Priority int
	// Version is the RFC 5424 VERSION (1), 0 for RFC 3164.
	Version int
	// Time is the message's timestamp, or the zero Time when it has none
	// (NILVALUE, or an RFC 3164 line without a recognised timestamp).
	Time time.Time
	// Hostname, AppName, ProcID and MsgID are empty when absent or NILVALUE.
	// RFC 3164 has no MSGID; its TAG gives AppName and the PID in brackets
	// after it ProcID.
	Hostname, AppName, ProcID, MsgID string
	// StructuredData holds the SD-ELEMENTs in the order they were sent.
	StructuredData []SDElement
	// Msg is the free-form MSG part, without the UTF-8 BOM that may start it.
	Msg string
}

// Facility returns the facility code (0 to 23).
func (m *Message) Facility() int { return m.Priority >> 3 }

// Severity returns the severity code (0 emerg to 7 debug).
func (m *Message) Severity() int { return m.Priority & 7 }

// SDElement is one RFC 5424 SD-ELEMENT: an SD-ID and its parameters.
type SDElement struct {
	ID     string
	Params []SDParam
}

// SDParam is one SD-PARAM with its value unescaped.
type SDParam struct {
	Name, Value string
}

// ParseError is why a line is not a syslog message, and where in it the
// problem was found.
type ParseError struct {
	// Column is the 1-based byte position of the problem in the line.
	Column int
	// Reason says what is wrong.
	Reason string
}

// Error returns "column N: reason".
func (e *ParseError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Reason) }

const (
	maxPriority   = 191
	maxHostname   = 255 // RFC 5424 section 6.2.4
	maxQuoted     = 40  // bytes of offending text quoted in an error
	utf8BOM       = "\xef\xbb\xbf"
	nilValue      = "-"
	maxYearsTried = 6 // enough to reach a leap year for "Feb 29"
)

// Parse parses one syslog line (without framing or line terminator),
// detecting RFC 5424 or RFC 3164. now is the time of receipt: RFC 3164
// timestamps, which carry no year and no zone, are read in now's location and
// given the year that puts them closest to now without being more than a day
// ahead of it. Parse does no I/O, keeps no state and is safe for concurrent
// use; it never panics, whatever the input.
func Parse(line string, now time.Time) (Message, error) {
	p := parser{s: line}
	var m Message
	pri, err := p.priority()
	if err != nil {
		return Message{}, err
	}
	m.Priority = pri
	if strings.HasPrefix(line[p.i:], "1 ") {
		err = p.rfc5424(&m)
	} else {
		p.rfc3164(&m, now)
	}
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

type parser struct {
	s string
	i int
}

func (p *parser) errorf(at int, format string, args ...any) error {
	return &ParseError{Column: at + 1, Reason: fmt.Sprintf(format, args...)}
}

// quote returns s for an error message, cut to a readable length.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q...", s[:maxQuoted])
	}
	return fmt.Sprintf("%q", s)
}

// priority parses PRI: "<" 1*3DIGIT ">" with a value of at most 191.
func (p *parser) priority() (int, error) {
	s := p.s
	if len(s) == 0 {
		return 0, p.errorf(0, "missing PRI: empty message")
	}
	if s[0] != '<' {
		return 0, p.errorf(0, "missing PRI: want \"<\" at the start of the message, got %s", quote(s[:1]))
	}
	i, v := 1, 0
	for i < len(s) && i <= 4 && isDigit(s[i]) {
		v = v*10 + int(s[i]-'0')
		i++
	}
	switch {
	case i == 1:
		return 0, p.errorf(1, "invalid PRI %s: want 1 to 3 digits after \"<\"", quote(priText(s)))
	case i > 4:
		return 0, p.errorf(4, "invalid PRI %s: more than 3 digits", quote(priText(s)))
	case i == len(s) || s[i] != '>':
		return 0, p.errorf(i, "invalid PRI %s: want \">\" after the digits", quote(priText(s)))
	case v > maxPriority:
		return 0, p.errorf(i, "invalid PRI %s: priority above %d", quote(s[:i+1]), maxPriority)
	}
	p.i = i + 1
	return v, nil
}

// priText is the start of s that a PRI error quotes: up to ">" when it comes
// soon, else a few bytes.
func priText(s string) string {
	if end := strings.IndexByte(s[:min(len(s), 8)], '>'); end >= 0 {
		return s[:end+1]
	}
	return s[:min(len(s), 5)]
}

// rfc5424 parses what follows PRI in an RFC 5424 line:
// VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
// STRUCTURED-DATA [SP MSG].
func (p *parser) rfc5424(m *Message) error {
	m.Format, m.Version = RFC5424, 1
	p.i += 2 // "1 "

	start := p.i
	ts, err := p.headerField("TIMESTAMP")
	if err != nil {
		return err
	}
	if ts != nilValue {
		t, n, reason := parseISOTime(ts, nil)
		if reason == "" && n != len(ts) {
			reason = fmt.Sprintf("unexpected %s after the time", quote(ts[n:]))
		}
		if reason != "" {
			return p.errorf(start, "invalid TIMESTAMP %s: %s", quote(ts), reason)
		}
		m.Time = t
	}
	start = p.i
	if m.Hostname, err = p.headerField("HOSTNAME"); err != nil {
		return err
	}
	if len(m.Hostname) > maxHostname {
		return p.errorf(start, "HOSTNAME longer than %d bytes", maxHostname)
	}
	if m.AppName, err = p.headerField("APP-NAME"); err != nil {
		return err
	}
	if m.ProcID, err = p.headerField("PROCID"); err != nil {
		return err
	}
	if m.MsgID, err = p.headerField("MSGID"); err != nil {
		return err
	}
	m.Hostname, m.AppName = orNil(m.Hostname), orNil(m.AppName)
	m.ProcID, m.MsgID = orNil(m.ProcID), orNil(m.MsgID)
	if err := p.structuredData(m); err != nil {
		return err
	}
	if p.i < len(p.s) {
		m.Msg = strings.TrimPrefix(p.s[p.i:], utf8BOM)
	}
	return nil
}

func orNil(s string) string {
	if s == nilValue {
		return ""
	}
	return s
}

// headerField reads one header field and the space after it. Every header
// field is followed by a space: structured data comes last.
func (p *parser) headerField(name string) (string, error) {
	s, start := p.s, p.i
	if start >= len(s) {
		return "", p.errorf(start, "unexpected end of message, want %s", name)
	}
	i := start
	for i < len(s) && s[i] != ' ' {
		if c := s[i]; c < ' ' || c == 0x7f {
			return "", p.errorf(i, "invalid byte 0x%02x in %s", c, name)
		}
		i++
	}
	if i == start {
		return "", p.errorf(start, "empty %s (%q stands for none)", name, nilValue)
	}
	if i == len(s) {
		return "", p.errorf(i, "unexpected end of message after %s, want \" \"", name)
	}
	p.i = i + 1
	return s[start:i], nil
}

// structuredData parses STRUCTURED-DATA and the space that may follow it;
// p.i is left at the start of MSG.
func (p *parser) structuredData(m *Message) error {
	s := p.s
	if p.i >= len(s) {
		return p.errorf(p.i, "unexpected end of message, want STRUCTURED-DATA")
	}
	switch s[p.i] {
	case '-':
		p.i++
	case '[':
		for p.i < len(s) && s[p.i] == '[' {
			if err := p.sdElement(m); err != nil {
				return err
			}
		}
	default:
		return p.errorf(p.i, "invalid STRUCTURED-DATA: want \"[\" or %q, got %s", nilValue, quote(s[p.i:p.i+1]))
	}
	if p.i < len(s) {
		if s[p.i] != ' ' {
			return p.errorf(p.i, "want \" \" before MSG after STRUCTURED-DATA, got %s", quote(s[p.i:p.i+1]))
		}
		p.i++
	}
	return nil
}

// sdElement parses "[" SD-ID *(SP SD-PARAM) "]".
func (p *parser) sdElement(m *Message) error {
	s := p.s
	open := p.i
	p.i++ // "["
	id, err := p.sdName("SD-ID")
	if err != nil {
		return err
	}
	el := SDElement{ID: id}
	for {
		if p.i >= len(s) {
			return p.errorf(p.i, "unterminated SD-ELEMENT starting at column %d, want \"]\"", open+1)
		}
		switch s[p.i] {
		case ']':
			p.i++
			m.StructuredData = append(m.StructuredData, el)
			return nil
		case ' ':
			p.i++
		default:
			return p.errorf(p.i, "invalid SD-ELEMENT: want \" \" or \"]\", got %s", quote(s[p.i:p.i+1]))
		}
		name, err := p.sdName("PARAM-NAME")
		if err != nil {
			return err
		}
		if p.i >= len(s) || s[p.i] != '=' {
			return p.errorf(p.i, "want \"=\" after PARAM-NAME %s", quote(name))
		}
		p.i++
		if p.i >= len(s) || s[p.i] != '"' {
			return p.errorf(p.i, "want '\"' to open the value of %s", quote(name))
		}
		p.i++
		value, err := p.paramValue()
		if err != nil {
			return err
		}
		el.Params = append(el.Params, SDParam{Name: name, Value: value})
	}
}

// sdName reads an SD-NAME: printable US-ASCII except '=', ' ', ']' and '"'.
func (p *parser) sdName(what string) (string, error) {
	s, start := p.s, p.i
	i := start
	for i < len(s) {
		c := s[i]
		if c == '=' || c == ' ' || c == ']' || c == '"' {
			break
		}
		if c < '!' || c > '~' {
			return "", p.errorf(i, "invalid byte 0x%02x in %s", c, what)
		}
		i++
	}
	if i == start {
		if i >= len(s) {
			return "", p.errorf(i, "unexpected end of message, want %s", what)
		}
		return "", p.errorf(i, "empty %s", what)
	}
	p.i = i
	return s[start:i], nil
}

// paramValue reads a PARAM-VALUE up to its closing quote, which it consumes,
// and unescapes '\"', '\\' and '\]'. As RFC 5424 section 6.3.3 says, a
// backslash before any other character is kept as it is.
func (p *parser) paramValue() (string, error) {
	s, start := p.s, p.i
	var b []byte // nil until an escape is met
	seg := start
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '"':
			p.i = i + 1
			if b == nil {
				return s[start:i], nil
			}
			return string(append(b, s[seg:i]...)), nil
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\' || s[i+1] == ']') {
				if b == nil {
					b = make([]byte, 0, i-start+16)
				}
				b = append(b, s[seg:i]...)
				seg = i + 1 // keep the escaped character
				i++
			}
		}
	}
	return "", p.errorf(start-1, "unterminated PARAM-VALUE, want a closing '\"'")
}

// rfc3164 parses what follows PRI in a BSD syslog line:
// [TIMESTAMP SP [HOSTNAME SP]] [TAG] MSG. Nothing in it is an error: text
// that is not a timestamp, hostname or tag belongs to MSG.
func (p *parser) rfc3164(m *Message, now time.Time) {
	m.Format = RFC3164
	rest := p.s[p.i:]
	if t, n, ok := parseBSDTime(rest, now); ok {
		m.Time = t
		rest = rest[n:]
		if len(rest) > 0 { // parseBSDTime ensures a space follows
			rest = rest[1:]
		}
		if sp := strings.IndexByte(rest, ' '); sp > 0 && isHostname(rest[:sp]) {
			m.Hostname, rest = rest[:sp], rest[sp+1:]
		}
	}
	m.AppName, m.ProcID, m.Msg = splitTag(rest)
}

// isHostname reports whether a token after an RFC 3164 timestamp is a
// hostname rather than a TAG: printable ASCII, not ending with ":" and
// without "[" (which make it look like "name:" or "name[pid]:").
func isHostname(tok string) bool {
	if len(tok) > maxHostname || tok[len(tok)-1] == ':' {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < '!' || c > '~' || c == '[' {
			return false
		}
	}
	return true
}

// splitTag splits "name[pid]: msg", "name: msg" or "name[pid] msg" into its
// parts. Text that has none of these forms is all MSG: RFC 3164 calls the
// first word the TAG, but in "Use the BFG!" (its own example) no program
// is named. A name does not start with a digit, so that a time of day or a
// timestamp that was not recognised ("10:00:00 ...") is not taken for one.
func splitTag(s string) (app, pid, msg string) {
	if len(s) == 0 || isDigit(s[0]) {
		return "", "", s
	}
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '[' || c == ':' || c <= ' ' || c == 0x7f {
			break
		}
		i++
	}
	if i == 0 || i == len(s) {
		return "", "", s
	}
	j := i
	if s[j] == '[' {
		end := strings.IndexByte(s[j:], ']')
		if end < 0 || strings.ContainsAny(s[j:j+end], " \t") {
			return "", "", s
		}
		pid = s[j+1 : j+end]
		j += end + 1
	}
	switch {
	case j < len(s) && s[j] == ':':
		j++
	case pid != "" && (j == len(s) || s[j] == ' '):
	default:
		return "", "", s
	}
	if j < len(s) && s[j] == ' ' {
		j++
	}
	return s[:i], pid, s[j:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
