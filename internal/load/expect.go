package load

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// expectation is one compiled check of the expect plugin.
type expectation struct {
	kind string
	arg  *Value
	re   *regexp.Regexp
}

var expectKinds = map[string]bool{
	"statusCode": true, "notStatusCode": true, "contentType": true, "hasProperty": true,
	"notHasProperty": true, "equals": true, "hasHeader": true, "headerEquals": true, "matchesRegexp": true,
}

func compileExpects(v any) ([]expectation, error) {
	var list []map[string]any
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("[%d]: must be a mapping", i)
			}
			list = append(list, m)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			list = append(list, map[string]any{k: x[k]})
		}
	default:
		return nil, fmt.Errorf("must be a list")
	}
	var out []expectation
	for i, m := range list {
		for k, arg := range m {
			if !expectKinds[k] {
				return nil, fmt.Errorf("[%d]: expectation %q is not supported", i, k)
			}
			val, err := CompileValue(arg)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			e := expectation{kind: k, arg: val}
			if k == "matchesRegexp" {
				re, err := regexp.Compile(fmt.Sprint(arg))
				if err != nil {
					return nil, fmt.Errorf("[%d]: %w", i, err)
				}
				e.re = re
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// expectResult is the outcome of one expectation.
type expectResult struct {
	ok       bool
	kind     string
	expected string
	got      string
}

func text(x any) string { return string(appendText(nil, x, true)) }

func (e *expectation) check(rc *responseCtx, vars *Vars) expectResult {
	arg := e.arg.Eval(vars)
	res := expectResult{kind: e.kind, expected: text(arg)}
	resp := rc.resp
	switch e.kind {
	case "statusCode", "notStatusCode":
		got := fmt.Sprint(resp.StatusCode)
		res.got = got
		match := false
		if list, ok := arg.([]any); ok {
			for _, x := range list {
				if text(x) == got {
					match = true
				}
			}
		} else {
			match = text(arg) == got
		}
		res.ok = match == (e.kind == "statusCode")
	case "contentType":
		ct := resp.Header.Get("Content-Type")
		res.got = ct
		want := text(arg)
		if want == "json" {
			res.ok = strings.Contains(ct, "application/json") || strings.Contains(ct, "+json")
		} else {
			res.ok = strings.Contains(ct, want)
		}
	case "hasProperty", "notHasProperty":
		doc, _ := rc.json()
		path, err := parsePath(text(arg))
		has := false
		if err == nil {
			_, has = lookupPath(doc, path)
		}
		res.ok = has == (e.kind == "hasProperty")
	case "equals":
		list, _ := arg.([]any)
		res.ok = len(list) > 0
		for i := 1; i < len(list); i++ {
			if text(list[i]) != text(list[0]) {
				res.ok = false
			}
		}
		if len(list) > 0 {
			res.got = text(list[0])
		}
	case "hasHeader":
		res.ok = len(resp.Header.Values(text(arg))) > 0
	case "headerEquals":
		list, _ := arg.([]any)
		if len(list) >= 2 {
			got := resp.Header.Get(text(list[0]))
			res.got = got
			res.ok = got == text(list[1])
		}
	case "matchesRegexp":
		res.ok = e.re.Match(rc.body)
	}
	return res
}

// expect runs the expect plugin's checks on a response: counters
// plugins.expect.ok/failed(.type), output in the configured format, and
// Artillery's exit code 21 when anything failed.
func (r *runner) expect(rq *request, uri string, rc *responseCtx, v *vu) error {
	cfg := r.script.Config.Expect
	exps := rq.expects
	if len(exps) == 0 && cfg.ExpectDefault200 {
		exps = defaultExpect
	}
	if len(exps) == 0 {
		return nil
	}
	now := time.Now()
	results := make([]expectResult, len(exps))
	failed := false
	for i := range exps {
		results[i] = exps[i].check(rc, v.vars)
		if results[i].ok {
			r.rec.Add("plugins.expect.ok", 1, now)
			r.rec.Add("plugins.expect.ok."+results[i].kind, 1, now)
		} else {
			failed = true
			r.rec.Add("plugins.expect.failed", 1, now)
			r.rec.Add("plugins.expect.failed."+results[i].kind, 1, now)
		}
	}
	r.printExpect(cfg.OutputFormat, rq, uri, results, failed)
	if !failed {
		return nil
	}
	r.expectFailed.Store(true)
	if cfg.ReportFailuresAsErrors {
		name := uri
		if rq.name != "" {
			name = rq.name
		}
		return &vuError{code: "Failed expectations for request " + name}
	}
	return nil
}

var defaultExpect = []expectation{{kind: "statusCode", arg: &Value{lit: 200}}}

func (r *runner) printExpect(format string, rq *request, uri string, results []expectResult, failed bool) {
	switch format {
	case "silent":
		return
	case "prettyError":
		if !failed {
			return
		}
	case "json":
		type res struct {
			OK       bool   `json:"ok"`
			Type     string `json:"type"`
			Expected string `json:"expected"`
			Got      string `json:"got"`
		}
		out := struct {
			OK      bool   `json:"ok"`
			Name    string `json:"name,omitempty"`
			URL     string `json:"url"`
			Results []res  `json:"results"`
		}{OK: !failed, Name: rq.name, URL: uri}
		for _, x := range results {
			out.Results = append(out.Results, res{x.ok, x.kind, x.expected, x.got})
		}
		b, _ := json.Marshal(out)
		r.out.line(string(b))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "* %s %s", rq.method, uri)
	if rq.name != "" {
		fmt.Fprintf(&b, " (%s)", rq.name)
	}
	b.WriteString("\n")
	for _, x := range results {
		if x.ok {
			fmt.Fprintf(&b, "  ok %s %s\n", x.kind, x.expected)
		} else {
			fmt.Fprintf(&b, "  not ok %s %s (got %s)\n", x.kind, x.expected, x.got)
		}
	}
	r.out.line(strings.TrimSuffix(b.String(), "\n"))
}
