package load

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// userAgent is sent unless the script sets its own User-Agent.
const userAgent = "sonde-load"

// fastPlan is what is known about a request step before the run: where it
// goes and, when nothing in it is templated, its bytes on the wire.
type fastPlan struct {
	pool      *hostPool
	host      string // Host header
	basePath  string // path of the target, prepended to relative URLs
	scheme    string
	headers   []header // defaults overridden by the step's own, by name
	ctype     string   // implied Content-Type, when no header sets one
	hasUA     bool
	hasCookie bool
	static    []byte // the whole request, when nothing is templated
}

// planFast prepares the fast path of a request step, or returns nil when
// the step must go through net/http (https, proxy, multipart bodies).
func (r *runner) planFast(rq *request) *fastPlan {
	if r.fast == nil || len(rq.formData) > 0 {
		return nil
	}
	base, err := url.Parse(r.target)
	if err != nil {
		return nil
	}
	raw := rq.url.Source()
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		if !rq.url.IsStatic() {
			return nil
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil
		}
		base = u
	}
	if base.Scheme != "http" || base.Host == "" || base.User != nil {
		return nil
	}
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: base}); err != nil || proxy != nil {
		return nil
	}
	addr := base.Host
	if base.Port() == "" {
		addr += ":80"
	}
	p := &fastPlan{pool: r.fast.pool(addr), host: base.Host, scheme: base.Scheme, ctype: rq.contentType()}
	if raw == rq.url.Source() && !(strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://")) {
		p.basePath = base.EscapedPath()
	}
	// Headers: the step's override the defaults with the same name.
	seen := map[string]bool{}
	for _, h := range rq.headers {
		seen[strings.ToLower(h.name)] = true
	}
	for _, h := range r.defaultHeaders {
		if !seen[strings.ToLower(h.name)] {
			p.headers = append(p.headers, h)
		}
	}
	p.headers = append(p.headers, rq.headers...)
	for _, h := range p.headers {
		switch strings.ToLower(h.name) {
		case "content-type":
			p.ctype = ""
		case "user-agent":
			p.hasUA = true
		case "cookie":
			p.hasCookie = true
		case "host", "content-length", "transfer-encoding", "connection":
			return nil // let net/http deal with these
		}
	}
	static := rq.url.IsStatic() && len(rq.qs) == 0 && rq.json == nil && rq.body == nil && len(rq.form) == 0
	for _, h := range p.headers {
		static = static && h.value.IsStatic()
	}
	if static {
		req, _, ok := p.render(nil, nil, rq, nil, "")
		if !ok {
			return nil
		}
		p.static = req
	}
	return p
}

// renderFast renders a request into the worker's buffer; false means it
// must go through net/http (it renders to an absolute URL or to bytes that
// need escaping).
func (w *worker) renderFast(v *vu, rq *request, p *fastPlan) ([]byte, []byte, bool) {
	if p.static != nil && len(v.cookies) == 0 {
		return p.static, p.staticURI(), true
	}
	cookie := ""
	if len(v.cookies) > 0 && !p.hasCookie {
		cookie = v.cookieHeader()
	}
	req, uri, ok := p.render(w.req[:0], &w.reqBody, rq, v.vars, cookie)
	if ok {
		w.req = req
	}
	return req, uri, ok
}

func (p *fastPlan) staticURI() []byte {
	s := p.static
	i := bytes.IndexByte(s, ' ')
	j := bytes.IndexByte(s[i+1:], ' ')
	return s[i+1 : i+1+j]
}

// render writes the request line, headers and body. body is a scratch
// buffer for the body; vars may be nil for a static request.
func (p *fastPlan) render(b []byte, body *[]byte, rq *request, vars *Vars, cookie string) ([]byte, []byte, bool) {
	b = append(b, rq.method...)
	b = append(b, ' ')
	start := len(b)
	b = append(b, p.basePath...)
	if vars == nil {
		b = append(b, rq.url.Source()...)
	} else {
		b = rq.url.AppendTo(b, vars)
	}
	if p.basePath == "" && bytes.HasPrefix(b[start:], []byte("http")) {
		// An absolute static URL: keep its request URI.
		u, err := url.Parse(string(b[start:]))
		if err != nil || rq.url.Source() != string(b[start:]) {
			return nil, nil, false
		}
		b = append(b[:start], u.RequestURI()...)
	}
	for _, kv := range rq.qs {
		sep := byte('?')
		if bytes.IndexByte(b[start:], '?') >= 0 {
			sep = '&'
		}
		b = append(b, sep)
		b = append(b, url.QueryEscape(kv.key)...)
		b = append(b, '=')
		b = append(b, url.QueryEscape(text(kv.value.Eval(vars)))...)
	}
	uriEnd := len(b)
	uri := b[start:uriEnd]
	if len(uri) == 0 || uri[0] != '/' {
		return nil, nil, false
	}
	for _, c := range uri {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return nil, nil, false // net/http escapes it
		}
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, p.host...)
	b = append(b, "\r\n"...)
	if !p.hasUA {
		b = append(b, "User-Agent: "+userAgent+"\r\n"...)
	}
	if cookie != "" {
		b = append(b, "Cookie: "...)
		b = append(b, cookie...)
		b = append(b, "\r\n"...)
	}
	for _, h := range p.headers {
		b = append(b, h.name...)
		b = append(b, ": "...)
		vs := len(b)
		if vars == nil {
			b = append(b, h.value.Source()...)
		} else {
			b = h.value.AppendTo(b, vars)
		}
		for i := vs; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = ' '
			}
		}
		b = append(b, "\r\n"...)
	}
	var payload []byte
	hasBody := false
	switch {
	case rq.json != nil:
		*body = rq.json.AppendJSON((*body)[:0], vars)
		payload, hasBody = *body, true
	case rq.body != nil:
		*body = rq.body.AppendTo((*body)[:0], vars)
		payload, hasBody = *body, true
	case len(rq.form) > 0:
		form := url.Values{}
		for _, kv := range rq.form {
			form.Set(kv.key, text(kv.value.Eval(vars)))
		}
		*body = append((*body)[:0], form.Encode()...)
		payload, hasBody = *body, true
	}
	if hasBody {
		if p.ctype != "" {
			b = append(b, "Content-Type: "...)
			b = append(b, p.ctype...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(payload)), 10)
		b = append(b, "\r\n"...)
	} else if rq.method == http.MethodPost || rq.method == http.MethodPut || rq.method == http.MethodPatch {
		b = append(b, "Content-Length: 0\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, payload...)
	return b, b[start:uriEnd], true
}

// redirect builds the net/http request that follows a redirect answered
// on the fast path: GET for 301-303, the same method and body for 307/308.
func (w *worker) redirect(rq *request, v *vu, p *fastPlan, uri []byte, res fastResponse) (*http.Request, error) {
	from, err := url.Parse(p.scheme + "://" + p.host + string(uri))
	if err != nil {
		return nil, err
	}
	loc, err := from.Parse(res.location)
	if err != nil {
		return nil, err
	}
	req := new(http.Request)
	*req = *w.tmpl
	req.Method = http.MethodGet
	req.URL, req.Host = loc, loc.Host
	req.Header = make(http.Header)
	for _, h := range p.headers {
		req.Header.Set(h.name, h.value.String(v.vars))
	}
	if res.status == 307 || res.status == 308 {
		req.Method = rq.method
		if rq.json != nil || rq.body != nil || len(rq.form) > 0 {
			body := bytes.Clone(w.reqBody)
			req.Body = http.NoBody
			if len(body) > 0 {
				req.Body = readCloser{bytes.NewReader(body)}
			}
			req.ContentLength = int64(len(body))
			if p.ctype != "" && req.Header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", p.ctype)
			}
		}
	}
	return req, nil
}

type readCloser struct{ *bytes.Reader }

// Close implements io.Closer.
func (readCloser) Close() error { return nil }
