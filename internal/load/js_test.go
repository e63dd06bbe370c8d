package load

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

const hooksJS = `
const helper = require("./helper.js");
let scenarios = 0;

module.exports = {
  init: function (context, events, done) {
    scenarios++;
    context.vars.n = scenarios > 0 ? 1 : 0;
    context.vars.greeting = helper.greet(context.vars.who);
    done();
  },
  addHeader: function (requestParams, context, ee, next) {
    requestParams.headers["x-hook"] = "v-" + context.vars.greeting;
    requestParams.json.extra = 7;
    return next();
  },
  readBody: function (requestParams, response, context, ee, next) {
    const body = JSON.parse(response.body);
    context.vars.fromBody = body.value;
    context.vars.status = response.statusCode;
    context.vars.ct = response.headers["content-type"];
    ee.emit("counter", "hooks.after_response", 1);
    next();
  },
  measure: function (context, events, done) {
    events.emit("counter", "hooks.measured");
    events.emit("histogram", "hooks.size", context.vars.fromBody.length);
    events.emit("rate", "hooks.rate");
    done();
  },
  more: function (context, next) {
    context.vars.rounds = (context.vars.rounds || 0) + 1;
    return next(context.vars.rounds <= 2);
  },
  skip: function (context) {
    return false;
  },
  asyncStep: async function (context, events) {
    context.vars.async = "done";
  },
  failing: function (context, events, done) {
    const err = new Error("boom");
    err.code = "EHOOK";
    done(err);
  },
  throwing: function (context, events, done) {
    throw new Error("thrown");
  },
};
`

const helperJS = `module.exports.greet = function (who) { return "hi " + who; };`

func TestProcessorHooks(t *testing.T) {
	t.Parallel()
	srv, url := startMock(t,
		`{"request": {"method": "POST", "urlPath": "/in"}, "response": {"status": 200,
		  "body": "{\"value\": \"abcd\"}", "headers": {"Content-Type": "application/json"}}}`,
		`{"request": {"method": "GET", "urlPathPattern": "/out.*"}, "response": {"status": 200}}`,
	)
	dir := writeFiles(t, map[string]string{"hooks.js": hooksJS, "helper.js": helperJS})
	script := `
config:
  target: "{{TARGET}}"
  processor: ./hooks.js
  phases: [ { duration: 1, arrivalCount: 3 } ]
  variables:
    who: sonde
scenarios:
  - name: main
    weight: 1
    beforeScenario: init
    flow:
      - post:
          url: /in
          json: { a: 1 }
          beforeRequest: addHeader
          afterResponse: readBody
      - function: measure
      - function: asyncStep
      - loop:
          - get: { url: "/out/loop/{{ rounds }}" }
        whileTrue: more
      - get:
          url: /out/skipped
          ifTrue: skip
      - get:
          url: "/out/cond"
          ifTrue: "status == 200 and n > 0"
      - get: { url: "/out/final?b={{ fromBody }}&s={{ status }}&ct={{ ct }}&a={{ async }}&n={{ n }}" }
`
	res, out := runYAML(t, dir, script, url, Options{})
	require.EqualValues(t, 3, counter(res, "vusers.completed"), out)
	require.EqualValues(t, 3, counter(res, "hooks.after_response"))
	require.EqualValues(t, 3, counter(res, "hooks.measured"))
	require.EqualValues(t, 3, res.Report.Aggregate.Summaries["hooks.size"].Count)
	require.InDelta(t, 4, res.Report.Aggregate.Summaries["hooks.size"].Max, 0.01)
	require.Contains(t, res.Report.Aggregate.Rates, "hooks.rate")

	for _, ev := range srv.Requests() {
		if ev.Request.URL == "/in" {
			require.Equal(t, "v-hi sonde", headerValue(ev.Request.Headers, "x-hook"))
			var body map[string]any
			require.NoError(t, json.Unmarshal([]byte(ev.Request.Body), &body))
			require.Equal(t, map[string]any{"a": float64(1), "extra": float64(7)}, body)
		}
	}
	require.Equal(t, 3, countRequests(t, srv, "GET", "/out/loop/1"))
	require.Equal(t, 3, countRequests(t, srv, "GET", "/out/loop/2"))
	require.Equal(t, 0, countRequests(t, srv, "GET", "/out/loop/3"))
	require.Equal(t, 0, countRequests(t, srv, "GET", "/out/skipped"))
	require.Equal(t, 3, countRequests(t, srv, "GET", "/out/cond"))
	n, err := srv.CountRequests(mockURL("/out/final?b=abcd&s=200&ct=application/json&a=done&n=1"))
	require.NoError(t, err)
	require.Equal(t, 3, n)

	// Errors reported through done(err) and exceptions fail the user.
	for fn, code := range map[string]string{"failing": "errors.EHOOK", "throwing": "errors.thrown"} {
		res, _ := runYAML(t, dir, `
config:
  target: "{{TARGET}}"
  processor: ./hooks.js
  phases: [ { duration: 1, arrivalCount: 2 } ]
scenarios:
  - flow:
      - function: `+fn+`
      - get: { url: /out/never }
`, url, Options{})
		require.EqualValues(t, 2, counter(res, "vusers.failed"), fn)
		require.EqualValues(t, 2, counter(res, code), "%s: %v", fn, res.Report.Aggregate.Counters)
	}
	require.Equal(t, 0, countRequests(t, srv, "GET", "/out/never"))
}

func TestProcessorLoadErrors(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"bad.js": "module.exports = {", "req.js": `require("lodash");`})
	for _, file := range []string{"bad.js", "req.js", "missing.js"} {
		s, err := Parse([]byte("config:\n  target: http://127.0.0.1:1\n  processor: ./"+file+"\nscenarios:\n  - flow: [ { function: x } ]\n"), dir, "")
		require.NoError(t, err)
		_, err = newRunner(t.Context(), s, Options{})
		require.Error(t, err, file)
	}
}
