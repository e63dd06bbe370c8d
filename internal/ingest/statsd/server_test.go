package statsd_test

import (
	"context"
	"math"
	"net"
	"testing"
	"time"

	ddstatsd "github.com/DataDog/datadog-go/v5/statsd"
	cactus "github.com/cactus/go-statsd-client/v5/statsd"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/ingest/statsd"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

// env is a statsd server on a loopback UDP port writing to a real TSDB.
type env struct {
	t       *testing.T
	db      *tsdb.DB
	metrics *selfmon.Metrics
	srv     *statsd.Server
	pc      net.PacketConn
	served  chan error
	stopped bool
}

func newEnv(t *testing.T, opts statsd.Options) *env {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	require.NoError(t, err)
	e := &env{t: t, db: db, metrics: selfmon.New(func() float64 { return 0 }), served: make(chan error, 1)}
	opts.Appendable, opts.Metrics = db, e.metrics
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Hour // flushed by Shutdown
	}
	e.srv, err = statsd.New(opts)
	require.NoError(t, err)
	e.pc, err = net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { e.served <- e.srv.ServeUDP(e.pc) }()
	t.Cleanup(func() {
		if !e.stopped {
			e.shutdown()
		}
		require.NoError(t, db.Close())
	})
	return e
}

func (e *env) addr() string { return e.pc.LocalAddr().String() }

// shutdown stops the server, which flushes, and checks that ServeUDP
// returned nil.
func (e *env) shutdown() {
	e.t.Helper()
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.srv.Shutdown(ctx))
	select {
	case err := <-e.served:
		require.NoError(e.t, err)
	case <-time.After(10 * time.Second):
		e.t.Fatal("ServeUDP did not return after Shutdown")
	}
}

// counter sums the samples of a self-monitoring counter family whose
// labels include want.
func (e *env) counter(name string, want map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.metrics.Registry.Gather()
	require.NoError(e.t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// waitSamples waits until the server has taken n samples, accepted or
// rejected, so that none is still in the socket buffer.
func (e *env) waitSamples(n int) {
	e.t.Helper()
	proto := map[string]string{"protocol": statsd.Protocol}
	require.Eventually(e.t, func() bool {
		got := e.counter("sonde_ingest_samples_accepted_total", proto) + e.counter("sonde_ingest_samples_rejected_total", proto)
		return got >= float64(n)
	}, 15*time.Second, 5*time.Millisecond, "waiting for %d samples", n)
	got := e.counter("sonde_ingest_samples_accepted_total", proto) + e.counter("sonde_ingest_samples_rejected_total", proto)
	require.Equal(e.t, float64(n), got)
}

// last returns the last value of every series in the TSDB, by series.
func (e *env) last() map[string]float64 {
	e.t.Helper()
	q, err := e.db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(e.t, err)
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
	out := map[string]float64{}
	var it chunkenc.Iterator
	for ss.Next() {
		it = ss.At().Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			_, v := it.At()
			if !value.IsStaleNaN(v) {
				out[ss.At().Labels().String()] = v
			}
		}
		require.NoError(e.t, it.Err())
	}
	require.NoError(e.t, ss.Err())
	return out
}

// requireValues checks series values to within rounding.
func requireValues(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for s, v := range want {
		g, ok := got[s]
		require.True(t, ok, "series %s missing; stored: %v", s, got)
		require.InDelta(t, v, g, 1e-9, s)
	}
}

var timerMillis = []int{70, 10, 100, 40, 20, 90, 30, 60, 50, 80}

func TestDogStatsDClient(t *testing.T) {
	e := newEnv(t, statsd.Options{})
	c, err := ddstatsd.New(e.addr(),
		ddstatsd.WithoutTelemetry(), ddstatsd.WithoutOriginDetection(), ddstatsd.WithoutClientSideAggregation(),
		ddstatsd.WithNamespace("shop."), ddstatsd.WithTags([]string{"env:test"}))
	require.NoError(t, err)
	cart := []string{"route:/cart"}
	n := 0
	for range 100 {
		require.NoError(t, c.Incr("checkout.requests", cart, 1))
		n++
	}
	require.NoError(t, c.Count("checkout.items", 7, cart, 1))
	require.NoError(t, c.Gauge("queue.depth", 42, nil, 1))
	require.NoError(t, c.Gauge("queue.depth", 40.5, nil, 1))
	n += 3
	for _, ms := range timerMillis {
		require.NoError(t, c.Timing("checkout.latency", time.Duration(ms)*time.Millisecond, cart, 1))
		n++
	}
	for _, v := range []float64{100, 200, 300, 400} {
		require.NoError(t, c.Histogram("payload.bytes", v, nil, 1))
		require.NoError(t, c.Distribution("db.rows", v/100, []string{"table:orders"}, 1))
		n += 2
	}
	for _, u := range []string{"alice", "bob", "alice", "carol"} {
		require.NoError(t, c.Set("visitors", u, nil, 1))
		n++
	}
	require.NoError(t, c.Decr("refused", nil, 1)) // a negative counter
	require.NoError(t, c.SimpleEvent("deploy", "v1.2.3"))
	require.NoError(t, c.SimpleServiceCheck("db.up", ddstatsd.Ok))
	n += 3
	require.NoError(t, c.Flush())
	require.NoError(t, c.Close())
	e.waitSamples(n)
	e.shutdown()

	requireValues(t, e.last(), map[string]float64{
		`{__name__="shop_checkout_requests_total", env="test", route="/cart"}`: 100,
		`{__name__="shop_checkout_items_total", env="test", route="/cart"}`:    7,
		`{__name__="shop_queue_depth", env="test"}`:                            40.5,
		// Timers in seconds.
		`{__name__="shop_checkout_latency_count", env="test", route="/cart"}`:            10,
		`{__name__="shop_checkout_latency_sum", env="test", route="/cart"}`:              0.55,
		`{__name__="shop_checkout_latency", env="test", quantile="0.5", route="/cart"}`:  0.05,
		`{__name__="shop_checkout_latency", env="test", quantile="0.9", route="/cart"}`:  0.09,
		`{__name__="shop_checkout_latency", env="test", quantile="0.99", route="/cart"}`: 0.1,
		`{__name__="shop_checkout_latency_upper_90", env="test", route="/cart"}`:         0.09,
		`{__name__="shop_checkout_latency_mean_90", env="test", route="/cart"}`:          0.05,
		`{__name__="shop_checkout_latency_count_90", env="test", route="/cart"}`:         9,
		`{__name__="shop_checkout_latency_sum_90", env="test", route="/cart"}`:           0.45,
		`{__name__="shop_checkout_latency_lower", env="test", route="/cart"}`:            0.01,
		`{__name__="shop_checkout_latency_upper", env="test", route="/cart"}`:            0.1,
		`{__name__="shop_checkout_latency_mean", env="test", route="/cart"}`:             0.055,
		`{__name__="shop_checkout_latency_median", env="test", route="/cart"}`:           0.055,
		`{__name__="shop_checkout_latency_std", env="test", route="/cart"}`:              math.Sqrt(825) / 1000,
		`{__name__="shop_checkout_latency_sum_squares", env="test", route="/cart"}`:      0.0385,
		`{__name__="shop_checkout_latency_sum_squares_90", env="test", route="/cart"}`:   0.0285,
		`{__name__="shop_payload_bytes_sum", env="test"}`:                                1000,
		`{__name__="shop_payload_bytes_count", env="test"}`:                              4,
		`{__name__="shop_payload_bytes_upper_90", env="test"}`:                           400,
		`{__name__="shop_payload_bytes_median", env="test"}`:                             250,
		`{__name__="shop_db_rows", env="test", quantile="0.5", table="orders"}`:          2,
		`{__name__="shop_db_rows_sum", env="test", table="orders"}`:                      10,
		`{__name__="shop_visitors", env="test"}`:                                         3,
	})
	proto := map[string]string{"protocol": statsd.Protocol}
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_rejected_total", map[string]string{"protocol": statsd.Protocol, "reason": "negative_counter"}))
	require.Equal(t, 2.0, e.counter("sonde_ingest_samples_rejected_total", map[string]string{"protocol": statsd.Protocol, "reason": "unsupported"}))
	require.Equal(t, float64(n-3), e.counter("sonde_ingest_samples_accepted_total", proto))
	require.Positive(t, e.counter("sonde_ingest_bytes_total", proto))
}

// TestDogStatsDClientAggregation lets the client aggregate: counters and
// gauges arrive pre-aggregated and histogram, distribution and timing
// values arrive packed ("name:v1:v2:...|d").
func TestDogStatsDClientAggregation(t *testing.T) {
	e := newEnv(t, statsd.Options{})
	c, err := ddstatsd.New(e.addr(),
		ddstatsd.WithoutTelemetry(), ddstatsd.WithoutOriginDetection(),
		ddstatsd.WithExtendedClientSideAggregation(), ddstatsd.WithAggregationInterval(time.Hour))
	require.NoError(t, err)
	for range 50 {
		require.NoError(t, c.Incr("jobs", []string{"queue:mail"}, 1))
	}
	for _, ms := range timerMillis {
		require.NoError(t, c.Timing("job.time", time.Duration(ms)*time.Millisecond, nil, 1))
		require.NoError(t, c.Distribution("job.size", float64(ms), nil, 1))
	}
	require.NoError(t, c.Flush())
	require.NoError(t, c.Close())
	e.waitSamples(1 + 10 + 10)
	e.shutdown()

	requireValues(t, e.last(), map[string]float64{
		`{__name__="jobs_total", queue="mail"}`: 50,
		`{__name__="job_time_count"}`:           10,
		`{__name__="job_time_sum"}`:             0.55,
		`{__name__="job_time_upper_90"}`:        0.09,
		`{__name__="job_size_count"}`:           10,
		`{__name__="job_size_sum"}`:             550,
		`{__name__="job_size_upper_90"}`:        90,
		`{__name__="job_size_mean_90"}`:         50,
	})
}

// TestEtsyClientSampleRates sends sampled metrics with a classic statsd
// client, buffered so that several lines share a datagram. The client's
// sampler is made to send everything, so the server's scaling by 1/rate
// is checked exactly.
func TestEtsyClientSampleRates(t *testing.T) {
	e := newEnv(t, statsd.Options{})
	st, err := cactus.NewClientWithConfig(&cactus.ClientConfig{
		Address: e.addr(), Prefix: "app", UseBuffered: true, FlushInterval: time.Hour, TagFormat: cactus.SuffixOctothorpe,
	})
	require.NoError(t, err)
	st.(*cactus.Client).SetSamplerFunc(func(float32) bool { return true })
	n := 0
	for range 8 {
		require.NoError(t, st.Inc("hits", 1, 0.25, cactus.Tag{"k", "v"}))
		n++
	}
	for _, ms := range []int64{100, 200, 300, 400} {
		require.NoError(t, st.Timing("render", ms, 0.5))
		n++
	}
	require.NoError(t, st.Gauge("workers", 10, 1))
	require.NoError(t, st.GaugeDelta("workers", -3, 1))
	require.NoError(t, st.GaugeDelta("workers", 1, 0.1)) // rate ignored for gauges
	require.NoError(t, st.SetInt("ids", 1, 1))
	require.NoError(t, st.SetInt("ids", 2, 1))
	require.NoError(t, st.SetInt("ids", 1, 1))
	n += 6
	require.NoError(t, st.Close()) // flushes
	e.waitSamples(n)
	e.shutdown()

	requireValues(t, e.last(), map[string]float64{
		`{__name__="app_hits_total", k="v"}`: 32,
		`{__name__="app_render_count"}`:      8,
		`{__name__="app_render_sum"}`:        2, // 1000 ms / 0.5
		`{__name__="app_render_upper_90"}`:   0.4,
		`{__name__="app_render_count_90"}`:   4, // values held, not scaled
		`{__name__="app_render_mean"}`:       0.25,
		`{__name__="app_workers"}`:           8,
		`{__name__="app_ids"}`:               2,
	})
}

func TestFlushLoop(t *testing.T) {
	e := newEnv(t, statsd.Options{FlushInterval: 20 * time.Millisecond})
	conn, err := net.Dial("udp", e.addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("ticks:1|c\nticks:1|c"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return e.last()[`{__name__="ticks_total"}`] == 2
	}, 15*time.Second, 10*time.Millisecond)
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, statsd.Options{})
	e.shutdown()
	// Serving after Shutdown returns at once and closes the socket.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, e.srv.ServeUDP(pc))
	_, err = pc.WriteTo([]byte("x"), pc.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, e.srv.Shutdown(context.Background()), "Shutdown twice is fine")
}

func TestServeUDPFromAnyPacketConn(t *testing.T) {
	// A PacketConn that is not a *net.UDPConn is read one datagram at a
	// time.
	e := newEnv(t, statsd.Options{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeUDP(wrapped{pc}) }()
	conn, err := net.Dial("udp", pc.LocalAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("wrapped:3|c"))
	require.NoError(t, err)
	e.waitSamples(1)
	e.shutdown()
	require.NoError(t, <-done)
	require.Equal(t, 3.0, e.last()[`{__name__="wrapped_total"}`])
}

type wrapped struct{ net.PacketConn }
