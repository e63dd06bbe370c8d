package canary

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// link is a URL waiting to be checked.
type link struct {
	url     *url.URL
	depth   int
	foundOn string
}

// brokenLinks checks the start URL and the links of the pages it reaches,
// breadth first: every <a href> of a page on the start URL's host (scheme
// aside) whose depth is below c.MaxDepth is followed; links to other hosts
// are checked but not crawled. A link fails on a request error or a status
// of 400 or more (after redirects). At most c.MaxLinks URLs are fetched;
// skipped counts the links found but left unchecked.
func brokenLinks(ctx context.Context, s *session, c *Canary) (steps []StepResult, skipped int) {
	host := strings.ToLower(c.URL.Host)
	start := *c.URL
	start.Fragment = ""
	queue := []link{{url: &start}}
	seen := map[string]bool{start.String(): true}
	for len(queue) > 0 {
		if len(steps) >= c.MaxLinks {
			return steps, len(queue)
		}
		if ctx.Err() != nil {
			return steps, len(queue)
		}
		l := queue[0]
		queue = queue[1:]
		x := s.fetch(ctx, http.MethodGet, l.url.String(), c.Header, "")
		st := stepFromExchange(l.url.String(), http.MethodGet, l.url.String(), x)
		st.Depth, st.FoundOn = l.depth, l.foundOn
		st.Success = true
		switch {
		case x.status >= 400:
			st.Success, st.Error = false, fmt.Sprintf("status %d", x.status)
		case x.err != nil:
			st.Success, st.Error = false, x.err.Error()
		}
		steps = append(steps, st)
		// Crawl same-host HTML pages above the depth limit, where the
		// redirects (if any) stayed on the host.
		if !st.Success || l.depth >= c.MaxDepth || !strings.EqualFold(x.url.Host, host) || !isHTML(x.header) {
			continue
		}
		for _, u := range pageLinks(x.body, x.url) {
			key := u.String()
			if seen[key] || (c.SkipExternal && !strings.EqualFold(u.Host, host)) {
				continue
			}
			seen[key] = true
			queue = append(queue, link{url: u, depth: l.depth + 1, foundOn: l.url.String()})
		}
	}
	return steps, 0
}

// isHTML reports whether a response is an HTML page.
func isHTML(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// pageLinks returns the http and https targets of a page's <a href>
// elements, resolved against the page URL (or its <base href>), without
// fragments, in document order.
func pageLinks(body []byte, page *url.URL) []*url.URL {
	base := page
	var out []*url.URL
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if (tag != "a" && tag != "base") || !hasAttr {
				continue
			}
			var href string
			for {
				k, v, more := z.TagAttr()
				if string(k) == "href" {
					href = strings.TrimSpace(string(v))
				}
				if !more {
					break
				}
			}
			if href == "" {
				continue
			}
			ref, err := url.Parse(href)
			if err != nil {
				continue
			}
			u := base.ResolveReference(ref)
			if tag == "base" {
				base = u
				continue
			}
			if u.Scheme != "http" && u.Scheme != "https" {
				continue // mailto:, javascript:, tel:...
			}
			u.Fragment, u.RawFragment = "", ""
			out = append(out, u)
		}
	}
}
