package event

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
)

// Kind is the stored type of a field value. A field may be seen with several
// kinds; the store keeps one column per kind so that no value is lost.
type Kind uint8

// The kinds. Values are persisted in the store's catalog: never renumber them.
const (
	KindString Kind = 1
	KindInt    Kind = 2 // JSON number written without fraction or exponent, fits int64
	KindFloat  Kind = 3
	KindBool   Kind = 4
	KindID128  Kind = 5 // exactly 32 lowercase hex digits (a trace id); stored as 16 bytes
	KindID64   Kind = 6 // exactly 16 lowercase hex digits (a span id); stored as 8 bytes
	KindIPv4   Kind = 7 // canonical dotted quad; stored as 4 bytes
	// KindTime is a field whose text is exactly the event's @timestamp written
	// in one of the TimeLayouts; only the layout is stored.
	KindTime Kind = 8
)

var kindNames = [...]string{
	KindString: "string", KindInt: "int", KindFloat: "float", KindBool: "bool",
	KindID128: "id128", KindID64: "id64", KindIPv4: "ipv4", KindTime: "time",
}

// String returns the kind's name as it appears in schemas and errors.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindString && k <= KindTime }

// Numeric reports whether values of this kind are numbers in queries.
func (k Kind) Numeric() bool { return k == KindInt || k == KindFloat }

// Value is one typed field value. Which members are meaningful depends on
// Kind: Str for KindString; X for KindInt (as int64 bits), KindFloat (as
// float64 bits), KindBool (0 or 1), KindID64, KindIPv4 and KindTime (the
// layout); X (high) and Y (low) for KindID128.
type Value struct {
	Kind Kind
	Str  string
	X, Y uint64
}

// String returns a Value of KindString.
func String(s string) Value { return Value{Kind: KindString, Str: s} }

// Int returns a Value of KindInt.
func Int(i int64) Value { return Value{Kind: KindInt, X: uint64(i)} }

// Float returns a Value of KindFloat.
func Float(f float64) Value { return Value{Kind: KindFloat, X: math.Float64bits(f)} }

// Bool returns a Value of KindBool.
func Bool(b bool) Value {
	v := Value{Kind: KindBool}
	if b {
		v.X = 1
	}
	return v
}

// Int returns the value of a KindInt.
func (v Value) Int() int64 { return int64(v.X) }

// Float returns the value of a KindFloat.
func (v Value) Float() float64 { return math.Float64frombits(v.X) }

// Bool returns the value of a KindBool.
func (v Value) Bool() bool { return v.X != 0 }

// Text renders the value as the text a query sees for it. Times need the
// event's timestamp, so KindTime takes it as an argument.
func (v Value) Text(eventTime int64) string {
	switch v.Kind {
	case KindString:
		return v.Str
	case KindInt:
		return strconv.FormatInt(v.Int(), 10)
	case KindFloat:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.Bool())
	case KindID128:
		var b [16]byte
		putUint64(b[:8], v.X)
		putUint64(b[8:], v.Y)
		return hex.EncodeToString(b[:])
	case KindID64:
		var b [8]byte
		putUint64(b[:], v.X)
		return hex.EncodeToString(b[:])
	case KindIPv4:
		return fmt.Sprintf("%d.%d.%d.%d", byte(v.X>>24), byte(v.X>>16), byte(v.X>>8), byte(v.X))
	case KindTime:
		return TimeLayout(v.X).Format(eventTime)
	}
	return ""
}

func putUint64(b []byte, x uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(x)
		x >>= 8
	}
}

// TypedString types a string by its content: lowercase hex ids and dotted
// quads are stored compactly, everything else as text. The decision depends
// on the value alone, so it is the same on every server and protocol; every
// decoder should type its string values with it.
func TypedString(s string) Value { return stringValue(s) }

func stringValue(s string) (v Value) {
	setTypedString(&v, s)
	return v
}

// setTypedString sets v to s typed by TypedString, member by member (see
// Parser.add).
func setTypedString(v *Value, s string) {
	switch len(s) {
	case 32:
		if hi, ok := parseHex64(s[:16]); ok {
			if lo, ok := parseHex64(s[16:]); ok {
				v.Kind, v.Str, v.X, v.Y = KindID128, "", hi, lo
				return
			}
		}
	case 16:
		if x, ok := parseHex64(s); ok {
			v.Kind, v.Str, v.X, v.Y = KindID64, "", x, 0
			return
		}
	}
	if len(s) >= 7 && len(s) <= 15 {
		if ip, ok := parseIPv4(s); ok {
			v.Kind, v.Str, v.X, v.Y = KindIPv4, "", uint64(ip), 0
			return
		}
	}
	v.Kind, v.Str, v.X, v.Y = KindString, s, 0, 0
}

// parseHex64 parses exactly 16 lowercase hex digits. It looks each byte up
// in hexValue and checks them all at the end, without a branch per byte:
// trace ids are in most lines.
func parseHex64(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var x uint64
	var bad byte
	for i := 0; i < 16; i++ {
		v := hexValue[s[i]]
		bad |= v
		x = x<<4 | uint64(v&15)
	}
	return x, bad&0x80 == 0
}

// hexValue is the value of a lowercase hex digit, 0x80 for other bytes.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x80
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

// parseIPv4 accepts only the canonical form (no leading zeros), so that the
// text can be written back exactly.
func parseIPv4(s string) (uint32, bool) {
	var ip uint32
	part, digits, parts := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || part > 255 || parts == 4 {
				return 0, false
			}
			ip = ip<<8 | uint32(part)
			parts++
			part, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || (digits == 1 && part == 0) {
			return 0, false
		}
		part = part*10 + int(c-'0')
		digits++
		if digits > 3 {
			return 0, false
		}
	}
	return ip, parts == 4
}
