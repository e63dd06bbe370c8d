package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// job is one arrival handed from the scheduler to a worker.
type job struct {
	intended time.Time
	scenario *Scenario
	vars     *Vars
	phase    *Phase
}

// vu is the state of one running virtual user.
type vu struct {
	vars     *Vars
	scenario *Scenario
	// lag is how late the virtual user started compared with its intended
	// arrival time. Every request of the user is charged with it: its
	// intended send time is its actual send time minus lag.
	lag time.Duration
	// cookies is the virtual user's cookie jar (name -> value), filled
	// from Set-Cookie and config.http.defaults.cookie / the step's cookie,
	// and sent back to the target, as Artillery's per-user jar does.
	cookies map[string]string
}

// setCookie stores a "name=value" pair.
func (v *vu) setCookie(nv string) {
	name, value, ok := strings.Cut(nv, "=")
	if !ok || name == "" {
		return
	}
	if v.cookies == nil {
		v.cookies = map[string]string{}
	}
	v.cookies[strings.TrimSpace(name)] = strings.TrimSpace(value)
}

// cookieHeader renders the jar as a Cookie header value, names sorted.
func (v *vu) cookieHeader() string {
	names := make([]string, 0, len(v.cookies))
	for k := range v.cookies {
		names = append(names, k)
	}
	sortStrings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + "=" + v.cookies[k])
	}
	return b.String()
}

// worker runs virtual users one after the other. Each worker owns its
// buffers, random source and HTTP trace, so the request path shares nothing
// but the transport and the recorder.
type worker struct {
	r       *runner
	rng     *rand.Rand
	buf     []byte // request body and URL rendering (net/http path)
	req     []byte // rendered request (fast path)
	reqBody []byte // rendered request body (fast path)
	body    []byte // response body, when something needs it
	tmpl    *http.Request
	// wrote and firstByte are set by the HTTP trace, possibly from the
	// transport's goroutines: nanoseconds since r.base.
	wrote, firstByte atomic.Int64
}

func newWorker(r *runner, seed uint64) *worker {
	w := &worker{r: r, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { w.wrote.Store(r.now()) },
		GotFirstResponseByte: func() { w.firstByte.Store(r.now()) },
	}
	ctx := httptrace.WithClientTrace(r.ctx, trace)
	w.tmpl, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost/", nil)
	return w
}

// run executes one arrival from start to finish.
func (w *worker) run(j job) {
	r := w.r
	start := time.Now()
	lag := start.Sub(j.intended)
	if lag < 0 {
		lag = 0
	}
	defer r.active.Add(-1)
	if lag > LateThreshold {
		r.rec.Add(mVusersLate, 1, start)
	}
	if r.opts.MaxLag > 0 && lag > r.opts.MaxLag {
		r.rec.Add(mVusersDropped, 1, start)
		return
	}
	r.rec.Add(mVusersCreated, 1, start)
	r.rec.Add(mVusersCreatedByName+j.scenario.label, 1, start)
	j.vars.rng = w.rng
	v := &vu{vars: j.vars, scenario: j.scenario, lag: lag}
	for _, c := range r.script.Config.cookies {
		v.setCookie(c.name + "=" + c.value.String(v.vars))
	}
	err := w.scenario(v, j.scenario)
	end := time.Now()
	if err != nil {
		if r.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Abandoned when the run was cancelled: created, but neither
			// completed nor failed (vusers.dropped counts arrivals that
			// never started).
			return
		}
		r.rec.Add(mErrors+errorName(err), 1, end)
		r.rec.Add(mVusersFailed, 1, end)
		return
	}
	r.rec.Add(mVusersCompleted, 1, end)
	r.rec.Add(mVusersFailed, 0, end)
	r.rec.ObserveDuration(mVusersSession, end.Sub(start), end)
}

func errorName(err error) string {
	var ve *vuError
	if errors.As(err, &ve) {
		return ve.code
	}
	return errorCode(err)
}

// scenario runs the hooks and flow of a scenario.
func (w *worker) scenario(v *vu, sc *Scenario) error {
	for _, h := range sc.beforeScenario {
		if err := w.r.proc.callHook(h, v, w.r); err != nil {
			return err
		}
	}
	err := w.steps(v, sc.Flow)
	if err == nil {
		for _, h := range sc.afterScenario {
			if err := w.r.proc.callHook(h, v, w.r); err != nil {
				return err
			}
		}
	}
	return err
}

func (w *worker) steps(v *vu, steps []*Step) error {
	for _, st := range steps {
		if err := w.step(v, st); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) step(v *vu, st *Step) error {
	switch st.kind {
	case stepRequest:
		return w.request(v, st.req)
	case stepThink:
		d, err := thinkTime(st.think.String(v.vars))
		if err != nil {
			return &vuError{code: err.Error()}
		}
		return w.r.sleep(d)
	case stepLog:
		w.r.out.line(st.log.String(v.vars))
		return nil
	case stepFunction:
		return w.r.proc.callHook(st.fn, v, w.r)
	case stepLoop:
		return w.loop(v, st.loop)
	}
	return nil
}

// thinkTime reads a think value: a number of seconds or "500ms".
func thinkTime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := ParseMS(s)
	if err != nil {
		return 0, fmt.Errorf("think: %w", err)
	}
	return d, nil
}

func (w *worker) loop(v *vu, lp *loop) error {
	vars := v.vars
	saveEl, saveCount, saveIn := vars.loopElement, vars.loopCount, vars.inLoop
	defer func() { vars.loopElement, vars.loopCount, vars.inLoop = saveEl, saveCount, saveIn }()
	vars.inLoop = true
	if lp.over != nil {
		x := lp.over.Eval(vars)
		list, ok := x.([]any)
		if !ok {
			if x == nil {
				return nil
			}
			list = []any{x}
		}
		for i, el := range list {
			vars.loopElement, vars.loopCount = el, i+1
			if err := w.steps(v, lp.steps); err != nil {
				return err
			}
		}
		return nil
	}
	n := -1
	if lp.hasCount {
		n = lp.countMin
		if lp.countMax > lp.countMin {
			n += w.rng.IntN(lp.countMax - lp.countMin + 1)
		}
	}
	for i := 0; n < 0 || i < n; i++ {
		if lp.whileTrue != "" {
			ok, err := w.r.proc.callPredicate(lp.whileTrue, v, w.r)
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
		} else if n < 0 {
			return nil // neither count, over nor whileTrue: Artillery loops forever; sonde refuses
		}
		vars.loopElement, vars.loopCount = i, i+1
		if err := w.steps(v, lp.steps); err != nil {
			return err
		}
		if w.r.ctx.Err() != nil {
			return w.r.ctx.Err()
		}
	}
	return nil
}

// request sends one request step and processes its response.
func (w *worker) request(v *vu, rq *request) error {
	r := w.r
	if rq.ifTrue != "" {
		ok, err := r.ifTrue(rq, v)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
	hooked := r.proc != nil && (len(rq.beforeRequest) > 0 || len(v.scenario.beforeRequest) > 0)
	var params map[string]any
	if hooked || (r.proc != nil && (len(rq.afterResponse) > 0 || len(v.scenario.afterResponse) > 0)) {
		params = w.requestParams(v, rq)
		for _, h := range append(append([]string(nil), v.scenario.beforeRequest...), rq.beforeRequest...) {
			if err := r.proc.callRequestHook(h, params, v, r); err != nil {
				return err
			}
		}
	}
	for _, c := range rq.cookies {
		v.setCookie(c.name + "=" + c.value.String(v.vars))
	}
	needBody := len(rq.captures) > 0 || len(rq.expects) > 0 || params != nil || (r.script.Config.Expect != nil && r.script.Config.Expect.ExpectDefault200)

	w.wrote.Store(0)
	w.firstByte.Store(0)
	sendAt := r.now()
	var (
		status int
		header http.Header
		n      int64
		uri    string
		err    error
	)
	sent := false
	if plan := r.fastPlans[rq]; plan != nil && params == nil {
		if req, reqURI, ok := w.renderFast(v, rq, plan); ok {
			sent = true
			r.rec.request(r.wall(sendAt))
			var body *[]byte
			if needBody {
				w.body = w.body[:0]
				body = &w.body
				uri = string(reqURI)
			}
			var res fastResponse
			res, err = plan.pool.do(r.ctx, req, rq.method == http.MethodHead, needBody, body, w)
			status, header, n = res.status, res.header, res.bytes
			for _, c := range res.cookies {
				v.setCookie(c)
			}
			if err == nil && res.location != "" && isRedirect(status) {
				// Redirects are followed by net/http, from the location.
				var redirect *http.Request
				redirect, err = w.redirect(rq, v, plan, reqURI, res)
				if err == nil {
					w.firstByte.Store(0)
					status, header, n, err = w.sendStd(v, redirect, needBody)
				}
			}
		}
	}
	if !sent {
		req, berr := w.build(v, rq, params)
		if berr != nil {
			return &vuError{code: berr.Error()}
		}
		uri = req.URL.RequestURI()
		r.rec.request(r.wall(sendAt))
		status, header, n, err = w.sendStd(v, req, needBody)
	}
	if status == 0 && err != nil {
		if r.ctx.Err() != nil {
			return context.Canceled
		}
		return err
	}
	done := r.now()
	fb := w.firstByte.Load()
	if fb == 0 || fb < sendAt {
		fb = done
	}
	wrote := w.wrote.Load()
	if wrote == 0 || wrote > fb || wrote < sendAt {
		wrote = sendAt
	}
	corrected := time.Duration(fb-sendAt) + v.lag
	service := time.Duration(fb - wrote)
	r.rec.response(status, corrected, service, n, r.wall(done))
	if err != nil {
		if r.ctx.Err() != nil {
			return context.Canceled
		}
		return err
	}
	if !needBody {
		return nil
	}
	if header == nil {
		header = http.Header{}
	}
	rc := &responseCtx{resp: &http.Response{StatusCode: status, Header: header}, body: w.body}
	for _, c := range rq.captures {
		if err := c.apply(rc, v.vars); err != nil {
			return err
		}
	}
	if exp := r.script.Config.Expect; exp != nil {
		if err := r.expect(rq, uri, rc, v); err != nil {
			return err
		}
	}
	if params != nil {
		for _, h := range append(append([]string(nil), v.scenario.afterResponse...), rq.afterResponse...) {
			if err := r.proc.callResponseHook(h, params, rc, v, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendStd sends a request through net/http (following redirects) and reads
// its response. A non-zero status with an error means the body failed.
func (w *worker) sendStd(v *vu, req *http.Request, needBody bool) (int, http.Header, int64, error) {
	if len(v.cookies) > 0 && req.Header.Get("Cookie") == "" {
		req.Header = req.Header.Clone() // it may be shared by all requests of the step
		req.Header.Set("Cookie", v.cookieHeader())
	}
	resp, err := w.r.client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	for _, c := range resp.Cookies() {
		v.setCookie(c.Name + "=" + c.Value)
	}
	defer resp.Body.Close()
	var n int64
	if needBody {
		w.body, err = readAll(resp.Body, w.body[:0])
		n = int64(len(w.body))
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, resp.Header, n, err
}

func isRedirect(code int) bool {
	switch code {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

func readAll(rd io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				return b, nil
			}
			return b, err
		}
	}
}

// build renders a request. params, when not nil, are the request
// parameters as processor hooks left them.
func (w *worker) build(v *vu, rq *request, params map[string]any) (*http.Request, error) {
	r := w.r
	req := new(http.Request)
	*req = *w.tmpl
	req.Method = rq.method
	var u *url.URL
	if params != nil {
		s, _ := params["url"].(string)
		parsed, err := url.Parse(resolveURL(r.target, s))
		if err != nil {
			return nil, err
		}
		u = parsed
	} else if cu := r.staticURLs[rq]; cu != nil {
		c := *cu
		u = &c
	} else {
		w.buf = rq.url.AppendTo(w.buf[:0], v.vars)
		parsed, err := url.Parse(resolveURL(r.target, string(w.buf)))
		if err != nil {
			return nil, err
		}
		u = parsed
	}
	if len(rq.qs) > 0 {
		// Appended to the URL's own query string, as Artillery does.
		var q strings.Builder
		q.WriteString(u.RawQuery)
		for _, kv := range rq.qs {
			if q.Len() > 0 {
				q.WriteByte('&')
			}
			q.WriteString(url.QueryEscape(kv.key) + "=" + url.QueryEscape(text(kv.value.Eval(v.vars))))
		}
		u.RawQuery = q.String()
	}
	req.URL, req.Host = u, u.Host

	if h := r.staticHeaders[rq]; h != nil && params == nil {
		req.Header = h
	} else {
		req.Header = make(http.Header, len(r.defaultHeaders)+len(rq.headers)+1)
		for _, hd := range r.defaultHeaders {
			req.Header.Set(hd.name, hd.value.String(v.vars))
		}
		for _, hd := range rq.headers {
			req.Header.Set(hd.name, hd.value.String(v.vars))
		}
		if ct := rq.contentType(); ct != "" && req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", ct)
		}
		if params != nil {
			if hm, ok := params["headers"].(map[string]any); ok {
				for k, x := range hm {
					req.Header.Set(k, fmt.Sprint(x))
				}
			}
		}
	}

	var body []byte
	switch {
	case params != nil && (params["json"] != nil || params["body"] != nil):
		if j, ok := params["json"]; ok && j != nil {
			b, err := json.Marshal(j)
			if err != nil {
				return nil, err
			}
			body = b
			if req.Header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", "application/json")
			}
		} else {
			body = []byte(fmt.Sprint(params["body"]))
		}
	case rq.json != nil:
		w.buf = rq.json.AppendJSON(w.buf[:0], v.vars)
		body = bytes.Clone(w.buf)
	case rq.body != nil:
		w.buf = rq.body.AppendTo(w.buf[:0], v.vars)
		body = bytes.Clone(w.buf)
	case len(rq.form) > 0:
		form := url.Values{}
		for _, kv := range rq.form {
			form.Set(kv.key, fmt.Sprint(kv.value.Eval(v.vars)))
		}
		body = []byte(form.Encode())
	case len(rq.formData) > 0:
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for _, kv := range rq.formData {
			_ = mw.WriteField(kv.key, fmt.Sprint(kv.value.Eval(v.vars)))
		}
		_ = mw.Close()
		body = b.Bytes()
		if req.Header.Get("Content-Type") == "" || strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/form-data") {
			if r.staticHeaders[rq] != nil && params == nil {
				req.Header = req.Header.Clone()
			}
			req.Header.Set("Content-Type", mw.FormDataContentType())
		}
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req, nil
}

// contentType is the content type implied by the body kind.
func (rq *request) contentType() string {
	switch {
	case rq.json != nil:
		return "application/json"
	case len(rq.form) > 0:
		return "application/x-www-form-urlencoded"
	case len(rq.formData) > 0:
		return "multipart/form-data"
	}
	return ""
}

// requestParams renders the request as Artillery's requestParams object for
// processor hooks.
func (w *worker) requestParams(v *vu, rq *request) map[string]any {
	p := map[string]any{
		"url":    rq.url.String(v.vars),
		"method": rq.method,
	}
	if rq.name != "" {
		p["name"] = rq.name
	}
	h := map[string]any{}
	for _, hd := range w.r.defaultHeaders {
		h[hd.name] = hd.value.String(v.vars)
	}
	for _, hd := range rq.headers {
		h[hd.name] = hd.value.String(v.vars)
	}
	p["headers"] = h
	if rq.json != nil {
		p["json"] = rq.json.Eval(v.vars)
	}
	if rq.body != nil {
		p["body"] = rq.body.String(v.vars)
	}
	return p
}
