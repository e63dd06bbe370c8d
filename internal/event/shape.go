package event

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// Shape is the skeleton of a JSON event: its literal JSON text (braces, keys,
// commas, nulls, empty objects) with slots where field values go. Two events
// with the same keys in the same order, holding values of the same kinds,
// share one Shape.
//
// A Shape is immutable once interned and safe to share between goroutines.
type Shape struct {
	// Key is the canonical encoding: equal shapes have equal keys.
	Key string
	// Pieces alternate between literal text and slots.
	Pieces []Piece
}

// Piece is literal JSON text (Field empty) or a slot for a field's value,
// written as one complete JSON value (quoted where the kind is a string).
type Piece struct {
	Lit   string `json:"l,omitempty"`
	Field string `json:"f,omitempty"`
	Kind  Kind   `json:"k,omitempty"`
}

// Slot reports whether the piece is a slot for a field value.
func (p Piece) Slot() bool { return p.Kind != 0 }

// MarshalJSON encodes the pieces; the store persists shapes this way.
func (s *Shape) MarshalJSON() ([]byte, error) { return json.Marshal(s.Pieces) }

// ParseShape decodes a shape persisted with MarshalJSON.
func ParseShape(text []byte) (*Shape, error) {
	var pieces []Piece
	if err := json.Unmarshal(text, &pieces); err != nil {
		return nil, fmt.Errorf("decode shape: %w", err)
	}
	var key []byte
	for _, p := range pieces {
		if p.Slot() {
			if !p.Kind.Valid() {
				return nil, fmt.Errorf("decode shape: invalid kind %d", p.Kind)
			}
			key = appendSlotKey(key, p.Field, p.Kind)
		} else {
			if p.Lit == "" {
				return nil, errors.New("decode shape: empty literal piece")
			}
			key = append(key, p.Lit...)
		}
	}
	return &Shape{Key: string(key), Pieces: pieces}, nil
}

// Rebuild writes the JSON text of an event of this shape. text returns the
// JSON token for a slot; it is called once per slot in order.
func (s *Shape) Rebuild(dst []byte, token func(field string, kind Kind) []byte) []byte {
	for _, p := range s.Pieces {
		if p.Slot() {
			dst = append(dst, token(p.Field, p.Kind)...)
		} else {
			dst = append(dst, p.Lit...)
		}
	}
	return dst
}

// appendSlotKey writes a slot into a shape key. A NUL byte starts a slot:
// canonical JSON text never holds a raw NUL, so the key is unambiguous.
func appendSlotKey(key []byte, field string, kind Kind) []byte {
	key = append(key, 0, byte(kind))
	key = binary.AppendUvarint(key, uint64(len(field)))
	return append(key, field...)
}

// shapeFromKey decodes a key built by appendSlotKey and literal appends.
func shapeFromKey(key string) *Shape {
	s := &Shape{Key: key}
	lit := 0
	for i := 0; i < len(key); {
		if key[i] != 0 {
			i++
			continue
		}
		if lit < i {
			s.Pieces = append(s.Pieces, Piece{Lit: key[lit:i]})
		}
		kind := Kind(key[i+1])
		n, w := binary.Uvarint([]byte(key[i+2 : min(len(key), i+2+binary.MaxVarintLen64)]))
		start := i + 2 + w
		s.Pieces = append(s.Pieces, Piece{Field: key[start : start+int(n)], Kind: kind})
		i = start + int(n)
		lit = i
	}
	if lit < len(key) {
		s.Pieces = append(s.Pieces, Piece{Lit: key[lit:]})
	}
	return s
}

// Shapes interns shapes so that every event of one shape points to the same
// *Shape. It is safe for concurrent use. It holds at most a fixed number of
// shapes; events of further shapes keep their raw text instead.
type Shapes struct {
	mu  sync.RWMutex
	m   map[string]*Shape
	max int
}

// NewShapes returns an interning table for up to max shapes.
func NewShapes(max int) *Shapes {
	return &Shapes{m: make(map[string]*Shape), max: max}
}

// Intern returns the shape for key, or nil when the table is full.
func (s *Shapes) Intern(key []byte) *Shape {
	s.mu.RLock()
	sh := s.m[string(key)]
	s.mu.RUnlock()
	if sh != nil {
		return sh
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh = s.m[string(key)]; sh != nil {
		return sh
	}
	if len(s.m) >= s.max {
		return nil
	}
	sh = shapeFromKey(string(key))
	s.m[sh.Key] = sh
	return sh
}

// Len returns the number of interned shapes.
func (s *Shapes) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Rebuild writes the JSON text of an event from its shape and fields (slot k
// holds field k). The store rebuilds messages in SQL; this is the same rule
// in Go, for tests and for clients that hold events.
func (e *Event) Rebuild() string {
	if e.Shape == nil {
		return e.Message
	}
	k := 0
	return string(e.Shape.Rebuild(nil, func(string, Kind) []byte {
		f := e.Fields[k]
		k++
		return AppendToken(nil, f.Value, e.Time)
	}))
}

// AppendToken writes v as one JSON value.
func AppendToken(dst []byte, v Value, eventTime int64) []byte {
	switch v.Kind {
	case KindInt, KindBool:
		return append(dst, v.Text(eventTime)...)
	case KindFloat:
		return AppendFloat(dst, v.Float())
	case KindTime:
		if !TimeLayout(v.X).Quoted() {
			return append(dst, v.Text(eventTime)...)
		}
	}
	return appendQuoted(dst, v.Text(eventTime))
}

// AppendFloat writes f the way DuckDB's to_json writes a DOUBLE (yyjson):
// shortest round-trip digits, plain notation with a ".0" for whole numbers
// from 1e-6 up to 1e21, scientific notation ("1.5e-7", "1e21") outside.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
		for _, c := range dst[start:] {
			if c == '.' {
				return dst
			}
		}
		return append(dst, '.', '0')
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	i := 0
	for e[i] != 'e' {
		i++
	}
	dst = append(dst, e[:i+1]...)
	exp := e[i+1:]
	if exp[0] == '-' {
		dst = append(dst, '-')
	}
	exp = exp[1:]
	for len(exp) > 1 && exp[0] == '0' {
		exp = exp[1:]
	}
	return append(dst, exp...)
}
