package statsd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// benchDatagrams returns datagrams of up to 1432 bytes (etsy's advice for
// fast ethernet) holding n lines over 1000 series: counters with tags and
// a sample rate, timers, gauges and sets, as bench/statsdload sends them.
func benchDatagrams(n int) (datagrams [][]byte, lines int) {
	r := rand.New(rand.NewPCG(1, 2))
	routes := []string{"/users", "/users/{id}", "/orders", "/orders/{id}", "/cart", "/search", "/login", "/health"}
	var cur strings.Builder
	for i := range n {
		s := i % 1000
		route := routes[s%len(routes)]
		var line string
		switch s % 10 {
		case 0, 1, 2, 3, 4:
			line = fmt.Sprintf("api.requests.%d:1|c|@0.5|#env:prod,route:%s,code:200", s/10, route)
		case 5, 6:
			line = fmt.Sprintf("api.latency.%d:%.2f|ms|#env:prod,route:%s", s/10, r.Float64()*250, route)
		case 7, 8:
			line = fmt.Sprintf("queue.depth.%d:%d|g|#queue:q%d", s/10, r.IntN(1000), s%7)
		default:
			line = fmt.Sprintf("users.online.%d:user%d|s", s/10, r.IntN(5000))
		}
		if cur.Len()+len(line)+1 > 1432 {
			datagrams = append(datagrams, []byte(cur.String()))
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte('\n')
		}
		cur.WriteString(line)
		lines++
	}
	if cur.Len() > 0 {
		datagrams = append(datagrams, []byte(cur.String()))
	}
	return datagrams, lines
}

// BenchmarkIngest measures parsing and aggregation per line, the work of
// a UDP reader after the system call: b.N datagrams, reported per line.
func BenchmarkIngest(b *testing.B) {
	db := openTSDB(b)
	srv, err := New(Options{Appendable: db, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	datagrams, lines := benchDatagrams(20_000)
	var (
		p  Parser
		st batchStats
	)
	// Warm up: create the series, so that the loop measures the steady
	// state of known series.
	for _, d := range datagrams {
		srv.handleDatagram(&p, d, nil, &st)
	}
	if st.accepted != lines {
		b.Fatalf("accepted %d of %d lines", st.accepted, lines)
	}
	bytes := 0
	for _, d := range datagrams {
		bytes += len(d)
	}
	b.ReportAllocs()
	b.SetBytes(int64(bytes / len(datagrams)))
	b.ResetTimer()
	i := 0
	for b.Loop() {
		srv.handleDatagram(&p, datagrams[i], nil, &st)
		if i++; i == len(datagrams) {
			i = 0
			srv.flushMu.Lock()
			srv.table.forgetRejected()
			srv.flushMu.Unlock()
		}
	}
	b.StopTimer()
	perDatagram := float64(lines) / float64(len(datagrams))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perDatagram, "ns/line")
	b.ReportMetric(perDatagram*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkFlush measures a flush of 1000 series into a real TSDB.
func BenchmarkFlush(b *testing.B) {
	db := openTSDB(b)
	srv, err := New(Options{Appendable: db, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	datagrams, _ := benchDatagrams(20_000)
	var (
		p  Parser
		st batchStats
	)
	b.ReportAllocs()
	now := time.Now()
	for b.Loop() {
		b.StopTimer()
		for _, d := range datagrams {
			srv.handleDatagram(&p, d, nil, &st)
		}
		now = now.Add(10 * time.Second)
		b.StartTimer()
		srv.flushMu.Lock()
		err := srv.flush(context.Background(), now)
		srv.flushMu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
