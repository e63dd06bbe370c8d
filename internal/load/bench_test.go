package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// benchRunner returns a runner and a worker for a script against a
// minimal server, for measuring the per-request path of the generator.
func benchRunner(b *testing.B, script string) (*worker, *request, *vu) {
	b.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	b.Cleanup(ts.Close)
	s, err := Parse([]byte(script), b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	r, err := newRunner(context.Background(), s, Options{Target: ts.URL})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.close)
	r.rec = NewRecorder(10*time.Second, time.Now())
	w := newWorker(r, 1)
	vars := r.newVU(w.rng)
	vars.rng = w.rng
	v := &vu{vars: vars, scenario: s.Scenarios[0]}
	return w, s.Scenarios[0].Flow[0].req, v
}

// rawServer answers every request on a keep-alive connection with a
// canned response and allocates nothing per request, so that allocations
// measured are the generator's own.
func rawServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Requests without bodies: headers end with a blank line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// BenchmarkRequestStaticClientOnly is BenchmarkRequestStatic against a
// server that allocates nothing: the allocations are the generator's.
func BenchmarkRequestStaticClientOnly(b *testing.B) {
	target := rawServer(b)
	s, err := Parse([]byte(`
config: { target: "http://x", phases: [ { duration: 1, arrivalRate: 1 } ] }
scenarios: [ { flow: [ { get: { url: "/static", headers: { accept: "text/plain" } } } ] } ]
`), b.TempDir(), "")
	if err != nil {
		b.Fatal(err)
	}
	r, err := newRunner(context.Background(), s, Options{Target: target})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.close)
	r.rec = NewRecorder(10*time.Second, time.Now())
	w := newWorker(r, 1)
	v := &vu{vars: r.newVU(w.rng), scenario: s.Scenarios[0]}
	rq := s.Scenarios[0].Flow[0].req
	b.ReportAllocs()
	for b.Loop() {
		if err := w.request(v, rq); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRequests(b *testing.B, script string) {
	w, rq, v := benchRunner(b, script)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := w.request(v, rq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestStatic is one GET with a static URL and headers: the
// generator's cost per request plus a loopback round trip.
func BenchmarkRequestStatic(b *testing.B) {
	benchRequests(b, `
config: { target: "http://x", phases: [ { duration: 1, arrivalRate: 1 } ] }
scenarios: [ { flow: [ { get: { url: "/static", headers: { accept: "text/plain" } } } ] } ]
`)
}

// BenchmarkRequestTemplated is a POST with a templated URL and JSON body.
func BenchmarkRequestTemplated(b *testing.B) {
	benchRequests(b, `
config:
  target: "http://x"
  phases: [ { duration: 1, arrivalRate: 1 } ]
  variables: { name: [ada, grace] }
scenarios:
  - flow:
      - post:
          url: "/users/{{ name }}"
          json: { name: "{{ name }}", n: "{{ $randomNumber(1, 100) }}", nested: { x: 1 } }
`)
}

func BenchmarkRenderJSON(b *testing.B) {
	val, err := CompileValue(map[string]any{
		"subject": "{{ subject }}", "duration": 20,
		"speaker": map[string]any{"firstName": "{{ firstName }}", "company": map[string]any{"companyName": "{{ companyName }}"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	v := newVars(map[string]any{"subject": "Load testing", "firstName": "Ada", "companyName": "Engines"})
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = val.AppendJSON(buf[:0], v)
	}
}

func BenchmarkRecorderResponse(b *testing.B) {
	rec := NewRecorder(10*time.Second, time.Now())
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.request(now)
			rec.response(200, 1500*time.Microsecond, time.Millisecond, 2, now)
		}
	})
}

func BenchmarkSchedule(b *testing.B) {
	phases := []Phase{{Duration: time.Hour, ArrivalRate: 1000, RampTo: 5000, kind: phaseRamp}}
	s := NewSchedule(phases)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Next(); !ok {
			s = NewSchedule(phases)
		}
	}
}
