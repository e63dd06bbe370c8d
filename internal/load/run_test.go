package load

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/mock"
)

const sessionsStub = `{"request": {"method": "POST", "urlPath": "/sessions"},
  "response": {"status": 201, "jsonBody": {"created": true}, "headers": {"Content-Type": "application/json"}}}`

const sessionsCSV = `Load testing,Ada,Lovelace,Analytical Engines,London
Observability,Grace,Hopper,Navy,Arlington
Go,Rob,Pike,Bell Labs,Murray Hill
`

// rampScript is the script, verbatim but for the target.
const rampScript = `
config:
  target: "{{TARGET}}"
  phases:
    - duration: 120
      arrivalRate: 1
      rampTo: 10
      name: "Ramp up to warm up the application"
  payload:
    path: "sessions.csv"
    fields: ["subject", "firstName", "lastName", "companyName", "companyCity"]
scenarios:
  - flow:
      - post:
          url: "/sessions"
          json:
            subject: "{{ subject }}"
            duration: 20
            speaker: { firstName: "{{ firstName }}", lastName: "{{ lastName }}",
                       company: { companyName: "{{ companyName }}", companyCity: "{{ companyCity }}" } }
`

func TestRampScriptAgainstMock(t *testing.T) {
	t.Parallel()
	srv, url := startMock(t, sessionsStub)
	dir := writeFiles(t, map[string]string{"sessions.csv": sessionsCSV})
	// 120 s of plan in 6 s: the arrival counts are those of the full ramp.
	res, out := runYAML(t, dir, rampScript, url, Options{Speed: 20, Seed: 7})

	require.EqualValues(t, 660, counter(res, "vusers.created"))
	require.EqualValues(t, 660, counter(res, "vusers.created_by_name.0"))
	require.EqualValues(t, 660, counter(res, "vusers.completed"))
	require.EqualValues(t, 0, counter(res, "vusers.failed"))
	require.EqualValues(t, 660, counter(res, "http.requests"))
	require.EqualValues(t, 660, counter(res, "http.responses"))
	require.EqualValues(t, 660, counter(res, "http.codes.201"))
	require.Equal(t, 660, countRequests(t, srv, "POST", "/sessions"))
	require.EqualValues(t, 660, res.Report.Aggregate.Summaries["http.response_time"].Count)
	require.EqualValues(t, 660, res.Report.Aggregate.Summaries["http.service_time"].Count)
	require.Contains(t, out, "Phase started: Ramp up to warm up the application (index: 0, duration: 120s)")
	require.Contains(t, out, "Phase completed: Ramp up to warm up the application")
	require.Contains(t, out, "http.codes.201: ")
	require.Equal(t, ExitOK, res.ExitCode)

	// Bodies are the script's JSON with one CSV row each, numbers kept.
	rows := map[string]int{}
	for _, ev := range srv.Requests() {
		var body struct {
			Subject  string `json:"subject"`
			Duration int    `json:"duration"`
			Speaker  struct {
				FirstName string `json:"firstName"`
				LastName  string `json:"lastName"`
				Company   struct {
					CompanyName string `json:"companyName"`
					CompanyCity string `json:"companyCity"`
				} `json:"company"`
			} `json:"speaker"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.Request.Body), &body), ev.Request.Body)
		require.Equal(t, 20, body.Duration)
		require.Equal(t, "application/json", headerValue(ev.Request.Headers, "content-type"))
		rows[body.Subject+"|"+body.Speaker.FirstName+"|"+body.Speaker.LastName+"|"+body.Speaker.Company.CompanyName+"|"+body.Speaker.Company.CompanyCity]++
	}
	require.Len(t, rows, 3)
	for row, n := range rows {
		require.Contains(t, []string{
			"Load testing|Ada|Lovelace|Analytical Engines|London",
			"Observability|Grace|Hopper|Navy|Arlington",
			"Go|Rob|Pike|Bell Labs|Murray Hill",
		}, row)
		require.Greater(t, n, 120, "random rows are roughly uniform: %s", row)
	}
}

// documentedProcessor holds the hooks the reference's annotated example
// names.
const documentedProcessor = `
module.exports = { setup: setup, computeSomething: computeSomething };
function setup(context, events, done) {
  context.vars.fromSetup = "yes";
  return done();
}
function computeSomething(context, events, done) {
  events.emit("counter", "custom.computed", 1);
  events.emit("histogram", "custom.value", 42);
  return done();
}
`

// documentedExample is the annotated example of the reference (section
// 1.1), every key kept, with shorter phases and local targets.
const documentedExample = `
config:
  target: "http://127.0.0.1:1"
  phases:
    - { name: warmup,  duration: 1,  arrivalRate: 5 }
    - { name: ramp,    duration: "2s", arrivalRate: 2, rampTo: 4 }
    - { name: fixed,   duration: 1,  arrivalCount: 4 }
    - { name: cooldown, pause: 1 }
    - { name: capped,  duration: 1, arrivalRate: 5, maxVusers: 200 }
  payload:
    - path: "users.csv"
      fields: ["username", "password"]
      order: sequence
      skipHeader: true
      delimiter: ","
    - path: "products.csv"
      loadAll: true
      name: products
      fields: ["sku", "price"]
  variables:
    region: ["eu", "us"]
    apiVersion: "v2"
  http:
    timeout: 10
    pool: 50
    maxSockets: 1
    extendedMetrics: true
    defaults:
      headers: { x-api-key: "{{ $env.API_KEY }}" }
      cookie: { session: abc }
      strictCapture: true
      think: { jitter: "20%" }
  defaults:
    headers: { user-agent: "my-loadtest" }
  processor: "./functions.js"
  environments: { staging: { target: "{{TARGET}}" } }
  plugins:
    expect: { outputFormat: prettyError, expectDefault200: false, reportFailuresAsErrors: false }
    ensure: {}
    metrics-by-endpoint: { useOnlyRequestNames: true }
  ensure:
    thresholds:
      - http.response_time.p99: 5000
      - http.response_time.p95: 5000
    conditions:
      - expression: "vusers.failed == 0 and vusers.created == 20"
        strict: true
    maxErrorRate: 1
    p95: 5000
before: { flow: [ { post: { url: "/auth", json: {u: a}, capture: { json: "$.token", as: token } } } ] }
scenarios:
  - name: "browse and buy"
    weight: 7
    beforeScenario: "setup"
    flow:
      - get:
          url: "/products?region={{ region }}"
          name: "list products"
          qs: { page: "{{ $randomNumber(1,10) }}" }
          headers: { accept: application/json }
          capture:
            - json: "$.items[0].id"
              as: productId
            - header: "x-request-id"
              as: reqId
            - regexp: "sku-(\\d+)"
              group: 1
              as: sku
              strict: false
          expect:
            - statusCode: 200
            - contentType: json
            - hasProperty: items
      - think: 2
      - post:
          url: "/cart"
          json: { productId: "{{ productId }}", qty: 1, token: "{{ token }}", user: "{{ username }}", setup: "{{ fromSetup }}" }
          ifTrue: "productId"
      - put:    { url: "/cart/{{ productId }}", body: "raw" }
      - patch:  { url: "/cart/{{ productId }}", form: { qty: "2" } }
      - delete: { url: "/cart/{{ productId }}" }
      - loop:
          - get: { url: "/products/{{ $loopElement }}" }
        over: [ "a1", "b2" ]
      - log: "VU {{ $uuid }} done, reqId={{ reqId }}, sku={{ sku }}, first={{ products[0].sku }}"
      - function: "computeSomething"
`

func TestDocumentedExample(t *testing.T) {
	t.Setenv("API_KEY", "secret-key")
	srv, url := startMock(t,
		`{"request": {"method": "POST", "urlPath": "/auth"}, "response": {"status": 200, "jsonBody": {"token": "tok-1"}}}`,
		`{"request": {"method": "GET", "urlPath": "/products"}, "response": {"status": 200,
		  "body": "{\"items\": [{\"id\": 42, \"name\": \"sku-123\"}]}",
		  "headers": {"Content-Type": "application/json", "x-request-id": "req-9"}}}`,
		`{"request": {"method": "ANY", "urlPathPattern": "/cart.*"}, "response": {"status": 204}}`,
		`{"request": {"method": "GET", "urlPathPattern": "/products/.*"}, "response": {"status": 200, "body": "{}"}}`,
	)
	dir := writeFiles(t, map[string]string{
		"functions.js": documentedProcessor,
		"users.csv":    "username,password\nada,pw1\ngrace,pw2\n",
		"products.csv": "P-1,10\nP-2,20\n",
	})
	res, out := runYAML(t, dir, documentedExample, url, Options{Speed: 4, Seed: 1, Environment: "staging"})

	// warmup 5 + ramp (2 + 4) + fixed 4 + capped 5 arrivals.
	require.EqualValues(t, 20, counter(res, "vusers.created"), out)
	require.EqualValues(t, 20, counter(res, "vusers.completed"), out)
	require.EqualValues(t, 20, counter(res, "vusers.created_by_name.browse and buy"))
	// 7 requests per virtual user, plus the before flow's one.
	require.EqualValues(t, 141, counter(res, "http.requests"))
	require.EqualValues(t, 61, counter(res, "http.codes.200"))
	require.EqualValues(t, 80, counter(res, "http.codes.204"))
	require.EqualValues(t, 60, counter(res, "plugins.expect.ok"))
	require.EqualValues(t, 20, counter(res, "plugins.expect.ok.statusCode"))
	require.EqualValues(t, 0, counter(res, "plugins.expect.failed"))
	require.EqualValues(t, 20, counter(res, "custom.computed"))
	require.EqualValues(t, 20, res.Report.Aggregate.Summaries["custom.value"].Count)
	require.InDelta(t, 42, res.Report.Aggregate.Summaries["custom.value"].P99, 0.1)
	require.Equal(t, 1, countRequests(t, srv, "POST", "/auth"))
	require.Equal(t, 20, countRequests(t, srv, "PUT", "/cart/42"))
	require.Equal(t, 20, countRequests(t, srv, "PATCH", "/cart/42"))
	require.Equal(t, 20, countRequests(t, srv, "DELETE", "/cart/42"))
	require.Equal(t, 20, countRequests(t, srv, "GET", "/products/a1"))
	require.Equal(t, 20, countRequests(t, srv, "GET", "/products/b2"))
	require.Len(t, res.Checks, 5)
	for _, c := range res.Checks {
		require.True(t, c.OK, c.Text)
	}
	require.Equal(t, ExitOK, res.ExitCode)
	require.Contains(t, out, "ok: vusers.failed == 0 and vusers.created == 20")
	require.Regexp(t, `VU [0-9a-f-]{36} done, reqId=req-9, sku=123, first=P-1`, out)
	require.Contains(t, out, `Warning: plugin "metrics-by-endpoint" is not supported and is ignored`)
	require.Contains(t, out, "Warning: http.extendedMetrics is not supported")

	users := map[string]int{}
	for _, ev := range srv.Requests() {
		r := ev.Request
		require.Equal(t, "secret-key", headerValue(r.Headers, "x-api-key"), r.URL)
		require.Equal(t, "my-loadtest", headerValue(r.Headers, "user-agent"), r.URL)
		switch {
		case r.Method == "GET" && strings.HasPrefix(r.URL, "/products?"):
			require.Regexp(t, `^/products\?region=(eu|us)&page=([1-9]|10)$`, r.URL)
		case r.Method == "POST" && r.URL == "/cart":
			var body map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.Body), &body))
			require.Equal(t, float64(42), body["productId"])
			require.Equal(t, "tok-1", body["token"])
			require.Equal(t, "yes", body["setup"])
			users[body["user"].(string)]++
		case r.Method == "PATCH":
			require.Equal(t, "qty=2", r.Body)
		case r.Method == "PUT":
			require.Equal(t, "raw", r.Body)
		}
	}
	// order: sequence over two rows: each row exactly every other user.
	require.Equal(t, map[string]int{"ada": 10, "grace": 10}, users)
}

// stallServer stalls every request that arrives in the first stall of
// every period until the stall ends.
type stallServer struct {
	start        time.Time
	period, stop time.Duration
}

func (s *stallServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if in := time.Since(s.start) % s.period; in < s.stop {
		time.Sleep(s.stop - in)
	}
	_, _ = w.Write([]byte("ok"))
}

// trueLatency is the latency a request intended at t must see from a
// server that answers instantly except during its stalls.
func (s *stallServer) trueLatency(t time.Time) time.Duration {
	if in := t.Sub(s.start) % s.period; in >= 0 && in < s.stop {
		return s.stop - in
	}
	return 0
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func TestCoordinatedOmissionCorrection(t *testing.T) {
	// 500 requests/s over 4 connections for 4 s against a server that
	// stalls 200 ms every 2 s: 10% of the requests are intended during a
	// stall, so the true p99 is about 180 ms, while the requests actually
	// on the wire during a stall (the ones the service time sees) are
	// only the 4 per stall that hold a connection.
	stall := &stallServer{start: time.Now(), period: 2 * time.Second, stop: 200 * time.Millisecond}
	ts := httptest.NewServer(stall)
	defer ts.Close()
	script := `
config:
  target: "{{TARGET}}"
  http: { pool: 4 }
  phases:
    - { duration: 4, arrivalRate: 500 }
scenarios:
  - flow:
      - get: { url: "/" }
`
	res, _ := runYAML(t, t.TempDir(), script, ts.URL, Options{})
	require.EqualValues(t, 2000, counter(res, "http.codes.200"))
	require.EqualValues(t, 2000, counter(res, "vusers.completed"))

	phases := []Phase{{Duration: 4 * time.Second, ArrivalRate: 500, kind: phaseRate}}
	sched := NewSchedule(phases)
	var truth []time.Duration
	for {
		a, ok := sched.Next()
		if !ok {
			break
		}
		truth = append(truth, stall.trueLatency(res.Info.Start.Add(a.At)))
	}
	sort.Slice(truth, func(i, j int) bool { return truth[i] < truth[j] })
	want := float64(quantile(truth, 0.99)) / float64(time.Millisecond)
	require.Greater(t, want, 150.0, "the schedule crosses two stalls")

	agg := res.Report.Aggregate.Summaries
	got := agg["http.response_time"].P99
	late := counter(res, "vusers.late")
	t.Logf("p99 corrected %.1f ms, true %.1f ms, service-time p99 %.1f ms, late arrivals %d", got, want, agg["http.service_time"].P99, late)
	require.GreaterOrEqual(t, got, want*0.8, "the correction sees the stalls")
	if late > 20 {
		// The generator itself was not scheduled on time (a loaded
		// machine): the extra latency is real and rightly reported, but
		// the schedule's truth no longer bounds it from above.
		t.Logf("%d arrivals started late: upper bound not checked", late)
	} else {
		require.InDelta(t, want, got, want*0.2+5, "corrected p99 matches the schedule")
	}
	require.Less(t, agg["http.service_time"].P99, want/2, "service time hides the stall (coordinated omission)")
}

func TestCapturesAndStrictFailure(t *testing.T) {
	t.Parallel()
	srv, url := startMock(t,
		`{"request": {"method": "GET", "urlPath": "/login"}, "response": {"status": 200,
		  "body": "{\"user\": {\"id\": 7, \"roles\": [\"admin\"]}, \"session\": \"s-xyz\"}",
		  "headers": {"Content-Type": "application/json", "X-Trace": "tr-1"}}}`,
		`{"request": {"method": "GET", "urlPathPattern": "/users/.*"}, "response": {"status": 200, "body": "ok"}}`,
	)
	script := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 3 } ]
scenarios:
  - name: good
    weight: 1
    flow:
      - get:
          url: /login
          capture:
            - { json: "$.user.id", as: id }
            - { json: "$.user.roles[0]", as: role }
            - { regexp: "s-([a-z]+)", group: 1, as: sess }
            - { regexp: "(?P<all>s-[a-z]+)", group: all, as: named }
            - { header: x-trace, as: trace }
            - { json: "$.nothing", as: optional, strict: false }
      - get: { url: "/users/{{ id }}?role={{ role }}&s={{ sess }}&n={{ named }}&t={{ trace }}&o={{ optional }}" }
`
	res, _ := runYAML(t, t.TempDir(), script, url, Options{})
	require.EqualValues(t, 3, counter(res, "vusers.completed"))
	n, err := srv.CountRequests(mock.RequestPattern{Method: "GET", URL: "/users/7?role=admin&s=xyz&n=s-xyz&t=tr-1&o=undefined"})
	require.NoError(t, err)
	require.Equal(t, 3, n)

	strict := strings.Replace(script, `strict: false }`, `strict: true }`, 1)
	res, _ = runYAML(t, t.TempDir(), strict, url, Options{})
	require.EqualValues(t, 3, counter(res, "vusers.failed"))
	require.EqualValues(t, 0, counter(res, "vusers.completed"))
	require.EqualValues(t, 3, counter(res, "errors.Failed capture or match"))
	require.EqualValues(t, 3, counter(res, "http.requests"), "the flow stops at the failed capture")
}

func TestEnsureAndExpectExitCodes(t *testing.T) {
	t.Parallel()
	_, url := startMock(t,
		`{"request": {"method": "GET", "urlPath": "/ok"}, "response": {"status": 200, "body": "{\"a\":1}", "headers": {"Content-Type": "application/json"}}}`,
		`{"request": {"method": "GET", "urlPath": "/teapot"}, "response": {"status": 418}}`,
	)
	base := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 4 } ]
%s
scenarios:
  - flow:
      - get:
          url: /ok
          expect:
            - statusCode: 200
            - hasProperty: a
      - get:
          url: /teapot
          expect:
            - statusCode: %s
`
	cases := []struct {
		name, cfg, code string
		exit            int
		failedChecks    []string
	}{
		{"all good", "  plugins: { expect: { outputFormat: silent } }", "418", ExitOK, nil},
		{"expectation fails", "  plugins: { expect: { outputFormat: silent } }", "200", ExitExpectFailed, nil},
		{"threshold fails", `  plugins: { expect: { outputFormat: silent } }
  ensure:
    thresholds:
      - http.codes.418: 4
      - http.response_time.max: 100000`, "418", ExitEnsureFailed, []string{"http.codes.418 < 4"}},
		{"ensure beats expect", `  plugins: { expect: { outputFormat: silent } }
  ensure:
    conditions:
      - expression: "http.codes.200 == 5 and vusers.failed == 0"
      - expression: "http.codes.418 > 100"
        strict: false
    maxErrorRate: 0`, "200", ExitEnsureFailed, []string{"http.codes.200 == 5 and vusers.failed == 0", "http.codes.418 > 100 (optional)"}},
		{"optional condition only", `  ensure:
    conditions:
      - expression: "http.codes.418 > 100"
        strict: false`, "418", ExitOK, []string{"http.codes.418 > 100 (optional)"}},
		{"report failures as errors", `  plugins: { expect: { outputFormat: silent, reportFailuresAsErrors: true } }
  ensure: { maxErrorRate: 0 }`, "200", ExitEnsureFailed, []string{"maxErrorRate < 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, out := runYAML(t, t.TempDir(), strings.Replace(strings.Replace(base, "%s", c.cfg, 1), "%s", c.code, 1), url, Options{})
			require.Equal(t, c.exit, res.ExitCode, out)
			var failed []string
			for _, ch := range res.Checks {
				if !ch.OK {
					failed = append(failed, ch.Text)
				}
			}
			if c.failedChecks != nil {
				require.Equal(t, c.failedChecks, failed)
			}
			if c.name == "expectation fails" {
				require.EqualValues(t, 4, counter(res, "plugins.expect.failed.statusCode"))
				require.EqualValues(t, 8, counter(res, "plugins.expect.ok"))
			}
			if c.name == "report failures as errors" {
				require.EqualValues(t, 4, counter(res, "errors.Failed expectations for request /teapot"))
			}
		})
	}
}

func TestPayloadOrders(t *testing.T) {
	t.Parallel()
	srv, url := startMock(t, `{"request": {"method": "GET", "urlPath": "/p"}, "response": {"status": 200}}`)
	script := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 9 } ]
  payload:
    path: rows.csv
    fields: [id, name]
    order: %s
    skipHeader: true
  variables:
    fixed: constant
scenarios:
  - flow:
      - get: { url: "/p?id={{ id }}&name={{ name }}&fixed={{ fixed }}" }
`
	dir := writeFiles(t, map[string]string{"rows.csv": "id,name\n1,one\n2,two\n3,three\n"})
	seen := func() map[string]int {
		out := map[string]int{}
		for _, ev := range srv.Requests() {
			out[ev.Request.URL]++
		}
		srv.ResetRequests()
		return out
	}
	runYAML(t, dir, strings.Replace(script, "%s", "sequence", 1), url, Options{MaxWorkers: 1})
	require.Equal(t, map[string]int{
		"/p?id=1&name=one&fixed=constant":   3,
		"/p?id=2&name=two&fixed=constant":   3,
		"/p?id=3&name=three&fixed=constant": 3,
	}, seen())

	// Random rows are reproducible with a seed.
	random := strings.Replace(script, "%s", "random", 1)
	runYAML(t, dir, random, url, Options{Seed: 42})
	first := seen()
	runYAML(t, dir, random, url, Options{Seed: 42})
	require.Equal(t, first, seen())
	total := 0
	for u, n := range first {
		require.Regexp(t, `^/p\?id=[123]&name=(one|two|three)&fixed=constant$`, u)
		total += n
	}
	require.Equal(t, 9, total)
}

func TestLoops(t *testing.T) {
	t.Parallel()
	srv, url := startMock(t, `{"request": {"method": "GET", "urlPathPattern": "/l.*"}, "response": {"status": 200}}`)
	script := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 2 } ]
  variables:
    colours: [[red, green]]
scenarios:
  - flow:
      - loop:
          - get: { url: "/lc/{{ $loopCount }}/{{ $loopElement }}" }
        count: 3
      - loop:
          - get: { url: "/lo/{{ $loopCount }}/{{ $loopElement }}" }
        over: [a, b]
      - loop:
          - loop:
              - get: { url: "/ln/{{ $loopElement }}" }
            count: 2
        over: colours
      - loop:
          - get: { url: "/lr" }
        count: "2-4"
`
	res, _ := runYAML(t, t.TempDir(), script, url, Options{})
	require.EqualValues(t, 2, counter(res, "vusers.completed"))
	count := map[string]int{}
	for _, ev := range srv.Requests() {
		count[ev.Request.URL]++
	}
	lr := count["/lr"]
	delete(count, "/lr")
	require.Equal(t, map[string]int{
		"/lc/1/0": 2, "/lc/2/1": 2, "/lc/3/2": 2,
		"/lo/1/a": 2, "/lo/2/b": 2,
		"/ln/0": 4, "/ln/1": 4,
	}, count)
	require.True(t, lr >= 4 && lr <= 8, "count range 2-4 per user: %d", lr)
}

func TestWeightedScenarios(t *testing.T) {
	t.Parallel()
	_, url := startMock(t, `{"request": {"method": "GET", "urlPathPattern": "/w.*"}, "response": {"status": 200}}`)
	script := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 1000 } ]
scenarios:
  - { name: rare, weight: 1, flow: [ { get: { url: /w1 } } ] }
  - { name: some, weight: 2, flow: [ { get: { url: /w2 } } ] }
  - { weight: 7, flow: [ { get: { url: /w7 } } ] }
`
	res, _ := runYAML(t, t.TempDir(), script, url, Options{Seed: 3, Speed: 2})
	rare, some, most := counter(res, "vusers.created_by_name.rare"), counter(res, "vusers.created_by_name.some"), counter(res, "vusers.created_by_name.2")
	require.EqualValues(t, 1000, rare+some+most)
	// Binomial bounds at five standard deviations.
	for _, c := range []struct {
		got int64
		p   float64
	}{{rare, 0.1}, {some, 0.2}, {most, 0.7}} {
		sd := math.Sqrt(1000 * c.p * (1 - c.p))
		require.InDelta(t, 1000*c.p, float64(c.got), 5*sd, "weight share %.1f", c.p)
	}
	again, _ := runYAML(t, t.TempDir(), script, url, Options{Seed: 3, Speed: 2})
	require.Equal(t, rare, counter(again, "vusers.created_by_name.rare"), "same seed, same picks")
}

func TestMaxVusersAndErrors(t *testing.T) {
	t.Parallel()
	// A server that holds every request until released: with maxVusers 3
	// the other arrivals of the phase are skipped.
	release := make(chan struct{})
	var once sync.Once
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer held.Close()
	defer once.Do(func() { close(release) })
	script := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 10, maxVusers: 3 } ]
scenarios:
  - flow: [ { get: { url: / } } ]
`
	go func() {
		time.Sleep(1500 * time.Millisecond)
		once.Do(func() { close(release) })
	}()
	res, out := runYAML(t, t.TempDir(), script, held.URL, Options{})
	require.EqualValues(t, 3, counter(res, "vusers.created"), out)
	require.EqualValues(t, 7, counter(res, "vusers.skipped"))
	require.EqualValues(t, 3, counter(res, "http.codes.200"))

	// A closed port: ECONNREFUSED fails every user.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	// http.timeout: a stalled response is errors.ETIMEDOUT.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	for _, std := range []bool{false, true} {
		res, _ = runYAML(t, t.TempDir(), strings.Replace(script, ", maxVusers: 3", "", 1), closed, Options{NetHTTP: std})
		require.EqualValues(t, 10, counter(res, "errors.ECONNREFUSED"), "net/http=%v", std)
		require.EqualValues(t, 10, counter(res, "vusers.failed"))
		require.EqualValues(t, 10, counter(res, "http.requests"))
		require.EqualValues(t, 0, counter(res, "http.responses"))

		res, _ = runYAML(t, t.TempDir(), `
config:
  target: "{{TARGET}}"
  http: { timeout: 0.3 }
  phases: [ { duration: 1, arrivalCount: 2 } ]
scenarios:
  - flow: [ { get: { url: / } } ]
`, slow.URL, Options{NetHTTP: std})
		require.EqualValues(t, 2, counter(res, "errors.ETIMEDOUT"), "net/http=%v: %v", std, res.Report.Aggregate.Counters)
		require.EqualValues(t, 2, counter(res, "vusers.failed"))
	}
}

func TestThinkAndSessionLength(t *testing.T) {
	t.Parallel()
	_, url := startMock(t, `{"request": {"method": "GET", "urlPath": "/t"}, "response": {"status": 200}}`)
	res, _ := runYAML(t, t.TempDir(), `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 2 } ]
scenarios:
  - flow:
      - get: { url: /t }
      - think: "300ms"
      - think: 0.2
      - get: { url: /t }
`, url, Options{})
	s := res.Report.Aggregate.Summaries["vusers.session_length"]
	require.EqualValues(t, 2, s.Count)
	require.GreaterOrEqual(t, s.Min, 500.0, "think times are slept")
}

func TestCancelledRunCountsDropped(t *testing.T) {
	t.Parallel()
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer held.Close()
	for _, std := range []bool{false, true} {
		s, err := Parse([]byte(`
config:
  target: "`+held.URL+`"
  phases: [ { duration: 10, arrivalRate: 5 } ]
scenarios:
  - flow: [ { get: { url: / } } ]
`), t.TempDir(), "")
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
		start := time.Now()
		res, err := Run(ctx, s, Options{NetHTTP: std})
		cancel()
		require.NoError(t, err)
		// The requests in flight are abandoned, not waited for until
		// http.timeout (10 s).
		require.Less(t, time.Since(start), 8*time.Second)
		created := counter(res, "vusers.created")
		require.Positive(t, created)
		require.EqualValues(t, 50, counter(res, "vusers.dropped")+created, "every planned arrival is accounted for (net/http=%v)", std)
		require.Zero(t, counter(res, "vusers.completed"))
	}
}

func TestMaxLagDropsAndVariablesOverride(t *testing.T) {
	t.Parallel()
	var got sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := r.URL.Query().Get("got"); g != "" {
			got.Store(g, true)
		}
		time.Sleep(100 * time.Millisecond)
		_, _ = io.WriteString(w, r.URL.RawQuery)
	}))
	defer srv.Close()
	script := `
config:
  target: "{{TARGET}}"
  phases: [ { duration: 1, arrivalCount: 20 } ]
  variables: { v: original }
scenarios:
  - flow:
      - get:
          url: "/?v={{ v }}"
          capture: { regexp: "v=(.*)", group: 1, as: got }
      - get: { url: "/?got={{ got }}" }
`
	// One worker, 200 ms per user, an arrival every 50 ms: most arrivals
	// would start far behind schedule and are dropped instead.
	res, _ := runYAML(t, t.TempDir(), script, srv.URL, Options{MaxWorkers: 1, MaxLag: 60 * time.Millisecond, Variables: map[string]any{"v": "override"}})
	created, dropped := counter(res, "vusers.created"), counter(res, "vusers.dropped")
	require.EqualValues(t, 20, created+dropped)
	require.Positive(t, dropped)
	require.Positive(t, counter(res, "vusers.late"))
	require.Equal(t, created, counter(res, "vusers.completed"))
	require.Equal(t, 2*created, counter(res, "http.codes.200"))
	var values []string
	got.Range(func(k, _ any) bool { values = append(values, k.(string)); return true })
	require.Equal(t, []string{"override"}, values, "Options.Variables (--variables) win over config.variables")
}
