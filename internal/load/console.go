package load

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// console writes Artillery 2's console report. It is safe for concurrent
// use: log steps and expect output come from many workers.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *console) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s+"\n")
}

func (c *console) write(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = io.WriteString(c.w, s)
}

// clock formats a time as Artillery does: 14:03:21(+0000).
func clock(t time.Time) string { return t.Format("15:04:05(-0700)") }

func (c *console) phase(what string, p *Phase, now time.Time) {
	c.line(fmt.Sprintf("%s: %s (index: %d, duration: %ss) %s\n", what, p.DisplayName(), p.Index,
		formatNumber(p.Length().Seconds()), clock(now)))
}

// padded is Artillery's util.padded: the name and a colon, dots that fill
// the name to 79 columns, and the value.
func padded(name, value string) string {
	n := 79 - len(name) - 1
	if n < 1 {
		n = 1
	}
	return name + ": " + strings.Repeat(".", n) + " " + value
}

// FormatMetrics renders a period's metrics as Artillery's console reporter
// does: all names sorted, counters as values, rates with /sec, histograms
// as min/max/mean/median/p95/p99 lines.
func FormatMetrics(p Period) string {
	type entry struct {
		name  string
		lines []string
	}
	var entries []entry
	for k, v := range p.Counters {
		entries = append(entries, entry{k, []string{padded(k, fmt.Sprint(v))}})
	}
	for k, v := range p.Rates {
		entries = append(entries, entry{k, []string{padded(k, formatNumber(v)+"/sec")}})
	}
	for k, s := range p.Summaries {
		entries = append(entries, entry{k, []string{
			k + ":",
			padded("  min", formatNumber(s.Min)),
			padded("  max", formatNumber(s.Max)),
			padded("  mean", formatNumber(s.Mean)),
			padded("  median", formatNumber(s.Median)),
			padded("  p95", formatNumber(s.P95)),
			padded("  p99", formatNumber(s.P99)),
		}})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var b strings.Builder
	for _, e := range entries {
		for _, l := range e.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (c *console) period(p Period, interval time.Duration) {
	end := time.UnixMilli(p.Period).Add(interval)
	width := float64(p.LastMetricAt-p.FirstMetricAt) / 1000
	head := "Metrics for period to: " + clock(end)
	rule := strings.Repeat("-", len(head))
	c.write(rule + "\n" + head + fmt.Sprintf(" (width: %ss)", formatNumber(width)) + "\n" + rule + "\n\n" + FormatMetrics(p) + "\n\n")
}

// humanDuration formats a duration as "2 minutes, 1 second".
func humanDuration(d time.Duration) string {
	secs := int64(d.Round(time.Second) / time.Second)
	if secs < 1 {
		return fmt.Sprintf("%d milliseconds", d.Milliseconds())
	}
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	var parts []string
	if h := secs / 3600; h > 0 {
		parts = append(parts, unit(h, "hour"))
	}
	if m := secs % 3600 / 60; m > 0 {
		parts = append(parts, unit(m, "minute"))
	}
	if s := secs % 60; s > 0 || len(parts) == 0 {
		parts = append(parts, unit(s, "second"))
	}
	return strings.Join(parts, ", ")
}

// FormatChecks renders ensure results as Artillery prints them.
func FormatChecks(checks []Check) string {
	if len(checks) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Checks:\n")
	for _, c := range checks {
		if c.OK {
			b.WriteString("ok: " + c.Text + "\n")
		} else {
			b.WriteString("fail: " + c.Text + "\n")
		}
	}
	return b.String()
}

func (c *console) summary(res *Result, total time.Duration) {
	head := "Summary report @ " + clock(res.End)
	rule := strings.Repeat("-", len(head))
	s := fmt.Sprintf("All VUs finished. Total time: %s\n\n%s\n%s\n%s\n\n%s", humanDuration(total), rule, head, rule,
		FormatMetrics(res.Report.Aggregate))
	if ch := FormatChecks(res.Checks); ch != "" {
		s += "\n" + ch
	}
	c.write(s)
}
