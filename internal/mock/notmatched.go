package mock

import (
	"net/http"
	"slices"
	"strings"
)

// noStubsMessage is WireMock's answer when it has no stubs at all.
const noStubsMessage = "No response could be served as there are no stub mappings in this WireMock instance."

// diffRow is one line of the "Request was not matched" report: what the
// closest stub expects beside what the request had.
type diffRow struct {
	expected, actual, mismatch string // mismatch is empty when the part matched
	// weight is the part's share in the distance between request and stub:
	// as in WireMock, the URL counts most, then the method.
	weight float64
}

// writeNotMatched answers an unmatched request with a 404 whose body
// compares it with the closest stub, like WireMock's plain-text diff, so that
// a failing smoke test says why.
func (s *Server) writeNotMatched(w http.ResponseWriter, r *loggedRequest, c *bodyCache) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNotFound)
	list := *s.stubs.Load()
	if len(list) == 0 {
		_, _ = w.Write([]byte(noStubsMessage + "\n"))
		return
	}
	var best []diffRow
	bestDistance := 2.0
	for _, st := range list {
		rows := s.diff(st, r, c)
		var missed, total float64
		for _, row := range rows {
			total += row.weight
			if row.mismatch != "" {
				missed += row.weight
			}
		}
		if d := missed / total; d < bestDistance {
			best, bestDistance = rows, d
		}
	}
	_, _ = w.Write([]byte(renderDiff(best)))
}

// diff compares a request with every part of one stub.
func (s *Server) diff(st *stub, r *loggedRequest, c *bodyCache) []diffRow {
	m := st.req
	var rows []diffRow
	add := func(expected, actual string, ok bool, what string) {
		row := diffRow{expected: expected, actual: actual, weight: 1}
		switch what {
		case "URL":
			row.weight = 10
		case "HTTP method":
			row.weight = 3
		}
		if !ok {
			row.mismatch = what + " does not match"
		}
		rows = append(rows, row)
	}
	if st.mapping.Name != "" {
		rows = append(rows, diffRow{expected: st.mapping.Name}, diffRow{})
	}
	method := m.method
	if method == "" {
		method = "ANY"
	}
	add(method, r.method, m.method == "" || m.method == r.method, "HTTP method")
	actualURL := r.uri
	if m.url.kind == urlPathEqual || m.url.kind == urlPathRegex || m.url.kind == urlPathTemplate {
		actualURL = r.path
	}
	add(m.url.String(), actualURL, m.url.match(r) && (len(m.pathParams) == 0 || m.matchPathParams(r)), "URL")
	if sc := st.mapping.ScenarioName; sc != "" && st.mapping.RequiredScenarioState != "" {
		state := s.scenarios.state(sc)
		add("[Scenario "+sc+" state: "+st.mapping.RequiredScenarioState+"]", "[Scenario "+sc+" state: "+state+"]",
			state == st.mapping.RequiredScenarioState, "Scenario state")
	}
	rows = append(rows, diffRow{})
	for _, h := range m.headers {
		vals := r.headerValues(h.name)
		add(h.name+": "+h.m.describe, h.name+": "+strings.Join(vals, ", "), h.m.matchValues(vals), "Header")
	}
	if m.basicAuth != "" {
		vals := r.header["Authorization"]
		add("Authorization: "+m.basicAuth, "Authorization: "+strings.Join(vals, ", "),
			slices.Contains(vals, m.basicAuth), "Basic auth")
	}
	for _, q := range m.query {
		vals := appendQueryValues(nil, r.rawQuery, q.name)
		add("Query: "+q.name+" = "+q.m.describe, q.name+": "+strings.Join(vals, ", "), q.m.matchValues(vals), "Query")
	}
	for _, ck := range m.cookies {
		vals := appendCookieValues(nil, r.header["Cookie"], ck.name)
		add("Cookie: "+ck.name+" = "+ck.m.describe, ck.name+": "+strings.Join(vals, ", "), ck.m.matchValues(vals), "Cookie")
	}
	for _, f := range m.form {
		vals := appendQueryValues(nil, c.text(), f.name)
		add("Form: "+f.name+" = "+f.m.describe, f.name+": "+strings.Join(vals, ", "), f.m.matchValues(vals), "Form")
	}
	if len(m.body) > 0 {
		rows = append(rows, diffRow{})
		for _, b := range m.body {
			add(b.String(), c.text(), b.match(c.text(), true, c), "Body")
		}
	}
	return rows
}

const (
	diffColumn = 58
	diffRule   = "-----------------------------------------------------------------------------------------------------------------------"
)

// renderDiff lays the rows out in WireMock's two-column format.
func renderDiff(rows []diffRow) string {
	var b strings.Builder
	b.WriteString("\n")
	b.WriteString(strings.Repeat(" ", 47) + "Request was not matched\n")
	b.WriteString(strings.Repeat(" ", 47) + "=======================\n\n")
	b.WriteString(diffRule + "\n")
	b.WriteString("| " + pad("Closest stub", diffColumn-1) + "| " + pad("Request", diffColumn-1) + "|\n")
	b.WriteString(diffRule + "\n")
	b.WriteString(pad("", diffColumn+1) + "|\n")
	for _, row := range rows {
		left := wrap(row.expected)
		right := wrap(row.actual)
		for i := 0; i < max(len(left), len(right)); i++ {
			var l, r string
			if i < len(left) {
				l = left[i]
			}
			if i < len(right) {
				r = right[i]
			}
			line := pad(l, diffColumn+1) + "| " + r
			if i == 0 && row.mismatch != "" {
				line = pad(line, 2*diffColumn+2) + "<<<<< " + row.mismatch
			}
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
	}
	b.WriteString(pad("", diffColumn+1) + "|\n")
	b.WriteString(diffRule + "\n")
	return b.String()
}

func pad(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s + " "
}

// wrap splits text into lines that fit one column.
func wrap(s string) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	for line := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		r := []rune(line)
		for len(r) > diffColumn {
			out = append(out, string(r[:diffColumn]))
			r = r[diffColumn:]
		}
		out = append(out, string(r))
	}
	return out
}
