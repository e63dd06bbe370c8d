package syslog

import (
	"strings"
	"unicode/utf8"

	"github.com/sonde-dev/sonde/internal/event"
)

// facilityNames are the facility keywords of rsyslog and most syslog tools,
// indexed by code (RFC 5424 section 6.2.1 numbers them).
var facilityNames = [24]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// severityNames are the severity keywords of syslog.h, indexed by code.
var severityNames = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// sdPrefix starts the field name of a structured-data parameter:
// "sd.<SD-ID>.<PARAM-NAME>".
const sdPrefix = "sd."

// fixedFields is the most fields an event has besides structured data.
const fixedFields = 9

// toEvent builds the event stored for a parsed message. line is the message
// as received, without framing; it becomes @message. The stream is the
// message's HOSTNAME, or fallbackStream (the sender's address) when it has
// none. recvMs is the @timestamp of a message without timestamp. At most
// maxFields fields are kept; it returns how many structured-data parameters
// were left out (they stay in @message). Text that is not valid UTF-8 is
// repaired with U+FFFD, as the store needs valid text.
func toEvent(m *Message, line, group, fallbackStream string, recvMs int64, maxFields int) (event.Event, int) {
	clean := func(s string) string { return s }
	if !utf8.ValidString(line) {
		clean = func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	}
	ev := event.Event{
		Group:   group,
		Stream:  clean(m.Hostname),
		Time:    recvMs,
		Message: clean(line),
	}
	if ev.Stream == "" {
		ev.Stream = fallbackStream
	}
	if !m.Time.IsZero() {
		ev.Time = m.Time.UnixMilli()
	}
	nsd := 0
	for i := range m.StructuredData {
		nsd += len(m.StructuredData[i].Params)
	}
	// The fixed fields (at most fixedFields) are always kept; the cap limits
	// the structured data.
	fields := make([]event.Field, 0, min(fixedFields+nsd, max(maxFields, fixedFields)))
	add := func(name string, v event.Value) { fields = append(fields, event.Field{Name: name, Value: v}) }
	addText := func(name, s string) {
		if s != "" {
			add(name, event.TypedString(clean(s)))
		}
	}
	add("facility", event.String(facilityNames[m.Facility()]))
	add("severity", event.String(severityNames[m.Severity()]))
	add("priority", event.Int(int64(m.Priority)))
	if m.Format == RFC5424 {
		add("version", event.Int(int64(m.Version)))
	}
	addText("hostname", m.Hostname)
	addText("appName", m.AppName)
	addText("procId", m.ProcID)
	addText("msgId", m.MsgID)
	addText("message", m.Msg)

	fixed := len(fields)
	dropped := 0
	var name []byte
	for _, el := range m.StructuredData {
		for _, prm := range el.Params {
			name = append(append(append(append(name[:0], sdPrefix...), el.ID...), '.'), prm.Name...)
			if hasField(fields[fixed:], name) {
				continue // a repeated parameter keeps its first value
			}
			if len(fields) == cap(fields) {
				dropped++
				continue
			}
			fields = append(fields, event.Field{Name: string(name), Value: event.TypedString(clean(prm.Value))})
		}
	}
	ev.Fields = fields
	return ev, dropped
}

func hasField(fields []event.Field, name []byte) bool {
	for i := range fields {
		if fields[i].Name == string(name) {
			return true
		}
	}
	return false
}
