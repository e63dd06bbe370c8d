package ship

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Stats counts what a shipper did.
type Stats struct {
	// Lines is the number of lines the server confirmed as stored.
	Lines int64
	// Rejected is the number of lines the server refused as invalid (a
	// line that starts with '{' but is not JSON, for example). They are
	// logged and skipped: sending them again cannot help.
	Rejected int64
	// Truncated is the number of lines cut at Options.MaxLineBytes.
	Truncated int64
	// Skipped is the number of lines dropped because, alone, they were
	// larger than the server accepts (413).
	Skipped int64
	// Batches is the number of batches the server confirmed.
	Batches int64
	// Duplicates is the number of batches the server had stored before:
	// the acknowledgement of an earlier attempt was lost.
	Duplicates int64
	// Retries is the number of failed attempts that were retried.
	Retries int64
}

// counters are the live Stats.
type counters struct {
	lines, rejected, truncated, skipped, batches, duplicates, retries atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Lines: c.lines.Load(), Rejected: c.rejected.Load(), Truncated: c.truncated.Load(),
		Skipped: c.skipped.Load(), Batches: c.batches.Load(), Duplicates: c.duplicates.Load(),
		Retries: c.retries.Load(),
	}
}

// logAttrs is s as log attributes.
func (s Stats) logAttrs() []any {
	return []any{"lines", s.Lines, "batches", s.Batches, "rejected", s.Rejected, "truncated", s.Truncated,
		"skipped", s.Skipped, "duplicates", s.Duplicates, "retries", s.Retries}
}

// target is where the batches of one source (a file generation, or stdin)
// go and how their progress is recorded.
type target struct {
	name   string // the source in logs: a path, or "stdin"
	stream string
	gen    string
	id     fileID
	// pending records that [start, end) is about to be sent; once it
	// returns, a restart must send that range again, with the same key,
	// before anything after it.
	pending func(start, end int64) error
	// confirm records that everything before end is done.
	confirm func(end int64) error
}

// sender ships batches with the client and keeps the counts.
type sender struct {
	c         *client
	stats     *counters
	log       *slog.Logger
	rejectLog *limiter
	cutLog    *limiter
}

func newSender(c *client, stats *counters, log *slog.Logger) *sender {
	return &sender{c: c, stats: stats, log: log, rejectLog: newLimiter(10 * time.Second), cutLog: newLimiter(10 * time.Second)}
}

// ship sends b until the server has confirmed it, then records it with
// t.confirm. A batch the server finds too large is split in halves at a
// line boundary, each half with its own key: the whole was not stored, so
// nothing is duplicated. A single line that is still too large is skipped.
// On error (ctx ended, or a ServerError) the unconfirmed part of b must be
// sent again, from the last confirmed offset.
func (s *sender) ship(ctx context.Context, t *target, b *batch) error {
	if len(b.lines) == 0 {
		return t.confirm(b.end) // blank lines only
	}
	if err := t.pending(b.start, b.end); err != nil {
		return err
	}
	resp, err := s.c.send(ctx, t.stream, batchKey(t.gen, t.id, b.start, b.end), b)
	switch {
	case errors.Is(err, errTooLarge) && len(b.lines) == 1:
		s.stats.skipped.Add(1)
		s.log.Error("Line is larger than the server accepts, skipped", "source", t.name,
			"offset", b.lines[0].off, "bytes", len(b.body)-1)
		return t.confirm(b.end)
	case errors.Is(err, errTooLarge):
		mid := b.lines[len(b.lines)/2].off
		s.log.Debug("Batch too large for the server, splitting", "source", t.name, "lines", len(b.lines), "bytes", len(b.body))
		if err := s.ship(ctx, t, b.prefix(mid)); err != nil {
			return err
		}
		return s.ship(ctx, t, b.suffix(mid))
	case err != nil:
		return err
	}
	s.stats.batches.Add(1)
	s.stats.lines.Add(int64(resp.Accepted))
	s.stats.rejected.Add(int64(resp.Rejected))
	if resp.Duplicate {
		s.stats.duplicates.Add(1)
	}
	if resp.Rejected > 0 {
		if ok, suppressed := s.rejectLog.allow(); ok {
			attrs := []any{"source", t.name, "rejected", resp.Rejected, "accepted", resp.Accepted, "suppressed", suppressed}
			if len(resp.Errors) > 0 {
				e := resp.Errors[0]
				if e.Line >= 1 && e.Line <= len(b.lines) {
					attrs = append(attrs, "offset", b.lines[e.Line-1].off)
				}
				attrs = append(attrs, "reason", e.Reason)
			}
			s.log.Warn("Server rejected lines, skipped", attrs...)
		}
	}
	s.log.Debug("Batch confirmed", "source", t.name, "start", b.start, "end", b.end,
		"accepted", resp.Accepted, "rejected", resp.Rejected, "duplicate", resp.Duplicate)
	return t.confirm(b.end)
}

// countCut moves the assembler's count of cut lines into the stats.
func (s *sender) countCut(a *assembler, name string) {
	if a.cut == 0 {
		return
	}
	s.stats.truncated.Add(int64(a.cut))
	if ok, suppressed := s.cutLog.allow(); ok {
		s.log.Warn("Line longer than the limit, cut", "source", name, "limit", a.maxLine, "lines", a.cut, "suppressed", suppressed)
	}
	a.cut = 0
}

// drainContext is ctx without its cancellation, bounded by timeout: for
// sending what was read after ctx ended.
func drainContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), timeout)
}
