package graphite

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// Sample is one parsed plaintext line. Its byte slices point into the
// line and must not be retained after the line is reused.
type Sample struct {
	// Name is the metric path with its tags as sent ("disk.used;rack=a1"),
	// the key of the series.
	Name []byte
	// Path is the metric path without tags, never empty.
	Path []byte
	// Tags is what follows the first ';' of the name ("rack=a1;dc=x"),
	// each tag checked, or empty.
	Tags []byte
	// Value is the value; never NaN (carbon drops NaN), possibly infinite.
	Value float64
	// TimeMillis is the timestamp in milliseconds since the epoch. It is
	// meaningful only when HasTime is true.
	TimeMillis int64
	// HasTime is false when the line has no timestamp or "-1", which
	// mean "now".
	HasTime bool
}

// ParseError is why a line was rejected, and where in it the problem was
// found.
type ParseError struct {
	// Column is the 1-based byte position of the problem in the line.
	Column int
	// Reason says what is wrong.
	Reason string
}

// Error returns "column N: reason".
func (e *ParseError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Reason) }

func errAt(at int, format string, args ...any) error {
	return &ParseError{Column: at + 1, Reason: fmt.Sprintf(format, args...)}
}

// maxTimestamp is the largest timestamp accepted, in seconds (year 5138):
// larger numbers are almost surely milliseconds or nanoseconds.
const maxTimestamp = 1e11

// Parse parses one plaintext line, "<path> <value> [<timestamp>]", without
// its line terminator. Fields are separated by spaces or tabs; a missing
// timestamp or "-1" means the time of receipt. The path may carry
// Graphite 1.1 tags, "path;name=value;...": tag names must be non-empty
// ASCII without ";!^=" (and without spaces, which end the path), values
// non-empty and not starting with "~". The timestamp is in seconds, with
// an optional fraction. Parse does not allocate unless it fails.
func Parse(line []byte) (Sample, error) {
	var s Sample
	i := skipSpace(line, 0)
	nameStart := i
	i = skipField(line, i)
	if i == nameStart {
		return s, errAt(i, "empty line (want \"path value timestamp\")")
	}
	s.Name = line[nameStart:i]
	if err := parseName(&s, nameStart); err != nil {
		return s, err
	}

	i = skipSpace(line, i)
	valStart := i
	i = skipField(line, i)
	if i == valStart {
		return s, errAt(i, "missing value after the metric path")
	}
	v, err := parseNumber(line[valStart:i])
	if err != nil {
		return s, errAt(valStart, "value %q is not a number", abbreviate(line[valStart:i]))
	}
	if math.IsNaN(v) {
		return s, errAt(valStart, "value is NaN")
	}
	s.Value = v

	i = skipSpace(line, i)
	tsStart := i
	i = skipField(line, i)
	if i > tsStart {
		ts := line[tsStart:i]
		if string(ts) != "-1" {
			sec, err := parseNumber(ts)
			switch {
			case err != nil:
				return s, errAt(tsStart, "timestamp %q is not a number", abbreviate(ts))
			case !(sec >= 0):
				return s, errAt(tsStart, "timestamp %q is negative (only -1, meaning now, is allowed)", abbreviate(ts))
			case sec > maxTimestamp:
				return s, errAt(tsStart, "timestamp %q is too large: Graphite timestamps are seconds since 1970, not milliseconds", abbreviate(ts))
			}
			s.TimeMillis, s.HasTime = int64(sec*1000), true
		}
	}
	if j := skipSpace(line, i); j < len(line) {
		return s, errAt(j, "unexpected text after the timestamp (want \"path value timestamp\")")
	}
	return s, nil
}

// parseName splits s.Name into path and tags and checks the tags; off is
// the position of the name in the line.
func parseName(s *Sample, off int) error {
	name := s.Name
	semi := bytes.IndexByte(name, ';')
	if semi < 0 {
		s.Path = name
		return nil
	}
	if semi == 0 {
		return errAt(off, "empty metric path before the tags")
	}
	s.Path, s.Tags = name[:semi], name[semi+1:]
	pos := semi + 1
	for {
		end := bytes.IndexByte(name[pos:], ';')
		if end < 0 {
			end = len(name)
		} else {
			end += pos
		}
		tag := name[pos:end]
		eq := bytes.IndexByte(tag, '=')
		switch {
		case len(tag) == 0:
			return errAt(off+pos, "empty tag")
		case eq < 0:
			return errAt(off+pos, "tag %q has no '='", abbreviate(tag))
		case eq == 0:
			return errAt(off+pos, "empty tag name")
		case eq == len(tag)-1:
			return errAt(off+pos+eq+1, "empty value of tag %q", abbreviate(tag[:eq]))
		case tag[eq+1] == '~':
			return errAt(off+pos+eq+1, "value of tag %q starts with '~'", abbreviate(tag[:eq]))
		}
		for k, c := range tag[:eq] {
			if c >= 0x80 || c < 0x20 || c == 0x7f || c == '!' || c == '^' {
				return errAt(off+pos+k, "tag name %q holds %q (tag names are ASCII without ;!^=)", abbreviate(tag[:eq]), c)
			}
		}
		if end == len(name) {
			return nil
		}
		pos = end + 1
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

func skipField(b []byte, i int) int {
	for i < len(b) && b[i] != ' ' && b[i] != '\t' {
		i++
	}
	return i
}

// parseNumber parses a decimal number without allocating on success.
func parseNumber(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
}

// abbreviate cuts a rejected piece of a line for an error message.
func abbreviate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
