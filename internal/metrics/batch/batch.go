// Package batch writes the samples of one flush (statsd aggregates,
// metrics derived from logs) through appenders of a bounded size, and
// counts what the store took and what it refused, by reason.
package batch

import "github.com/sonde-dev/sonde/internal/selfmon"

// Size is the number of samples one appender takes before it is committed
// and a new one started, so that a large flush does not hold everything
// in one transaction.
const Size = 10_000

// Committer is the part of an appender (storage.Appender or AppenderV2)
// the writer drives: Commit stores what the appender took, or fails for
// all of it.
type Committer interface {
	Commit() error
}

// Writer hands out appenders for one flush. The caller gets the appender
// for each sample from Appender, appends the sample (and anything that
// goes with it, such as metadata) and reports it with Took or Refused; a
// full appender is committed when the next one is asked for, never
// between a sample and its metadata. Commit ends the flush.
type Writer[A Committer] struct {
	open          func() A
	commitFailure string

	app     A
	started bool
	pending int // samples the current appender took
	written int
	failed  map[string]int
	err     error
}

// New returns a writer that starts appenders with open and counts the
// samples of a failed commit under the reason commitFailure.
func New[A Committer](open func() A, commitFailure string) *Writer[A] {
	return &Writer[A]{open: open, commitFailure: commitFailure}
}

// Appender returns the appender for the next sample, committing the
// current one first when it holds Size samples.
func (w *Writer[A]) Appender() A {
	if w.started && w.pending >= Size {
		w.commit()
	}
	if !w.started {
		w.app, w.started = w.open(), true
	}
	return w.app
}

// Took counts a sample the current appender took.
func (w *Writer[A]) Took() { w.pending++ }

// Refused counts a sample the appender refused, by reason.
func (w *Writer[A]) Refused(reason string) {
	if w.failed == nil {
		w.failed = map[string]int{}
	}
	w.failed[reason]++
}

// Commit commits the current appender, if any, and returns the first
// commit error of the flush.
func (w *Writer[A]) Commit() error {
	w.commit()
	return w.err
}

func (w *Writer[A]) commit() {
	if !w.started {
		return
	}
	err := w.app.Commit()
	var zero A
	w.app, w.started = zero, false
	if err != nil {
		if w.failed == nil {
			w.failed = map[string]int{}
		}
		w.failed[w.commitFailure] += w.pending
		if w.err == nil {
			w.err = err
		}
	} else {
		w.written += w.pending
	}
	w.pending = 0
}

// Written is the number of samples committed.
func (w *Writer[A]) Written() int { return w.written }

// Failed is the number of samples refused or lost to a failed commit, by
// reason.
func (w *Writer[A]) Failed() map[string]int { return w.failed }

// Reason names why an appender refused a sample: a selfmon reason, or
// other for errors that are not about the sample.
func Reason(err error, other string) string {
	if r := selfmon.AppendErrorReason(err); r != "" {
		return r
	}
	return other
}
