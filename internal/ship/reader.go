package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Reader ships the lines read from r (stdin for "sonde ship -") until r
// ends, then sends the last line even without a newline, and returns nil
// once the server has confirmed everything. There are no offsets to
// remember: if ctx ends first, Reader sends what it read (for at most
// Options.DrainTimeout) and returns an error saying the input was not
// shipped completely. Reader does not close r; a Read that blocks when ctx
// ends is left to return on its own.
func Reader(ctx context.Context, opts Options, r io.Reader) (Stats, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	stats := &counters{}
	log := o.Logger.With("component", "ship")
	c, err := newClient(&o, stats)
	if err != nil {
		return Stats{}, err
	}
	defer c.close()
	send := newSender(c, stats, log)
	stream := o.Stream
	if stream == "" {
		stream = "stdin"
	}
	asm := newAssembler(&o, 0)
	var done int64
	tgt := &target{
		name: "stdin", stream: stream, gen: newGeneration(),
		pending: func(int64, int64) error { return nil },
		confirm: func(end int64) error { done = end; return nil },
	}
	flush := func(ctx context.Context) error {
		b := asm.cur.suffix(done)
		if b.empty() {
			return nil
		}
		err := send.ship(ctx, tgt, b)
		asm.confirmed(done)
		return err
	}
	log.Info("Shipping standard input", "server", o.Server, "group", o.Group, "stream", stream)

	chunks := make(chan []byte)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case chunks <- append([]byte(nil), buf[:n]...):
				case <-quit:
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	tick := time.NewTicker(min(o.Poll, o.Flush))
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case p := <-chunks:
			for len(p) > 0 {
				p = p[asm.consume(p, time.Now(), false):]
				send.countCut(asm, "stdin")
				if asm.full() {
					if runErr = flush(ctx); runErr != nil {
						break loop
					}
				}
			}
		case err := <-readErr:
			asm.finishPartial(time.Now())
			send.countCut(asm, "stdin")
			if runErr = flush(ctx); runErr == nil && !errors.Is(err, io.EOF) {
				runErr = fmt.Errorf("read input: %w", err)
			}
			if runErr == nil {
				s := stats.snapshot()
				log.Info("Input shipped", s.logAttrs()...)
				return s, nil
			}
			break loop
		case <-tick.C:
			if asm.due(time.Now(), o.Flush) {
				if runErr = flush(ctx); runErr != nil {
					break loop
				}
			}
		case <-ctx.Done():
			break loop
		}
	}
	if ctx.Err() == nil {
		return stats.snapshot(), runErr // refused by the server
	}
	dctx, cancel := drainContext(ctx, o.DrainTimeout)
	defer cancel()
	if err := flush(dctx); err != nil && dctx.Err() == nil {
		return stats.snapshot(), err
	}
	s := stats.snapshot()
	log.Info("Stopped before the end of the input", s.logAttrs()...)
	return s, fmt.Errorf("stopped before the end of the input: %d lines shipped, %d read lines not confirmed",
		s.Lines, len(asm.cur.suffix(done).lines))
}
