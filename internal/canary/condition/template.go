package condition

import (
	"fmt"
	"regexp"
	"strings"
)

// templateRef matches {{ name }} in a step's URL, headers and body.
var templateRef = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// captureName is what a capture may be called.
var captureName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// ValidName reports whether name may name a captured value.
func ValidName(name string) bool { return captureName.MatchString(name) }

// Template is text with {{ name }} references to captured values. It is
// immutable and safe for concurrent use.
type Template struct {
	text  string
	names []string
}

// ParseTemplate parses text with {{ name }} references. Errors are
// *SyntaxError.
func ParseTemplate(text string) (*Template, error) {
	t := &Template{text: text}
	for _, m := range templateRef.FindAllStringSubmatchIndex(text, -1) {
		name := text[m[2]:m[3]]
		if !ValidName(name) {
			return nil, &SyntaxError{Pos: m[0], Msg: fmt.Sprintf("{{ %s }}: a captured value's name is letters, digits, _ . and -", name)}
		}
		t.names = append(t.names, name)
	}
	return t, nil
}

// Names returns the captured values the template reads, in order.
func (t *Template) Names() []string { return t.names }

// Expand replaces every reference with its value from values. A reference
// without a value is an error.
func (t *Template) Expand(values map[string]string) (string, error) {
	if len(t.names) == 0 {
		return t.text, nil
	}
	var missing []string
	out := templateRef.ReplaceAllStringFunc(t.text, func(ref string) string {
		name := strings.TrimSpace(ref[2 : len(ref)-2])
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no captured value %q", missing[0])
	}
	return out, nil
}
