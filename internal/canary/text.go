package canary

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes a run for people: the verdict, then each step with its
// status, time, timing breakdown (one line per request when a step
// redirected) and conditions.
func WriteText(w io.Writer, run *Run) error {
	var b strings.Builder
	verdict := "PASSED"
	if !run.Success {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "canary %s (%s): %s in %s\n", run.Canary, run.Kind, verdict, msText(run.DurationMs))
	if run.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", run.Error)
	}
	for _, st := range run.Steps {
		mark := "ok  "
		switch {
		case st.Skipped:
			mark = "skip"
		case !st.Success:
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s", mark, st.Name)
		if st.Skipped {
			b.WriteString("\n")
			continue
		}
		if st.URL != "" && st.URL != st.Name {
			fmt.Fprintf(&b, ": %s %s", st.Method, st.URL)
		}
		status := "no response"
		if st.Status != 0 {
			status = fmt.Sprint(st.Status)
		}
		fmt.Fprintf(&b, " -> %s in %s", status, msText(st.DurationMs))
		if st.FoundOn != "" {
			fmt.Fprintf(&b, " (depth %d, linked from %s)", st.Depth, st.FoundOn)
		}
		b.WriteString("\n")
		if st.Error != "" && !st.Success {
			fmt.Fprintf(&b, "       error: %s\n", st.Error)
		}
		for _, rq := range st.Requests {
			prefix := "timing"
			if len(st.Requests) > 1 {
				prefix = fmt.Sprintf("%s %s -> %d", rq.Method, rq.URL, rq.Status)
			}
			fmt.Fprintf(&b, "       %s: %s\n", prefix, timingText(rq.Timings))
		}
		for _, c := range st.Conditions {
			res := "pass"
			if !c.Success {
				res = "FAIL"
			}
			fmt.Fprintf(&b, "       [%s] %s\n", res, c.Condition)
		}
	}
	if run.LinksSkipped > 0 {
		fmt.Fprintf(&b, "  %d more link(s) not checked: max_links reached\n", run.LinksSkipped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// timingText writes the phases that happened.
func timingText(t Timings) string {
	var parts []string
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"blocked", t.BlockedMs}, {"dns", t.DNSMs}, {"connect", t.ConnectMs}, {"tls", t.TLSMs},
		{"send", t.SendMs}, {"ttfb", t.WaitMs}, {"download", t.ReceiveMs},
	} {
		if p.v >= 0 {
			parts = append(parts, p.name+" "+msText(p.v))
		}
	}
	return strings.Join(parts, ", ")
}

func msText(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}
