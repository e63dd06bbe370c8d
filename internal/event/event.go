package event

// Event is one record on its way into the store.
type Event struct {
	// Group is the log group (@log); Stream the log stream (@logStream).
	Group, Stream string
	// Time is @timestamp in Unix milliseconds.
	Time int64
	// Message is the raw line (@message). The store may leave it out when
	// Shape is set, because then it can be rebuilt from Fields.
	Message string
	// Shape is the JSON skeleton that rebuilds Message from Fields, or nil
	// when the event must keep its raw text.
	Shape *Shape
	// Fields are the discovered fields in the order they were met.
	Fields []Field
	// PlainStrings is set by the Parser when no string field holds a
	// character that JSON escapes (a quote, a backslash or a control
	// character). False means "not known": a store that writes strings into
	// JSON without escaping them then checks each one.
	PlainStrings bool
}

// Field is one named, typed value of an event.
type Field struct {
	Name string
	Value
}

// Get returns the first field named name.
func (e *Event) Get(name string) (Value, bool) {
	for i := range e.Fields {
		if e.Fields[i].Name == name {
			return e.Fields[i].Value, true
		}
	}
	return Value{}, false
}

// SystemFields are the fields every event has, named as in CloudWatch Logs.
var SystemFields = []string{"@timestamp", "@ingestionTime", "@message", "@log", "@logStream"}

// IsSystemField reports whether name is one of SystemFields.
func IsSystemField(name string) bool {
	switch name {
	case "@timestamp", "@ingestionTime", "@message", "@log", "@logStream":
		return true
	}
	return false
}
