package event

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// ParserOptions tune how lines become events.
type ParserOptions struct {
	// MaxFields caps the discovered fields per event (default 200). The rest
	// stay only in @message.
	MaxFields int
	// TimeFields are the top-level fields that give @timestamp, in order of
	// preference (default DefaultTimeFields).
	TimeFields []string
	// MaxDepth caps JSON nesting (default 64).
	MaxDepth int
}

// SyntaxError is a line that looks like JSON but is not.
type SyntaxError struct {
	Offset int // byte offset in the line, from 0
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at column %d: %s", e.Offset+1, e.Msg)
}

// Parser turns log lines into events. A Parser is not safe for concurrent
// use; make one per goroutine. Events it returns hold substrings of the line
// and share field storage with each other, so the line and the events must
// not be modified afterwards.
type Parser struct {
	opts   ParserOptions
	shapes *Shapes

	// Per-line state.
	s        string
	i        int
	tpl      []byte // the shape key being built
	path     []byte // the flattened name prefix being built
	start    int    // first field of the current event in arena
	overflow int    // leaves beyond MaxFields
	exact    bool   // the line can be rebuilt from fields and shape
	timeIdx  int    // index in arena of the field that gives @timestamp
	timeRank int    // its rank in TimeFields (lower wins)
	timeKind int    // offset in tpl of that field's kind byte
	seq      uint32

	val     Value                 // the value of the leaf being parsed
	arena   []Field               // the chunk fields are appended to
	retired int                   // fields in chunks replaced since the last Reset
	escaped bool                  // a string of the current line holds a character JSON escapes
	names   map[string]*nameEntry // interned field names
	scratch []byte

	// Lines of one source mostly share their layout: the names met at each
	// leaf position of the previous line, and its shape, are tried before
	// the maps.
	prevNames []*nameEntry
	leafIdx   int
	prevTpl   []byte
	prevShape *Shape
}

// nameEntry is an interned field name and the last line it was seen in,
// which finds duplicate keys with the same map lookup that interns.
type nameEntry struct {
	name string
	seq  uint32
}

// NewParser returns a Parser that interns shapes in shapes.
func NewParser(shapes *Shapes, opts ParserOptions) *Parser {
	if opts.MaxFields <= 0 {
		opts.MaxFields = 200
	}
	if len(opts.TimeFields) == 0 {
		opts.TimeFields = DefaultTimeFields
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 64
	}
	return &Parser{
		opts:   opts,
		shapes: shapes,
		names:  make(map[string]*nameEntry),
	}
}

// Result tells what Parse kept of a line.
type Result struct {
	// Truncated counts fields beyond MaxFields, kept only in @message.
	Truncated int
}

// Parse decodes one line into ev (Group and Stream are left as they are).
// Lines holding a JSON object are flattened; others are plain text, with the
// fields of AWS Lambda platform lines discovered as CloudWatch does. now is
// the @timestamp of lines that carry none. An error means the line looked
// like a JSON object but was not one; ev is then unusable.
func (p *Parser) Parse(line string, now int64, ev *Event) (Result, error) {
	line = strings.TrimRight(line, "\r")
	// Invalid UTF-8 is replaced once, for the line and every value cut from
	// it; such a line keeps its (repaired) text rather than being rebuilt.
	valid := utf8.ValidString(line)
	if !valid {
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	ev.Time = now
	ev.Shape = nil
	ev.Fields = nil
	ev.PlainStrings = false
	ev.Message = line
	j := skipWS(line, 0)
	if j < len(line) && line[j] == '{' {
		res, err := p.parseJSON(line, ev)
		if !valid {
			ev.Shape = nil
		}
		return res, err
	}
	p.startEvent(line)
	parseLambda(p, line)
	ev.Fields = p.finishFields()
	return Result{}, nil
}

// ParseJSONValue decodes one element of a JSON array body: an object becomes
// a JSON event, a string a plain-text event.
func (p *Parser) ParseJSONValue(elem string, now int64, ev *Event) (Result, error) {
	j := skipWS(elem, 0)
	if j < len(elem) && elem[j] == '"' {
		p.startEvent(elem)
		p.i = j
		s, err := p.parseString()
		if err != nil {
			return Result{}, err
		}
		if p.i = skipWS(elem, p.i); p.i != len(elem) {
			return Result{}, p.errorf("unexpected text after string")
		}
		return p.Parse(s, now, ev)
	}
	if j < len(elem) && elem[j] == '{' {
		return p.Parse(elem, now, ev)
	}
	return Result{}, &SyntaxError{Offset: j, Msg: "array element is neither an object nor a string"}
}

func (p *Parser) startEvent(s string) {
	p.s, p.i = s, 0
	p.tpl = p.tpl[:0]
	p.path = p.path[:0]
	p.overflow = 0
	p.exact = true
	p.timeIdx, p.timeRank = -1, len(p.opts.TimeFields)
	p.seq++
	if p.seq == 0 { // wrapped: forget old marks
		for _, e := range p.names {
			e.seq = 0
		}
		p.seq = 1
	}
	p.leafIdx = 0
	p.escaped = false
	if cap(p.arena)-len(p.arena) < 64 {
		p.retired += len(p.arena)
		p.arena = make([]Field, 0, chunkFields)
	}
	p.start = len(p.arena)
}

// chunkFields is the size of a new field chunk; maxReuseFields caps the
// chunk a parser keeps across Reset (about 56 MB).
const (
	chunkFields    = 4096
	maxReuseFields = 1 << 20
)

// Reset lets the parser reuse the memory of the fields of every event it
// returned so far: call it once none of those events is used any more. The
// next events then fill the same chunk, sized to hold as many fields as
// were handed out since the previous Reset, so a caller that parses bodies
// of similar size allocates nothing for fields in the steady state.
//
// The reused chunk still points at the strings of the old events until it
// is overwritten; they stay reachable that long.
func (p *Parser) Reset() {
	used := p.retired + len(p.arena)
	p.retired, p.start = 0, 0
	switch {
	case used > maxReuseFields:
		p.arena = nil
	case used > cap(p.arena):
		p.arena = make([]Field, 0, used+used/8)
	default:
		p.arena = p.arena[:0]
	}
}

func (p *Parser) finishFields() []Field {
	if len(p.arena) == p.start {
		return nil
	}
	f := p.arena[p.start:len(p.arena):len(p.arena)]
	return f
}

func (p *Parser) parseJSON(line string, ev *Event) (Result, error) {
	p.startEvent(line)
	p.i = skipWS(line, 0)
	if err := p.object(0, 0); err != nil {
		p.arena = p.arena[:p.start]
		return Result{}, err
	}
	if p.i = skipWS(line, p.i); p.i != len(line) {
		p.arena = p.arena[:p.start]
		return Result{}, p.errorf("unexpected text after the JSON object")
	}
	p.applyTime(ev)
	ev.Fields = p.finishFields()
	ev.PlainStrings = !p.escaped
	if p.exact && p.overflow == 0 && p.shapes != nil {
		if p.prevShape != nil && string(p.tpl) == string(p.prevTpl) {
			ev.Shape = p.prevShape
		} else {
			ev.Shape = p.shapes.Intern(p.tpl)
			p.prevTpl = append(p.prevTpl[:0], p.tpl...)
			p.prevShape = ev.Shape
		}
	}
	return Result{Truncated: p.overflow}, nil
}

func (p *Parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.i, Msg: fmt.Sprintf(format, args...)}
}

func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// object parses {...} at p.i. pathLen is the length of the name prefix in
// p.path (0 at top level).
func (p *Parser) object(depth, pathLen int) error {
	if depth >= p.opts.MaxDepth {
		return p.errorf("nesting deeper than %d", p.opts.MaxDepth)
	}
	p.i++ // '{'
	p.tpl = append(p.tpl, '{')
	p.i = skipWS(p.s, p.i)
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.tpl = append(p.tpl, '}')
		return nil
	}
	for first := true; ; first = false {
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return p.errorf("expected a quoted key")
		}
		keyStart := p.i
		key, err := p.parseString()
		if err != nil {
			return err
		}
		if !first {
			p.tpl = append(p.tpl, ',')
		}
		if p.i-len(key) == keyStart+2 {
			// The key is the line's text between the quotes: no escapes,
			// so nothing to escape either.
			p.tpl = append(append(append(p.tpl, '"'), key...), '"')
		} else {
			p.tpl = appendQuoted(p.tpl, key)
		}
		p.tpl = append(p.tpl, ':')
		p.i = skipWS(p.s, p.i)
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return p.errorf("expected ':' after key")
		}
		p.i = skipWS(p.s, p.i+1)
		p.path = p.path[:pathLen]
		if pathLen > 0 {
			p.path = append(p.path, '.')
		} else if strings.HasPrefix(key, "@") {
			// CloudWatch shows a discovered field starting with @ with one
			// more @, so that it never hides a system field.
			p.path = append(p.path, '@')
		}
		p.path = append(p.path, key...)
		rank := -1
		if depth == 0 {
			rank = p.timeRankOf(key)
		}
		if err := p.value(depth, len(p.path), rank); err != nil {
			return err
		}
		p.i = skipWS(p.s, p.i)
		if p.i >= len(p.s) {
			return p.errorf("unexpected end of line in object")
		}
		switch p.s[p.i] {
		case ',':
			p.i = skipWS(p.s, p.i+1)
		case '}':
			p.i++
			p.tpl = append(p.tpl, '}')
			return nil
		default:
			return p.errorf("expected ',' or '}' in object")
		}
	}
}

func (p *Parser) array(depth, pathLen int) error {
	if depth >= p.opts.MaxDepth {
		return p.errorf("nesting deeper than %d", p.opts.MaxDepth)
	}
	p.i++ // '['
	p.tpl = append(p.tpl, '[')
	p.i = skipWS(p.s, p.i)
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.tpl = append(p.tpl, ']')
		return nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			p.tpl = append(p.tpl, ',')
		}
		p.path = append(p.path[:pathLen], '.')
		p.path = strconv.AppendInt(p.path, int64(n), 10)
		if err := p.value(depth, len(p.path), -1); err != nil {
			return err
		}
		p.i = skipWS(p.s, p.i)
		if p.i >= len(p.s) {
			return p.errorf("unexpected end of line in array")
		}
		switch p.s[p.i] {
		case ',':
			p.i = skipWS(p.s, p.i+1)
		case ']':
			p.i++
			p.tpl = append(p.tpl, ']')
			return nil
		default:
			return p.errorf("expected ',' or ']' in array")
		}
	}
}

// value parses the value of the field named p.path[:pathLen]. timeRank is its
// rank among the time fields, or -1.
func (p *Parser) value(depth, pathLen, timeRank int) error {
	if p.i >= len(p.s) {
		return p.errorf("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth+1, pathLen)
	case c == '[':
		return p.array(depth+1, pathLen)
	case c == '"':
		s, err := p.parseString()
		if err != nil {
			return err
		}
		setTypedString(&p.val, s)
		p.leaf(timeRank)
	case c == '-' || (c >= '0' && c <= '9'):
		text, isInt, err := p.parseNumber()
		if err != nil {
			return err
		}
		p.setNumber(text, isInt)
		p.leaf(timeRank)
	case c == 't':
		if !strings.HasPrefix(p.s[p.i:], "true") {
			return p.errorf("invalid literal")
		}
		p.i += 4
		p.val = Bool(true)
		p.leaf(-1)
	case c == 'f':
		if !strings.HasPrefix(p.s[p.i:], "false") {
			return p.errorf("invalid literal")
		}
		p.i += 5
		p.val = Bool(false)
		p.leaf(-1)
	case c == 'n':
		if !strings.HasPrefix(p.s[p.i:], "null") {
			return p.errorf("invalid literal")
		}
		p.i += 4
		p.tpl = append(p.tpl, "null"...)
	default:
		return p.errorf("unexpected character %q", c)
	}
	return nil
}

// setNumber types a JSON number into p.val.
func (p *Parser) setNumber(text string, isInt bool) {
	v := &p.val
	if isInt {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			v.Kind, v.Str, v.X, v.Y = KindInt, "", uint64(i), 0
			return
		}
	}
	if f, ok := parseDecimal(text); ok {
		v.Kind, v.Str, v.X, v.Y = KindFloat, "", math.Float64bits(f), 0
		return
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		// Out of range for a double: keep the text, and the raw line.
		p.exact = false
		v.Kind, v.Str, v.X, v.Y = KindString, text, 0, 0
		return
	}
	v.Kind, v.Str, v.X, v.Y = KindFloat, "", math.Float64bits(f), 0
}

// parseDecimal parses a number like 492.62 (an optional minus, at most 15
// digits, an optional point, no exponent) to the same double as
// strconv.ParseFloat, in a fraction of its time: the digits and the power
// of ten are exact doubles, so one division rounds correctly (Clinger's
// fast path, which strconv also ends in). Latencies are in most lines.
func parseDecimal(s string) (float64, bool) {
	i, neg := 0, false
	if len(s) > 0 && s[0] == '-' {
		i, neg = 1, true
	}
	var m uint64
	digits, scale, point := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
			if point {
				scale++
			}
		case c == '.' && !point:
			point = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m) / pow10[scale]
	if neg {
		f = -f
	}
	return f, true
}

// pow10 are the powers of ten that parseDecimal divides by.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// leaf records a scalar field named p.path, whose value is in p.val.
func (p *Parser) leaf(timeRank int) {
	if len(p.arena)-p.start >= p.opts.MaxFields {
		p.overflow++
		return
	}
	var e *nameEntry
	if k := p.leafIdx; k < len(p.prevNames) && p.prevNames[k].name == string(p.path) {
		e = p.prevNames[k]
	} else {
		e = p.intern(p.path)
		if k < len(p.prevNames) {
			p.prevNames[k] = e
		} else {
			p.prevNames = append(p.prevNames, e)
		}
	}
	p.leafIdx++
	if e.seq == p.seq {
		// Duplicate key, or "a.b" next to {"a":{"b"}}: keep the first value
		// as the field and the raw line for the rest.
		p.exact = false
		return
	}
	e.seq = p.seq
	name := e.name
	if timeRank >= 0 && timeRank < p.timeRank {
		p.timeRank, p.timeIdx = timeRank, len(p.arena)
		p.timeKind = len(p.tpl) + 1
	}
	p.tpl = appendSlotKey(p.tpl, name, p.val.Kind)
	p.add(name, &p.val)
}

// addValue appends a field to the current event.
func (p *Parser) addValue(name string, v Value) { p.add(name, &v) }

// add appends a field to the current event, keeping its fields contiguous.
// It copies the value member by member: a Value just written to memory and
// copied whole is read back in 16-byte words that straddle how it was
// written, which stalls the CPU's store forwarding (values are built in
// p.val for that reason, too).
func (p *Parser) add(name string, v *Value) {
	if len(p.arena) == cap(p.arena) {
		p.retired += p.start
		grown := make([]Field, 0, max(chunkFields, 2*(len(p.arena)-p.start)))
		grown = append(grown, p.arena[p.start:]...)
		if p.timeIdx >= p.start {
			p.timeIdx -= p.start
		}
		p.arena, p.start = grown, 0
	}
	n := len(p.arena)
	p.arena = p.arena[:n+1]
	f := &p.arena[n]
	f.Name = name
	f.Kind, f.Str, f.X, f.Y = v.Kind, v.Str, v.X, v.Y
}

func (p *Parser) intern(b []byte) *nameEntry {
	if e, ok := p.names[string(b)]; ok {
		return e
	}
	e := &nameEntry{name: string(b)}
	if len(p.names) < 8192 {
		p.names[e.name] = e
	} else {
		// Past the cap names are not interned, and duplicates of them are
		// not detected within a line; mark the line inexact to stay safe.
		p.exact = false
	}
	return e
}

func (p *Parser) timeRankOf(key string) int {
	for r, f := range p.opts.TimeFields {
		if f == key {
			return r
		}
	}
	return -1
}

// applyTime sets ev.Time from the time field, and stores that field as
// KindTime when its text can be rebuilt from ev.Time.
func (p *Parser) applyTime(ev *Event) {
	if p.timeIdx < 0 {
		return
	}
	f := &p.arena[p.timeIdx]
	var (
		ms     int64
		layout TimeLayout
		ok     bool
		text   string
	)
	switch f.Kind {
	case KindString:
		text = f.Str
		ms, layout, ok = ParseTimeText(text)
	case KindInt:
		ms, layout, ok = ParseTimeNumber("", true, f.Int(), 0)
		p.scratch = strconv.AppendInt(p.scratch[:0], f.Int(), 10)
		text = string(p.scratch) // small; only for number timestamps
	case KindFloat:
		ms, layout, ok = ParseTimeNumber("", false, 0, f.Float())
	}
	if !ok {
		return
	}
	ev.Time = ms
	if layout == 0 {
		return
	}
	// ParseTimeText returns a layout only for text that the layout writes
	// back exactly; a number is checked.
	if f.Kind != KindString {
		p.scratch = layout.Append(p.scratch[:0], ms)
	}
	if f.Kind == KindString || string(p.scratch) == text {
		f.Value = Value{Kind: KindTime, X: uint64(layout)}
		p.tpl[p.timeKind] = byte(KindTime)
	}
}

// parseString parses a JSON string at p.i and returns its value. Strings
// without escapes are substrings of the line.
func (p *Parser) parseString() (string, error) {
	start := p.i + 1
	i := start + stringSpan(p.s[start:])
	if i >= len(p.s) {
		p.i = len(p.s)
		return "", p.errorf("unterminated string")
	}
	switch p.s[i] {
	case '"':
		p.i = i + 1
		return p.s[start:i], nil
	case '\\':
		return p.parseEscaped(start)
	}
	p.i = i
	return "", p.errorf("control character in string")
}

// stringSpan returns the length of the prefix of s that a JSON string holds
// as it is (see plainByte). It tests eight bytes at a time, with the "has
// zero byte" and "has less than" tests of Bit Twiddling Hacks: the lowest
// flagged byte of a word is exact, which is the only one used. Strings are
// most of the bytes of a log line.
func stringSpan(s string) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	if len(s) >= 8 {
		b := unsafe.Slice(unsafe.StringData(s), len(s))
		for ; i+8 <= len(b); i += 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ (ones * '"')
			bs := x ^ (ones * '\\')
			if m := ((x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs; m != 0 {
				return i + bits.TrailingZeros64(m)/8
			}
		}
	}
	for i < len(s) && plainByte[s[i]] {
		i++
	}
	return i
}

func (p *Parser) parseEscaped(start int) (string, error) {
	var b strings.Builder
	i := start
	for i < len(p.s) {
		c := p.s[i]
		switch {
		case c == '"':
			p.i = i + 1
			out := b.String()
			if !p.escaped && HasJSONEscape(out) {
				p.escaped = true
			}
			return out, nil
		case c < 0x20:
			p.i = i
			return "", p.errorf("control character in string")
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(p.s) {
			break
		}
		switch e := p.s[i+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, n := p.unicodeEscape(i)
			if n == 0 {
				p.i = i
				return "", p.errorf("invalid \\u escape")
			}
			b.WriteRune(r)
			i += n
			continue
		default:
			p.i = i
			return "", p.errorf("invalid escape \\%c", e)
		}
		i += 2
	}
	p.i = len(p.s)
	return "", p.errorf("unterminated string")
}

// unicodeEscape decodes \uXXXX (and a following low surrogate) at i. It
// returns the rune and the bytes consumed, or n == 0 when malformed.
func (p *Parser) unicodeEscape(i int) (rune, int) {
	r1, ok := hex4(p.s, i+2)
	if !ok {
		return 0, 0
	}
	if r1 >= 0xD800 && r1 < 0xDC00 {
		if i+12 <= len(p.s) && p.s[i+6] == '\\' && p.s[i+7] == 'u' {
			if r2, ok := hex4(p.s, i+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
				return (r1-0xD800)<<10 + (r2 - 0xDC00) + 0x10000, 12
			}
		}
		p.exact = false // lone surrogate: replaced
		return utf8.RuneError, 6
	}
	if r1 >= 0xDC00 && r1 < 0xE000 {
		p.exact = false
		return utf8.RuneError, 6
	}
	return r1, 6
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// parseNumber checks the JSON number grammar at p.i.
func (p *Parser) parseNumber() (text string, isInt bool, err error) {
	s, start := p.s, p.i
	i := start
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		p.i = i
		return "", false, p.errorf("invalid number")
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		p.i = i
		return "", false, p.errorf("invalid number")
	}
	isInt = true
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			p.i = i
			return "", false, p.errorf("invalid number: no digits after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			p.i = i
			return "", false, p.errorf("invalid number: no digits in exponent")
		}
	}
	p.i = i
	return s[start:i], isInt, nil
}

// appendQuoted writes s as a JSON string with minimal escaping: quote,
// backslash and control characters only, as DuckDB's to_json does.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	plain := stringSpan(s)
	dst = append(dst, s[:plain]...)
	for i := plain; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigit(c>>4), hexDigit(c&15))
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// AppendQuoted writes s as a JSON string the way shapes and rebuilt
// messages spell strings.
func AppendQuoted(dst []byte, s string) []byte { return appendQuoted(dst, s) }

// plainByte marks the bytes that a JSON string holds as they are: all but
// the quote, the backslash and control characters.
var plainByte = func() (t [256]bool) {
	for i := range t {
		t[i] = i >= 0x20 && i != '"' && i != '\\'
	}
	return t
}()

// HasJSONEscape reports whether s holds a byte that JSON must escape: a
// quote, a backslash or a control character.
func HasJSONEscape(s string) bool { return stringSpan(s) < len(s) }

func hexDigit(b byte) byte { return "0123456789ABCDEF"[b] }

// SplitJSONArray returns the elements of a JSON array body as substrings,
// without decoding them. It fails on the first malformed element.
func SplitJSONArray(body string) ([]string, error) {
	p := &Parser{s: body, opts: ParserOptions{MaxDepth: 64}}
	p.i = skipWS(body, 0)
	if p.i >= len(body) || body[p.i] != '[' {
		return nil, p.errorf("expected '['")
	}
	p.i = skipWS(body, p.i+1)
	var elems []string
	if p.i < len(body) && body[p.i] == ']' {
		p.i = skipWS(body, p.i+1)
		if p.i != len(body) {
			return nil, p.errorf("unexpected text after the array")
		}
		return elems, nil
	}
	for {
		start := p.i
		if err := p.skipValue(0); err != nil {
			return elems, err
		}
		elems = append(elems, body[start:p.i])
		p.i = skipWS(body, p.i)
		if p.i >= len(body) {
			return elems, p.errorf("unexpected end of array")
		}
		if body[p.i] == ']' {
			p.i = skipWS(body, p.i+1)
			if p.i != len(body) {
				return elems, p.errorf("unexpected text after the array")
			}
			return elems, nil
		}
		if body[p.i] != ',' {
			return elems, p.errorf("expected ',' or ']' in array")
		}
		p.i = skipWS(body, p.i+1)
	}
}

// skipValue moves p.i past one JSON value, checking its syntax.
func (p *Parser) skipValue(depth int) error {
	if depth >= p.opts.MaxDepth {
		return p.errorf("nesting deeper than %d", p.opts.MaxDepth)
	}
	if p.i >= len(p.s) {
		return p.errorf("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		p.i = skipWS(p.s, p.i+1)
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			return nil
		}
		for {
			if c == '{' {
				if p.i >= len(p.s) || p.s[p.i] != '"' {
					return p.errorf("expected a quoted key")
				}
				if _, err := p.parseString(); err != nil {
					return err
				}
				p.i = skipWS(p.s, p.i)
				if p.i >= len(p.s) || p.s[p.i] != ':' {
					return p.errorf("expected ':' after key")
				}
				p.i = skipWS(p.s, p.i+1)
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.i = skipWS(p.s, p.i)
			if p.i >= len(p.s) {
				return p.errorf("unexpected end of input")
			}
			if p.s[p.i] == closer {
				p.i++
				return nil
			}
			if p.s[p.i] != ',' {
				return p.errorf("expected ',' or %q", closer)
			}
			p.i = skipWS(p.s, p.i+1)
		}
	case c == '"':
		_, err := p.parseString()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := p.parseNumber()
		return err
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
	case strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
	default:
		return p.errorf("unexpected character %q", c)
	}
	return nil
}
