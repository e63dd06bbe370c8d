package load

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// chartSeries is one line of a chart.
type chartSeries struct {
	Name   string
	Color  string
	Points []float64 // NaN = no value
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// svgChart draws a line chart as inline SVG: x is the period index,
// labelled with times.
func svgChart(title, unit string, times []time.Time, series []chartSeries) template.HTML {
	const w, h, left, right, top, bottom = 760, 260, 60, 150, 30, 40
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	maxY := 0.0
	for _, s := range series {
		for _, v := range s.Points {
			if !math.IsNaN(v) && v > maxY {
				maxY = v
			}
		}
	}
	if maxY == 0 {
		maxY = 1
	}
	maxY = niceCeil(maxY)
	n := len(times)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(left) + pw/2
		}
		return float64(left) + pw*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return float64(top) + ph*(1-v/maxY) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, left, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`, left-4, y(v)+4, template.HTMLEscapeString(formatNumber(round1(v))+unit))
	}
	step := 1
	if n > 8 {
		step = (n + 7) / 8
	}
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, x(i), h-bottom+16, times[i].Format("15:04:05"))
	}
	for si, s := range series {
		color := s.Color
		if color == "" {
			color = palette[si%len(palette)]
		}
		var pts []string
		for i, v := range s.Points {
			if math.IsNaN(v) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, strings.Split(pts[0], ",")[0], strings.Split(pts[0], ",")[1], color)
		} else if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, color, strings.Join(pts, " "))
		}
		ly := top + 14*si
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`,
			w-right+10, ly, color, w-right+25, ly+9, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

type htmlRow struct {
	Name  string
	Value string
}

type htmlPage struct {
	Title   string
	Start   string
	End     string
	Charts  []template.HTML
	Metrics []htmlRow
}

var htmlTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}section{margin-bottom:2em}
table{border-collapse:collapse;font-size:13px}td{padding:2px 12px;border-bottom:1px solid #eee}
td:last-child{text-align:right;font-variant-numeric:tabular-nums}svg{max-width:100%;height:auto}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.Start}} &ndash; {{.End}}</p>
{{range .Charts}}<section>{{.}}</section>
{{end}}<section><h2>Summary</h2><table>
{{range .Metrics}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</table></section>
</body></html>
`))

// WriteHTML draws the report as a self-contained HTML page (inline SVG, no
// external assets): latency percentiles, request rate and response codes
// per period, and the aggregate metrics.
func (rp *Report) WriteHTML(w io.Writer, title string) error {
	periods := rp.Intermediate
	times := make([]time.Time, len(periods))
	for i, p := range periods {
		times[i] = time.UnixMilli(p.Period)
	}
	nan := math.NaN()
	pick := func(metric string, f func(Summary) float64) []float64 {
		out := make([]float64, len(periods))
		for i, p := range periods {
			if s, ok := p.Summaries[metric]; ok && s.Count > 0 {
				out[i] = f(s)
			} else {
				out[i] = nan
			}
		}
		return out
	}
	latency := []chartSeries{
		{Name: "p50", Points: pick(mHTTPResponseTime, func(s Summary) float64 { return s.Median })},
		{Name: "p95", Points: pick(mHTTPResponseTime, func(s Summary) float64 { return s.P95 })},
		{Name: "p99", Points: pick(mHTTPResponseTime, func(s Summary) float64 { return s.P99 })},
		{Name: "max", Points: pick(mHTTPResponseTime, func(s Summary) float64 { return s.Max })},
	}
	service := []chartSeries{
		{Name: "p50", Points: pick(mHTTPServiceTime, func(s Summary) float64 { return s.Median })},
		{Name: "p95", Points: pick(mHTTPServiceTime, func(s Summary) float64 { return s.P95 })},
		{Name: "p99", Points: pick(mHTTPServiceTime, func(s Summary) float64 { return s.P99 })},
	}
	rates := []chartSeries{{Name: mHTTPRequestRate, Points: make([]float64, len(periods))}}
	for i, p := range periods {
		if v, ok := p.Rates[mHTTPRequestRate]; ok {
			rates[0].Points[i] = v
		}
	}
	codeSet := map[string]bool{}
	for _, p := range periods {
		for k := range p.Counters {
			if strings.HasPrefix(k, "http.codes.") || strings.HasPrefix(k, mErrors) {
				codeSet[k] = true
			}
		}
	}
	codeNames := make([]string, 0, len(codeSet))
	for k := range codeSet {
		codeNames = append(codeNames, k)
	}
	sort.Strings(codeNames)
	var codes []chartSeries
	for _, k := range codeNames {
		s := chartSeries{Name: strings.TrimPrefix(k, "http.codes."), Points: make([]float64, len(periods))}
		for i, p := range periods {
			s.Points[i] = float64(p.Counters[k])
		}
		codes = append(codes, s)
	}
	page := htmlPage{Title: title}
	if len(times) > 0 {
		page.Start = times[0].Format(time.RFC1123)
		page.End = times[len(times)-1].Format(time.RFC1123)
	}
	page.Charts = append(page.Charts,
		svgChart("Response time (ms, from intended send time)", " ms", times, latency),
		svgChart("Service time (ms, request written to first byte)", " ms", times, service),
		svgChart("Request rate (per second)", "/s", times, rates),
		svgChart("Responses by code, errors by type (per period)", "", times, codes),
	)
	for _, line := range strings.Split(strings.TrimSpace(FormatMetrics(rp.Aggregate)), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			page.Metrics = append(page.Metrics, htmlRow{Name: strings.TrimSuffix(line, ":")})
			continue
		}
		page.Metrics = append(page.Metrics, htmlRow{Name: name, Value: strings.TrimLeft(value, ". ")})
	}
	return htmlTmpl.Execute(w, page)
}

// WriteHTMLFile writes the HTML report to a file.
func (rp *Report) WriteHTMLFile(path, title string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	if err := rp.WriteHTML(f, title); err != nil {
		f.Close()
		return fmt.Errorf("write HTML report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}
