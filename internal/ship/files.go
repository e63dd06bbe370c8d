package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// progressEvery is how often Files logs what it shipped, when that changed.
const progressEvery = 30 * time.Second

// Files ships the lines of the files that match patterns (paths, or globs
// in filepath.Match syntax, expanded again at every poll so that new files
// are picked up) until ctx ends. Then it sends what it read and waits for
// the server's confirmation, at most Options.DrainTimeout, and returns nil.
// It follows files through rotation by rename and through truncation, and
// remembers in its state file how far each file was confirmed, so that a
// later run with the same options resumes there: no confirmed line is
// sent twice and none is lost. It returns an error, after sending what it
// read, when the server refuses batches for good (see ServerError) or the
// state file cannot be written.
func Files(ctx context.Context, opts Options, patterns []string) (Stats, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	if !supported {
		return Stats{}, errors.New(`tailing files needs a Unix system; pipe them to "sonde ship -" instead`)
	}
	if len(patterns) == 0 {
		return Stats{}, errors.New("no files to ship")
	}
	abs := make([]string, 0, len(patterns))
	for _, p := range patterns {
		if p == "-" {
			return Stats{}, errors.New(`"-" (stdin) cannot be shipped together with files`)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return Stats{}, fmt.Errorf("pattern %q: %w", p, err)
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return Stats{}, fmt.Errorf("pattern %q: %w", p, err)
		}
		abs = append(abs, a)
	}
	st, err := openState(&o, abs)
	if err != nil {
		return Stats{}, err
	}
	defer st.close()
	stats := &counters{}
	log := o.Logger.With("component", "ship")
	c, err := newClient(&o, stats)
	if err != nil {
		return Stats{}, err
	}
	defer c.close()
	sh := &shipper{
		opts:     o,
		patterns: abs,
		state:    st,
		send:     newSender(c, stats, log),
		stats:    stats,
		log:      log,
		trackers: map[string]*tracker{},
		warnLog:  newLimiter(time.Minute),
	}
	return sh.run(ctx)
}

// shipper runs one tracker per path that matches the patterns.
type shipper struct {
	opts     Options
	patterns []string
	state    *state
	send     *sender
	stats    *counters
	log      *slog.Logger
	warnLog  *limiter

	mu       sync.Mutex
	trackers map[string]*tracker
	err      error
	wg       sync.WaitGroup
}

func (sh *shipper) run(ctx context.Context) (Stats, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sh.log.Info("Shipping files", "server", sh.opts.Server, "group", sh.opts.Group, "patterns", sh.patterns,
		"state", sh.state.path, "from_start", !sh.opts.StartAtEnd)

	// Files the state remembers are claimed before any path is expanded,
	// so that one renamed to a name the patterns also match is continued
	// where it was, not read again from the start.
	for _, e := range sh.state.saved() {
		sh.start(runCtx, cancel, e.Path, &e, false)
	}
	sh.discover(runCtx, cancel, true)

	tick := time.NewTicker(sh.opts.Poll)
	defer tick.Stop()
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	var last Stats
	for done := false; !done; {
		select {
		case <-runCtx.Done():
			done = true
		case <-tick.C:
			sh.discover(runCtx, cancel, false)
		case <-progress.C:
			if s := sh.stats.snapshot(); s != last {
				sh.log.Info("Shipped", s.logAttrs()...)
				last = s
			}
		}
	}
	sh.wg.Wait()
	s := sh.stats.snapshot()
	sh.log.Info("Stopped shipping", s.logAttrs()...)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s, sh.err
}

// start runs a tracker for path unless one runs already.
func (sh *shipper) start(ctx context.Context, cancel context.CancelFunc, path string, saved *fileEntry, initial bool) {
	sh.mu.Lock()
	if _, ok := sh.trackers[path]; ok || ctx.Err() != nil {
		sh.mu.Unlock()
		return
	}
	t := &tracker{sh: sh, path: path, saved: saved, initial: initial, buf: make([]byte, 64<<10)}
	if saved != nil {
		sh.state.claim(saved.id(), path)
	}
	sh.trackers[path] = t
	sh.mu.Unlock()
	sh.wg.Add(1)
	go func() {
		defer sh.wg.Done()
		err := t.run(ctx)
		sh.mu.Lock()
		delete(sh.trackers, path)
		if err != nil && sh.err == nil {
			sh.err = err
		}
		sh.mu.Unlock()
		if err != nil {
			cancel()
		}
	}()
}

// discover starts trackers for the paths that match the patterns now.
func (sh *shipper) discover(ctx context.Context, cancel context.CancelFunc, initial bool) {
	seen := map[string]bool{}
	for _, pat := range sh.patterns {
		matches := []string{pat}
		if strings.ContainsAny(pat, `*?[\`) {
			matches, _ = filepath.Glob(pat) // the syntax was checked at start
		}
		for _, p := range matches {
			if seen[p] {
				continue
			}
			seen[p] = true
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			sh.start(ctx, cancel, p, nil, initial)
		}
	}
}
