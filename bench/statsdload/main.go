// Command statsdload is the statsd benchmark's two halves.
//
//	statsdload serve -addr 127.0.0.1:18125 -metrics 127.0.0.1:18126 -data DIR
//
// runs sonde's statsd server (internal/ingest/statsd) over a real TSDB in
// DIR, with sonde's own metrics on http://METRICS/metrics, until SIGTERM;
// it then shuts the server down (which flushes) and prints its counters.
//
//	statsdload send -addr 127.0.0.1:18125 -n 3000000 -rate 300000
//
// sends exactly n statsd lines over UDP at the target rate (lines per
// second), packed into datagrams of up to -packet bytes and written up to
// 64 datagrams per system call (sendmmsg on Linux), and prints what it
// sent. The lines are those of a service: counters with tags and a sample
// rate (50%), timers (20%), gauges (20%) and sets (10%) over -series
// distinct series.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/tsdb"
	"golang.org/x/net/ipv4"

	"github.com/sonde-dev/sonde/internal/ingest/statsd"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: statsdload serve|send [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "send":
		err = send(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want serve or send)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "statsdload:", err)
		os.Exit(1)
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18125", "statsd UDP address")
	metricsAddr := fs.String("metrics", "127.0.0.1:18126", "address of sonde's own /metrics")
	dir := fs.String("data", "", "TSDB directory (required)")
	flush := fs.Duration("flush", statsd.DefaultFlushInterval, "flush interval")
	readBuf := fs.Int("rcvbuf", statsd.DefaultReadBuffer, "UDP receive buffer, bytes")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server's run to this file")
	_ = fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("serve: -data is required")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := tsdb.Open(*dir, logger, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		return fmt.Errorf("open TSDB: %w", err)
	}
	defer db.Close()
	m := selfmon.New(func() float64 { return 0 })
	srv, err := statsd.New(statsd.Options{Appendable: db, Metrics: m, Logger: logger, FlushInterval: *flush, ReadBuffer: *readBuf})
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", *addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *metricsAddr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	served := make(chan error, 1)
	go func() { served <- srv.ServeUDP(pc) }()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-served:
		return fmt.Errorf("serve UDP: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serve UDP: %w", err)
	}
	fmt.Printf("final flush: %v\n", time.Since(t0).Round(time.Millisecond))
	_ = hs.Close()
	mfs, err := m.Registry.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "sonde_ingest_") && !strings.HasPrefix(name, "sonde_statsd_") {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var ls []string
			for _, lp := range mt.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			v := mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
			if h := mt.GetHistogram(); h != nil {
				fmt.Printf("%s{%s} count=%d sum=%.3fs\n", name, strings.Join(ls, ","), h.GetSampleCount(), h.GetSampleSum())
				continue
			}
			if v != 0 {
				fmt.Printf("%s{%s} %.0f\n", name, strings.Join(ls, ","), v)
			}
		}
	}
	return nil
}

func send(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18125", "statsd UDP address")
	n := fs.Int("n", 3_000_000, "lines to send")
	rate := fs.Float64("rate", 300_000, "target lines per second (0: as fast as possible)")
	packet := fs.Int("packet", 1432, "largest datagram, bytes")
	series := fs.Int("series", 1000, "distinct series")
	_ = fs.Parse(args)

	lines := makeLines(100_000, *series)
	ua, err := net.ResolveUDPAddr("udp", *addr)
	if err != nil {
		return err
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetWriteBuffer(8 << 20)
	pc := ipv4.NewPacketConn(conn)

	const batch = 64
	msgs := make([]ipv4.Message, batch)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, 0, *packet)
	}
	var (
		sent, datagrams, bytes, next int
		errs                         int
	)
	t0 := time.Now()
	for sent < *n {
		k := 0
		for ; k < batch && sent < *n; k++ {
			b := bufs[k][:0]
			for sent < *n {
				l := lines[next]
				if len(b) > 0 && len(b)+1+len(l) > *packet {
					break
				}
				if len(b) > 0 {
					b = append(b, '\n')
				}
				b = append(b, l...)
				sent++
				if next++; next == len(lines) {
					next = 0
				}
			}
			bufs[k] = b
			msgs[k] = ipv4.Message{Buffers: [][]byte{b}}
			bytes += len(b)
		}
		for off := 0; off < k; {
			w, err := pc.WriteBatch(msgs[off:k], 0)
			if err != nil {
				errs++ // ENOBUFS and the like: retry the rest
				if errs > 1000 {
					return fmt.Errorf("send: %w", err)
				}
				time.Sleep(100 * time.Microsecond)
			}
			off += w
		}
		datagrams += k
		if *rate > 0 {
			due := t0.Add(time.Duration(float64(sent) / *rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
	}
	el := time.Since(t0)
	fmt.Printf("sent_lines %d\nsent_datagrams %d\nsent_bytes %d\nsend_seconds %.3f\nsend_rate %.0f\nsend_retries %d\n",
		sent, datagrams, bytes, el.Seconds(), float64(sent)/el.Seconds(), errs)
	return nil
}

// makeLines returns n statsd lines over the given number of series.
func makeLines(n, series int) []string {
	r := rand.New(rand.NewPCG(42, 7))
	routes := []string{"/users", "/users/{id}", "/orders", "/orders/{id}", "/cart", "/search", "/login", "/health"}
	out := make([]string, n)
	for i := range out {
		s := r.IntN(series)
		route := routes[s%len(routes)]
		switch s % 10 {
		case 0, 1, 2, 3, 4:
			out[i] = fmt.Sprintf("api.requests.%d:1|c|@0.5|#env:prod,route:%s,code:200", s/10, route)
		case 5, 6:
			out[i] = fmt.Sprintf("api.latency.%d:%.2f|ms|#env:prod,route:%s", s/10, r.Float64()*250, route)
		case 7, 8:
			out[i] = fmt.Sprintf("queue.depth.%d:%d|g|#queue:q%d", s/10, r.IntN(1000), s%7)
		default:
			out[i] = fmt.Sprintf("users.online.%d:user%d|s", s/10, r.IntN(5000))
		}
	}
	return out
}
