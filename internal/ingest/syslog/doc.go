// Package syslog receives syslog messages over UDP and TCP and stores each as
// an event.
//
// # Formats
//
// Parse auto-detects the format of a line:
//
//   - RFC 5424 (https://www.rfc-editor.org/rfc/rfc5424): a line whose PRI is
//     followed by the version "1" and a space. The header, the structured data
//     and the MSG are parsed strictly by the RFC's grammar, with two lenient
//     exceptions: header fields may hold any non-control byte (not only
//     printable US-ASCII) and only HOSTNAME's length limit (255) is enforced,
//     because senders in the wild exceed the others and nothing downstream
//     depends on them; timestamps may have up to 9 fractional digits.
//   - RFC 3164 (https://www.rfc-editor.org/rfc/rfc3164), the BSD format, and
//     its common variants: every other line with a valid PRI. The timestamp
//     may be "Mmm dd hh:mm:ss" (day space- or zero-padded, optional fraction),
//     "Mmm dd yyyy hh:mm:ss" (Cisco) or an RFC 3339 timestamp with or without
//     zone. The HOSTNAME may be missing: a token that looks like a TAG
//     ("name:" or "name[pid]") is taken as the TAG. As the RFC says, a line
//     without a recognised timestamp is all MSG, with an optional TAG.
//
// An RFC 3164 timestamp has neither year nor zone. It is read in the server's
// local time zone (the zone of the time passed to Parse) and given the year
// that puts it closest to the current time without being more than a day in
// the future, so that "Dec 31 23:59:59" received on January 1st belongs to
// the year before and a sender's clock running a few hours ahead is not taken
// for last year. A zone-less RFC 3339 timestamp is read in the same zone.
//
// A line that is not syslog, because its PRI is missing or invalid or because
// it claims RFC 5424 and breaks its grammar, is rejected: it is counted in
// sonde_ingest_events_rejected_total{reason="invalid"} and a warning naming the
// column and the reason is logged, at most once per second. Storing such lines
// as plain text would hide a misconfigured sender behind events that look
// fine; the rest of the batch is kept either way.
//
// # Events
//
// Every message becomes one event of the log group Options.Group: its
// @logStream is the HOSTNAME, or the sender's IP address when there is none;
// its @timestamp is the message's timestamp, or the time of receipt; its
// @message is the line as received, without framing and line terminator.
// The fields are facility and severity (by name: "daemon", "err"), priority
// (the number), version (RFC 5424 only), hostname, appName, procId, msgId,
// message (the MSG part) and, for each structured-data parameter,
// "sd.<SD-ID>.<PARAM-NAME>"; a parameter sent twice keeps its first value.
// Absent and NILVALUE ("-") fields are left out. Text values are typed with
// event.TypedString, so that ids and IP addresses are stored compactly.
//
// # Transports
//
// Each UDP datagram holds one message or several separated by newlines; a
// newline starts a new message only when "<" follows it, so that a multi-line
// RFC 5424 MSG sent in one datagram stays one message. UDP has no
// acknowledgement and no flow control: batches wait for the writer in a
// queue of a few batches, and when that queue is full, or the pipeline stays
// busy for a few retries, a batch is dropped and counted (reason "busy").
//
// A TCP stream is split into messages by RFC 6587
// (https://www.rfc-editor.org/rfc/rfc6587): octet counting ("LEN SP MSG")
// when a frame starts with a digit, else newline framing (LF, CRLF or NUL).
// The framing is detected again for every message. A connection is not read
// while its batch is being written, so a full write queue slows the senders
// down through TCP flow control, and a batch that was read is retried until
// the queue takes it (only a failing store, a closed pipeline or the end of
// Shutdown's grace period drops it). A message longer than
// Options.MaxMessageBytes is skipped and counted (reason "too_large"); the
// stream continues with the next frame.
package syslog
