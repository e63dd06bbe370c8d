package mock

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// loggedRequest is a received request as matchers see it and as the journal
// keeps it. It must not change after it is built: the journal shares it
// between readers.
type loggedRequest struct {
	method   string
	uri      string // path and query as received
	path     string // uri up to "?"
	rawQuery string // uri after "?"
	header   http.Header
	host     [1]string // the Host header, which net/http moves out of header
	body     []byte
	scheme   string
	clientIP string
	protocol string
	loggedAt time.Time
}

func newLoggedRequest(r *http.Request, body []byte, now time.Time) loggedRequest {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI() // absolute-form request line, or a client-side request
	}
	lr := loggedRequest{
		method:   r.Method,
		uri:      uri,
		header:   r.Header,
		body:     body,
		scheme:   "http",
		protocol: r.Proto,
		loggedAt: now,
	}
	lr.host[0] = r.Host
	lr.path, lr.rawQuery, _ = strings.Cut(uri, "?")
	if r.TLS != nil {
		lr.scheme = "https"
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		lr.clientIP = ip
	} else {
		lr.clientIP = r.RemoteAddr
	}
	return lr
}

// headerValues returns the values of a header given by its canonical name.
func (r *loggedRequest) headerValues(canonical string) []string {
	if canonical == "Host" && r.host[0] != "" {
		return r.host[:]
	}
	return r.header[canonical]
}

func (r *loggedRequest) absoluteURL() string {
	return r.scheme + "://" + r.host[0] + r.uri
}

// appendQueryValues appends the decoded values of parameter name in a raw
// query string (or form body). It does not allocate unless a value needs
// decoding or dst must grow.
func appendQueryValues(dst []string, raw, name string) []string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		dst = append(dst, v)
	}
	return dst
}

// appendCookieValues appends the values of cookie name from Cookie headers.
func appendCookieValues(dst []string, headers []string, name string) []string {
	for _, line := range headers {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			dst = append(dst, v)
		}
	}
	return dst
}

type urlKind int

const (
	urlAny urlKind = iota
	urlEqual
	urlRegex
	urlPathEqual
	urlPathRegex
	urlPathTemplate
)

// urlMatcher is one of WireMock's five ways of matching the URL.
type urlMatcher struct {
	kind  urlKind
	text  string
	re    *regexp.Regexp
	names []string // urlPathTemplate variables, in order
}

func (u *urlMatcher) match(r *loggedRequest) bool {
	switch u.kind {
	case urlEqual:
		return r.uri == u.text
	case urlRegex:
		return u.re.MatchString(r.uri)
	case urlPathEqual:
		return r.path == u.text
	case urlPathRegex, urlPathTemplate:
		return u.re.MatchString(r.path)
	}
	return true
}

func (u *urlMatcher) String() string {
	switch u.kind {
	case urlRegex, urlPathRegex:
		return "[regex] " + u.text
	case urlPathTemplate:
		return "[path template] " + u.text
	case urlAny:
		return "[any URL]"
	}
	return u.text
}

var templateVar = regexp.MustCompile(`\{([^{}/]+)\}`)

// compilePathTemplate turns "/users/{id}" into a regular expression with one
// group per variable; a variable matches one non-empty path segment.
func compilePathTemplate(tmpl string) (*regexp.Regexp, []string, error) {
	var b strings.Builder
	b.WriteString("^")
	var names []string
	last := 0
	for _, loc := range templateVar.FindAllStringSubmatchIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(tmpl[last:loc[0]]))
		name := tmpl[loc[2]:loc[3]]
		if strings.HasPrefix(name, "*") { // {*rest}: the rest of the path
			b.WriteString("(.+)")
			name = name[1:]
		} else {
			b.WriteString("([^/]+)")
		}
		names = append(names, name)
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(tmpl[last:]))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return re, names, err
}

// namedMatcher matches the values of one named header, parameter or cookie.
type namedMatcher struct {
	name string
	m    *multiMatcher
}

// requestMatcher is a compiled RequestPattern.
type requestMatcher struct {
	method     string // "" matches every method
	url        urlMatcher
	pathParams []namedMatcher
	headers    []namedMatcher // names canonicalized
	basicAuth  string         // expected Authorization header, "" for none
	query      []namedMatcher
	cookies    []namedMatcher
	form       []namedMatcher
	body       []valueMatcher
}

func compileRequestPattern(p RequestPattern) (*requestMatcher, error) {
	m := &requestMatcher{}
	if p.Method != "" && p.Method != "ANY" {
		m.method = p.Method
	}
	var set []string
	for _, u := range []struct {
		name, value string
		kind        urlKind
	}{
		{"url", p.URL, urlEqual},
		{"urlPattern", p.URLPattern, urlRegex},
		{"urlPath", p.URLPath, urlPathEqual},
		{"urlPathPattern", p.URLPathPattern, urlPathRegex},
		{"urlPathTemplate", p.URLPathTemplate, urlPathTemplate},
	} {
		if u.value == "" {
			continue
		}
		set = append(set, u.name)
		m.url = urlMatcher{kind: u.kind, text: u.value}
		var err error
		switch u.kind {
		case urlRegex, urlPathRegex:
			var rm regexMatcher
			rm, err = compileRegex(u.value, u.name)
			m.url.re = rm.re
		case urlPathTemplate:
			m.url.re, m.url.names, err = compilePathTemplate(u.value)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(set) > 1 {
		return nil, fmt.Errorf("request has several URL matchers %v; use one", set)
	}
	if len(p.PathParameters) > 0 {
		if m.url.kind != urlPathTemplate {
			return nil, errors.New("pathParameters need urlPathTemplate")
		}
		for name := range p.PathParameters {
			if !slices.Contains(m.url.names, name) {
				return nil, fmt.Errorf("pathParameters: %q is not a variable of %q", name, p.URLPathTemplate)
			}
		}
	}
	var err error
	if m.pathParams, err = compileNamed("pathParameters", p.PathParameters, false); err != nil {
		return nil, err
	}
	if m.headers, err = compileNamed("headers", p.Headers, true); err != nil {
		return nil, err
	}
	if m.query, err = compileNamed("queryParameters", p.QueryParameters, false); err != nil {
		return nil, err
	}
	if m.cookies, err = compileNamed("cookies", p.Cookies, false); err != nil {
		return nil, err
	}
	if m.form, err = compileNamed("formParameters", p.FormParameters, false); err != nil {
		return nil, err
	}
	if c := p.BasicAuthCredentials; c != nil {
		m.basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
	}
	for i, bp := range p.BodyPatterns {
		vm, err := compilePattern(bp)
		if err != nil {
			return nil, fmt.Errorf("bodyPatterns[%d]: %w", i, err)
		}
		m.body = append(m.body, vm)
	}
	return m, nil
}

func compileNamed(what string, patterns map[string]ValuePattern, header bool) ([]namedMatcher, error) {
	out := make([]namedMatcher, 0, len(patterns))
	for name, p := range patterns {
		mm, err := compileMulti(p)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, name, err)
		}
		if header {
			name = http.CanonicalHeaderKey(name)
		}
		out = append(out, namedMatcher{name: name, m: mm})
	}
	// Map order is random; a fixed order makes matching cost and the
	// not-matched report the same on every run.
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// match reports whether r matches every part of the pattern. The cheap
// parts are checked first, so that most stubs are rejected on the method or
// the URL.
func (m *requestMatcher) match(r *loggedRequest, c *bodyCache) bool {
	if m.method != "" && m.method != r.method {
		return false
	}
	if !m.url.match(r) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].m.matchValues(r.headerValues(m.headers[i].name)) {
			return false
		}
	}
	if m.basicAuth != "" && !slices.Contains(r.header["Authorization"], m.basicAuth) {
		return false
	}
	if len(m.pathParams) > 0 && !m.matchPathParams(r) {
		return false
	}
	var buf [4]string
	for i := range m.query {
		if !m.query[i].m.matchValues(appendQueryValues(buf[:0], r.rawQuery, m.query[i].name)) {
			return false
		}
	}
	for i := range m.cookies {
		if !m.cookies[i].m.matchValues(appendCookieValues(buf[:0], r.header["Cookie"], m.cookies[i].name)) {
			return false
		}
	}
	if len(m.form) > 0 {
		form := c.text()
		for i := range m.form {
			if !m.form[i].m.matchValues(appendQueryValues(buf[:0], form, m.form[i].name)) {
				return false
			}
		}
	}
	if len(m.body) > 0 {
		body := c.text()
		for _, b := range m.body {
			if !b.match(body, true, c) {
				return false
			}
		}
	}
	return true
}

func (m *requestMatcher) matchPathParams(r *loggedRequest) bool {
	sub := m.url.re.FindStringSubmatch(r.path)
	if sub == nil {
		return false
	}
	for _, pp := range m.pathParams {
		v := ""
		for i, name := range m.url.names {
			if name == pp.name {
				v = sub[i+1]
			}
		}
		if uv, err := url.PathUnescape(v); err == nil {
			v = uv
		}
		if !pp.m.matchValues([]string{v}) {
			return false
		}
	}
	return true
}
