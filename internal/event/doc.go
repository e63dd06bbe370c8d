// Package event is sonde's model of one stored record (a log line, later a
// span or a canary run) and the decoding of raw log lines into it.
//
// A line that holds a JSON object is flattened into typed fields (nested
// objects become "a.b", arrays "a.0.b") and remembered with its Shape: the
// JSON skeleton with the field values taken out. The store keeps the values in
// typed columns and the shape once, and rebuilds the line from both instead of
// keeping the raw text twice. Any other line is kept as plain text.
//
// The package imports nothing from sonde; every other package may import it.
package event
