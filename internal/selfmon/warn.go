package selfmon

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WarnInterval is the least time between two warnings of one kind.
const WarnInterval = time.Second

// Warner rate-limits warnings on noisy paths (a flood of bad lines must not
// become a flood of log lines): at most one per WarnInterval for each kind,
// carrying the number suppressed since the last one. The zero value is
// ready; it is safe for concurrent use. Counting what was rejected is the
// job of metrics, not of these logs.
type Warner struct {
	mu    sync.Mutex
	state map[string]*warnState
}

type warnState struct {
	next       time.Time
	suppressed int
}

// Allow reports whether a warning of kind may be logged now, and how many
// were suppressed before it. Callers on a hot path whose log arguments cost
// something to build call Allow first, then log.
func (w *Warner) Allow(kind string) (ok bool, suppressed int) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == nil {
		w.state = map[string]*warnState{}
	}
	st := w.state[kind]
	if st == nil {
		st = &warnState{}
		w.state[kind] = st
	}
	if now.Before(st.next) {
		st.suppressed++
		return false, 0
	}
	suppressed = st.suppressed
	st.next, st.suppressed = now.Add(WarnInterval), 0
	return true, suppressed
}

// Warn logs msg at warning level unless a warning of kind was logged less
// than WarnInterval ago.
func (w *Warner) Warn(log *slog.Logger, kind, msg string, args ...any) {
	ok, suppressed := w.Allow(kind)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Warn(msg, args...)
}

// Register registers c in reg, or returns the collector registered under
// the same name before, so that packages sharing a metric family (several
// metric protocols, several servers on one registry) need not coordinate.
// It panics when the existing collector is of another type: a bug.
func Register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("BUG: register metric: %v", err))
}
