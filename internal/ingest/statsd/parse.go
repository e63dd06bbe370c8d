package statsd

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// Type is a statsd metric type.
type Type uint8

// The metric types of the statsd and DogStatsD line protocols.
const (
	// Counter ("c") adds value/rate to a count.
	Counter Type = iota + 1
	// Gauge ("g") sets a value, or moves it when the value has a sign.
	Gauge
	// Timer ("ms") observes a duration in milliseconds.
	Timer
	// Histogram ("h", DogStatsD) observes a value; it is aggregated like
	// a timer but not scaled.
	Histogram
	// Distribution ("d", DogStatsD) is aggregated like Histogram.
	Distribution
	// Set ("s") counts the unique values seen in a flush interval.
	Set
)

// String returns the type as written on the wire ("c", "g", "ms", "h",
// "d", "s").
func (t Type) String() string {
	switch t {
	case Counter:
		return "c"
	case Gauge:
		return "g"
	case Timer:
		return "ms"
	case Histogram:
		return "h"
	case Distribution:
		return "d"
	case Set:
		return "s"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// observer reports whether values of the type are aggregated into
// distributions (ms, h, d).
func (t Type) observer() bool { return t == Timer || t == Histogram || t == Distribution }

// Sample is one value of a statsd line. Its byte slices point into the
// line given to Parser.Reset and must not be retained after the line is
// reused.
type Sample struct {
	// Name is the bucket as sent, never empty.
	Name []byte
	// Type is the metric type.
	Type Type
	// Value is the numeric value, finite; 1 for a counter sent without a
	// value; 0 for sets.
	Value float64
	// SetValue is the member of a set, never empty for sets.
	SetValue []byte
	// Delta is true for a gauge value with a leading sign: it moves the
	// gauge instead of setting it.
	Delta bool
	// Rate is the sample rate, 1 when the line has none; it is kept as
	// sent for every type and only counters and observers use it.
	Rate float64
	// Tags is the DogStatsD tag list after "#" ("k:v,k2:v2"), or empty.
	Tags []byte
	// Container is the DogStatsD container ID ("|c:ID"), or empty.
	Container []byte
}

// ParseError is why a statsd line, or a part of it, was rejected, and
// where in the line the problem was found.
type ParseError struct {
	// Column is the 1-based byte position of the problem in the line.
	Column int
	// Reason says what is wrong.
	Reason string
	// Unsupported is true for valid DogStatsD datagrams that are not
	// metrics: events ("_e{") and service checks ("_sc|").
	Unsupported bool
}

// Error returns "column N: reason".
func (e *ParseError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Reason) }

// Parser splits statsd lines into samples without allocating. A line
//
//	<name>:<values>|<type>[|@<rate>][|#<tags>][|c:<container>][|T<ts>][|e:<env>][|card:<card>]
//
// holds one or more samples: etsy statsd allows several after the name
// ("glork:320|ms:330|ms") and DogStatsD packs several values of a ms, h or
// d sample into one ("latency:1:2:3|d"). Next yields them one by one; a
// malformed sample ends the line, and the samples before it stand. The
// zero Parser is ready for Reset. A Parser must not be used concurrently.
type Parser struct {
	line  []byte
	pos   int // where the next sample starts
	smp   Sample
	vals  []byte // packed values of the current sample still to yield
	voff  int    // offset of vals in line
	first bool   // Next has not been called since Reset
	err   *ParseError
	done  bool
}

// Reset starts parsing line, which must not hold a newline.
func (p *Parser) Reset(line []byte) {
	*p = Parser{line: line, first: true}
}

// Sample returns the sample found by the last successful Next. It is
// overwritten by the next call.
func (p *Parser) Sample() *Sample { return &p.smp }

// Err returns why the line was rejected, or nil. It is a *ParseError.
func (p *Parser) Err() error {
	if p.err == nil {
		return nil
	}
	return p.err
}

func (p *Parser) fail(at int, unsupported bool, format string, args ...any) bool {
	p.err = &ParseError{Column: at + 1, Reason: fmt.Sprintf(format, args...), Unsupported: unsupported}
	p.done = true
	return false
}

// Next advances to the next sample of the line and reports whether there
// is one. It returns false at the end of the line or at the first error.
func (p *Parser) Next() bool {
	if len(p.vals) > 0 {
		return p.nextPacked()
	}
	if p.done {
		return false
	}
	if p.first {
		p.first = false
		if !p.parseName() {
			return false
		}
	}
	if p.pos > len(p.line) {
		p.done = true
		return false
	}
	return p.parseSample()
}

func (p *Parser) parseName() bool {
	l := p.line
	if bytes.HasPrefix(l, []byte("_e{")) {
		return p.fail(0, true, "DogStatsD events are not metrics")
	}
	if bytes.HasPrefix(l, []byte("_sc|")) {
		return p.fail(0, true, "DogStatsD service checks are not metrics")
	}
	i := bytes.IndexByte(l, ':')
	name := l
	if i >= 0 {
		name = l[:i]
	}
	if j := bytes.IndexByte(name, '|'); j >= 0 {
		return p.fail(j, false, "'|' in the metric name (missing ':' after the name?)")
	}
	switch {
	case i < 0:
		return p.fail(len(l), false, "missing ':' after the metric name")
	case i == 0:
		return p.fail(0, false, "empty metric name")
	}
	p.smp.Name = l[:i]
	p.pos = i + 1
	return true
}

// parseSample parses the sample at p.pos and yields its first value.
func (p *Parser) parseSample() bool {
	l := p.line
	start := p.pos
	bar := indexByteFrom(l, start, '|')
	if bar < 0 {
		return p.fail(len(l), false, "missing '|' and metric type after the value")
	}
	vals := l[start:bar]
	// The type runs to the next '|', or to ':' where another etsy sample
	// starts, or to the end.
	tstart := bar + 1
	tend := tstart
	for tend < len(l) && l[tend] != '|' && l[tend] != ':' {
		tend++
	}
	typ, ok := parseType(l[tstart:tend])
	if !ok {
		if tend == tstart {
			return p.fail(tstart, false, "missing metric type")
		}
		return p.fail(tstart, false, "unknown metric type %q (want c, g, ms, h, d or s)", l[tstart:tend])
	}
	smp := Sample{Name: p.smp.Name, Type: typ, Rate: 1}
	next := len(l) + 1 // where the following sample starts
	pos := tend
	haveRate, haveTags, haveCont := false, false, false
	for pos < len(l) {
		if l[pos] == ':' {
			next = pos + 1
			break
		}
		// l[pos] == '|': a field follows.
		f := pos + 1
		end := f
		switch {
		case f >= len(l) || l[f] == '|' || l[f] == ':':
			return p.fail(f, false, "empty field after '|'")
		case l[f] == '@':
			for end < len(l) && l[end] != '|' && l[end] != ':' {
				end++
			}
			if haveRate {
				return p.fail(f, false, "second sample rate")
			}
			r, err := parseNumber(l[f+1 : end])
			if err != nil || !(r > 0) || math.IsInf(r, 0) {
				return p.fail(f, false, "sample rate %q is not a positive number", l[f:end])
			}
			smp.Rate, haveRate = r, true
		case l[f] == '#':
			end = indexByteFrom(l, f, '|')
			if end < 0 {
				end = len(l)
			}
			if haveTags {
				return p.fail(f, false, "second tag list")
			}
			smp.Tags, haveTags = l[f+1:end], true
		case l[f] == 'T':
			for end < len(l) && l[end] != '|' && l[end] != ':' {
				end++
			}
			if !allDigits(l[f+1 : end]) {
				return p.fail(f, false, "timestamp %q is not a number of seconds", l[f:end])
			}
			// DogStatsD's timestamp is ignored: samples are aggregated
			// into the flush interval they arrive in.
		case hasPrefixAt(l, f, "c:"):
			end = indexByteFrom(l, f, '|')
			if end < 0 {
				end = len(l)
			}
			if haveCont {
				return p.fail(f, false, "second container ID")
			}
			smp.Container, haveCont = l[f+2:end], true
		case hasPrefixAt(l, f, "e:"), hasPrefixAt(l, f, "card:"):
			// Origin detection hints (external environment, tag
			// cardinality) of the Datadog agent; nothing to map them to.
			end = indexByteFrom(l, f, '|')
			if end < 0 {
				end = len(l)
			}
		default:
			end = indexByteFrom(l, f, '|')
			if end < 0 {
				end = len(l)
			}
			return p.fail(f, false, "unknown field %q (want @rate, #tags, c:, T, e: or card:)", abbreviate(l[f:end]))
		}
		pos = end
	}
	p.pos = next

	// Validate every value before yielding any, so that a sample is taken
	// whole or not at all.
	colon := bytes.IndexByte(vals, ':')
	if colon >= 0 && !typ.observer() {
		return p.fail(start+colon, false, "several values in one sample are allowed only for ms, h and d")
	}
	for off := 0; ; {
		v := vals[off:]
		if colon >= 0 {
			if k := bytes.IndexByte(v, ':'); k >= 0 {
				v = v[:k]
			}
		}
		if err := checkValue(typ, v); err != "" {
			return p.fail(start+off, false, "%s", err)
		}
		off += len(v) + 1
		if off > len(vals) {
			break
		}
	}
	p.smp = smp
	p.vals, p.voff = vals, start
	return p.nextPacked()
}

// nextPacked yields the next value of the current sample; all were
// checked by parseSample. An empty p.vals stands for a single empty value
// (a counter without a value).
func (p *Parser) nextPacked() bool {
	v := p.vals
	rest := []byte(nil)
	if k := bytes.IndexByte(v, ':'); k >= 0 {
		v, rest = v[:k], v[k+1:]
		if len(rest) == 0 {
			rest = nil
		}
	}
	p.vals = rest
	s := &p.smp
	switch s.Type {
	case Set:
		s.SetValue = v
	case Counter:
		s.Value = 1
		if len(v) > 0 {
			s.Value, _ = parseNumber(v)
		}
	default:
		s.Value, _ = parseNumber(v)
		s.Delta = s.Type == Gauge && (v[0] == '+' || v[0] == '-')
	}
	return true
}

// checkValue returns why v is not a value of type t, or "".
func checkValue(t Type, v []byte) string {
	switch t {
	case Set:
		if len(v) == 0 {
			return "empty set value"
		}
		return ""
	case Counter:
		if len(v) == 0 {
			return "" // etsy: a counter without a value counts 1
		}
	}
	if len(v) == 0 {
		return "empty value"
	}
	f, err := parseNumber(v)
	if err != nil {
		return fmt.Sprintf("value %q is not a number", abbreviate(v))
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Sprintf("value %q is not a finite number", abbreviate(v))
	}
	return ""
}

func parseType(b []byte) (Type, bool) {
	switch len(b) {
	case 1:
		switch b[0] {
		case 'c':
			return Counter, true
		case 'g':
			return Gauge, true
		case 'h':
			return Histogram, true
		case 'd':
			return Distribution, true
		case 's':
			return Set, true
		}
	case 2:
		if b[0] == 'm' && b[1] == 's' {
			return Timer, true
		}
	}
	return 0, false
}

// parseNumber parses a decimal number. It does not allocate when it
// succeeds: b is only read for the duration of the call.
func parseNumber(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, strconv.ErrSyntax
	}
	// Fast path for plain integers, the most common statsd value.
	if len(b) <= 15 {
		neg := false
		i := 0
		if b[0] == '-' || b[0] == '+' {
			neg, i = b[0] == '-', 1
		}
		if i < len(b) {
			var n int64
			j := i
			for ; j < len(b); j++ {
				c := b[j]
				if c < '0' || c > '9' {
					break
				}
				n = n*10 + int64(c-'0')
			}
			if j == len(b) {
				if neg {
					return -float64(n), nil
				}
				return float64(n), nil
			}
		}
	}
	return strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func indexByteFrom(b []byte, from int, c byte) int {
	if from >= len(b) {
		return -1
	}
	i := bytes.IndexByte(b[from:], c)
	if i < 0 {
		return -1
	}
	return from + i
}

func hasPrefixAt(b []byte, at int, prefix string) bool {
	return len(b)-at >= len(prefix) && string(b[at:at+len(prefix)]) == prefix
}

// abbreviate cuts a rejected piece of a line for an error message.
func abbreviate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
