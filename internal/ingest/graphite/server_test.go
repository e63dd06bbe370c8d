package graphite_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/ingest/graphite"
	"github.com/sonde-dev/sonde/internal/selfmon"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a Graphite server on loopback TCP and UDP ports, writing to a
// real TSDB.
type env struct {
	t       *testing.T
	db      *tsdb.DB
	rec     *metaRecorder
	metrics *selfmon.Metrics
	srv     *graphite.Server
	tcp     net.Listener
	udp     net.PacketConn
	served  chan error
	stopped bool
}

func newEnv(t *testing.T, opts graphite.Options) *env {
	t.Helper()
	topts := tsdb.DefaultOptions()
	topts.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	db, err := tsdb.Open(t.TempDir(), nil, nil, topts, nil)
	require.NoError(t, err)
	e := &env{t: t, db: db, rec: &metaRecorder{Appendable: db}, metrics: selfmon.New(func() float64 { return 0 }), served: make(chan error, 2)}
	opts.Appendable, opts.Metrics = e.rec, e.metrics
	e.srv, err = graphite.New(opts)
	require.NoError(t, err)
	e.tcp, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.udp, err = net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { e.served <- e.srv.ServeTCP(e.tcp) }()
	go func() { e.served <- e.srv.ServeUDP(e.udp) }()
	t.Cleanup(func() {
		if !e.stopped {
			e.shutdown()
		}
		require.NoError(t, db.Close())
	})
	return e
}

func (e *env) shutdown() {
	e.t.Helper()
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.srv.Shutdown(ctx))
	for range 2 {
		select {
		case err := <-e.served:
			require.NoError(e.t, err)
		case <-time.After(10 * time.Second):
			e.t.Fatal("Serve did not return after Shutdown")
		}
	}
}

// sendTCP writes data on a new connection and closes it.
func (e *env) sendTCP(data string) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.tcp.Addr().String())
	require.NoError(e.t, err)
	_, err = c.Write([]byte(data))
	require.NoError(e.t, err)
	require.NoError(e.t, c.Close())
}

func (e *env) sendUDP(datagrams ...string) {
	e.t.Helper()
	c, err := net.Dial("udp", e.udp.LocalAddr().String())
	require.NoError(e.t, err)
	defer c.Close()
	for _, d := range datagrams {
		_, err := c.Write([]byte(d))
		require.NoError(e.t, err)
	}
}

// counter sums the samples of a self-monitoring counter family whose
// labels include want.
func (e *env) counter(name string, want ...string) float64 {
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
			for i := 0; i+1 < len(want); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == want[i] && lp.GetValue() == want[i+1])
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

// waitLines waits until n lines of proto were accepted or rejected.
func (e *env) waitLines(proto string, n int) {
	e.t.Helper()
	count := func() float64 {
		return e.counter("sonde_ingest_samples_accepted_total", "protocol", proto) +
			e.counter("sonde_ingest_samples_rejected_total", "protocol", proto)
	}
	require.Eventually(e.t, func() bool { return count() >= float64(n) }, 15*time.Second, 5*time.Millisecond, "waiting for %d lines", n)
	require.Equal(e.t, float64(n), count())
}

type point struct {
	T int64
	V float64
}

func (e *env) stored() map[string][]point {
	e.t.Helper()
	q, err := e.db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(e.t, err)
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+"))
	out := map[string][]point{}
	var it chunkenc.Iterator
	for ss.Next() {
		it = ss.At().Iterator(it)
		var pts []point
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			pts = append(pts, point{ts, v})
		}
		require.NoError(e.t, it.Err())
		out[ss.At().Labels().String()] = pts
	}
	require.NoError(e.t, ss.Err())
	return out
}

// metaRecorder wraps an Appendable and records the metadata its
// appenders are given.
type metaRecorder struct {
	storage.Appendable
	mu   sync.Mutex
	meta map[string]metadata.Metadata
}

func (r *metaRecorder) Appender(ctx context.Context) storage.Appender {
	return &metaAppender{Appender: r.Appendable.Appender(ctx), r: r}
}

type metaAppender struct {
	storage.Appender
	r *metaRecorder
}

func (a *metaAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	ref, err := a.Appender.UpdateMetadata(ref, l, m)
	if err == nil {
		a.r.mu.Lock()
		if a.r.meta == nil {
			a.r.meta = map[string]metadata.Metadata{}
		}
		a.r.meta[l.String()] = m
		a.r.mu.Unlock()
	}
	return ref, err
}

func TestTCP(t *testing.T) {
	e := newEnv(t, graphite.Options{})
	base := time.Now().Add(-time.Minute).Unix()
	var sb strings.Builder
	for i := range 5 {
		fmt.Fprintf(&sb, "cluster-1.node-1.cpu.idle %d.5 %d\n", 90+i, base+int64(i))
	}
	fmt.Fprintf(&sb, "disk.used;server=web01;datacenter=dc1;rack=a1 42 %d\r\n", base)
	fmt.Fprintf(&sb, "disk.used;rack=a1;server=web01;datacenter=dc1 43 %d\n", base+1) // same series, tags reordered
	fmt.Fprintf(&sb, "frac.ts 7 %d.123\n", base)
	sb.WriteString("\n")                         // blank: skipped
	sb.WriteString("bad line here please\n")     // too many fields
	sb.WriteString("nan.value NaN 1\n")          // NaN
	sb.WriteString("ms.ts 1 1460061337000000\n") // not seconds
	fmt.Fprintf(&sb, "tilde;k=~x 1 %d\n", base)
	fmt.Fprintf(&sb, "future 1 %d\n", time.Now().Add(time.Hour).Unix())
	fmt.Fprintf(&sb, "cut.short 1 %d", base) // no newline before the end
	e.sendTCP(sb.String())
	e.waitLines(graphite.ProtocolTCP, 5+2+1+4+1+1)
	e.shutdown()

	got := e.stored()
	idle := got[`{__name__="cluster_1_node_1_cpu_idle"}`]
	require.Len(t, idle, 5)
	for i, p := range idle {
		require.Equal(t, point{(base + int64(i)) * 1000, float64(90+i) + 0.5}, p)
	}
	require.Equal(t, []point{{base * 1000, 42}, {(base + 1) * 1000, 43}}, got[`{__name__="disk_used", datacenter="dc1", rack="a1", server="web01"}`])
	require.Equal(t, []point{{base*1000 + 123, 7}}, got[`{__name__="frac_ts"}`])
	require.Len(t, got, 3)

	// The line with four fields, NaN, the millisecond timestamp, the tag
	// value starting with '~' and the line without a newline.
	require.Equal(t, 5.0, e.counter("sonde_ingest_samples_rejected_total", "protocol", graphite.ProtocolTCP, "reason", "invalid"))
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_rejected_total", "protocol", graphite.ProtocolTCP, "reason", "future"))
	require.Equal(t, 8.0, e.counter("sonde_ingest_samples_written_total", "protocol", graphite.ProtocolTCP))
	require.Equal(t, float64(len(sb.String())), e.counter("sonde_ingest_bytes_total", "protocol", graphite.ProtocolTCP))

	m, ok := e.rec.meta[`{__name__="disk_used", datacenter="dc1", rack="a1", server="web01"}`]
	require.True(t, ok)
	require.Equal(t, metadata.Metadata{Type: model.MetricTypeGauge, Help: "Graphite metric disk.used."}, m)
}

func TestTCPNowAndManyConnections(t *testing.T) {
	e := newEnv(t, graphite.Options{})
	before := time.Now().UnixMilli()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sb strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&sb, "conn%d.metric%d %d\n", c, i, i) // no timestamp: now
			}
			sb.WriteString(fmt.Sprintf("conn%d.minus1 5 -1\n", c))
			e.sendTCP(sb.String())
		}()
	}
	wg.Wait()
	e.waitLines(graphite.ProtocolTCP, 4*1001)
	e.shutdown()
	after := time.Now().UnixMilli()
	got := e.stored()
	require.Len(t, got, 4*1001)
	for c := range 4 {
		for i, name := range []string{"minus1", "metric0", "metric999"} {
			p := got[fmt.Sprintf(`{__name__="conn%d_%s"}`, c, name)]
			require.Len(t, p, 1)
			require.Equal(t, []float64{5, 0, 999}[i], p[0].V)
			require.GreaterOrEqual(t, p[0].T, before)
			require.LessOrEqual(t, p[0].T, after)
		}
	}
	require.Equal(t, 4*1001.0, e.counter("sonde_ingest_samples_written_total", "protocol", graphite.ProtocolTCP))
}

func TestTCPTooLongLine(t *testing.T) {
	e := newEnv(t, graphite.Options{MaxLineBytes: 64})
	base := time.Now().Add(-time.Minute).Unix()
	data := fmt.Sprintf("ok 1 %d\n%s 1 %d\nok 2 %d\n", base, strings.Repeat("x", 200), base, base+1)
	e.sendTCP(data)
	e.waitLines(graphite.ProtocolTCP, 3)
	e.shutdown()
	require.Equal(t, []point{{base * 1000, 1}, {(base + 1) * 1000, 2}}, e.stored()[`{__name__="ok"}`])
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_rejected_total", "protocol", graphite.ProtocolTCP, "reason", "too_large"))
}

func TestOutOfOrderAndTooOld(t *testing.T) {
	e := newEnv(t, graphite.Options{})
	now := time.Now().Unix()
	e.sendTCP(fmt.Sprintf("s 1 %d\ns 2 %d\ns 3 %d\n", now, now-30, now+1))
	e.waitLines(graphite.ProtocolTCP, 3)
	require.Eventually(t, func() bool {
		return e.counter("sonde_ingest_samples_written_total", "protocol", graphite.ProtocolTCP) == 2
	}, 15*time.Second, 5*time.Millisecond)
	// Once the head holds the present, three hours ago is too old. (In the
	// transaction that starts an empty head it is not.)
	e.sendTCP(fmt.Sprintf("old 1 %d\n", now-3*3600))
	e.waitLines(graphite.ProtocolTCP, 4)
	e.shutdown()
	require.Equal(t, []point{{now * 1000, 1}, {(now + 1) * 1000, 3}}, e.stored()[`{__name__="s"}`])
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_write_failed_total", "protocol", graphite.ProtocolTCP, "reason", "out_of_order"))
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_write_failed_total", "protocol", graphite.ProtocolTCP, "reason", "too_old"))
}

func TestOutOfOrderWindow(t *testing.T) {
	// With the store's out-of-order window, late samples within it are
	// stored, even in one transaction; later than that they are refused.
	e := newEnv(t, graphite.Options{OutOfOrderWindow: time.Minute})
	now := time.Now().Unix()
	e.sendTCP(fmt.Sprintf("s 1 %d\ns 2 %d\ns 3 %d\n", now, now-30, now-120))
	e.waitLines(graphite.ProtocolTCP, 3)
	e.shutdown()
	require.Equal(t, []point{{(now - 30) * 1000, 2}, {now * 1000, 1}}, e.stored()[`{__name__="s"}`])
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_write_failed_total", "protocol", graphite.ProtocolTCP, "reason", "out_of_order"))
}

func TestUDP(t *testing.T) {
	e := newEnv(t, graphite.Options{})
	base := time.Now().Add(-time.Minute).Unix()
	e.sendUDP(
		fmt.Sprintf("udp.a 1 %d\nudp.b;env=prod 2 %d\r\nbroken\nudp.a 3 %d", base, base, base+10),
		fmt.Sprintf("udp.c 4 %d\n", base),
	)
	e.waitLines(graphite.ProtocolUDP, 5)
	e.shutdown()
	got := e.stored()
	require.Equal(t, []point{{base * 1000, 1}, {(base + 10) * 1000, 3}}, got[`{__name__="udp_a"}`])
	require.Equal(t, []point{{base * 1000, 2}}, got[`{__name__="udp_b", env="prod"}`])
	require.Equal(t, []point{{base * 1000, 4}}, got[`{__name__="udp_c"}`])
	require.Equal(t, 1.0, e.counter("sonde_ingest_samples_rejected_total", "protocol", graphite.ProtocolUDP, "reason", "invalid"))
}

// TestShellClient sends lines the way operators do from a shell: with nc
// when it is installed, else with bash's /dev/tcp.
func TestShellClient(t *testing.T) {
	e := newEnv(t, graphite.Options{})
	host, port, err := net.SplitHostPort(e.tcp.Addr().String())
	require.NoError(t, err)
	ts := time.Now().Add(-time.Minute).Unix()
	lines := fmt.Sprintf("shell.metric 12.5 %d\nshell.tagged;who=ops 1 %d\n", ts, ts)
	var cmd *exec.Cmd
	if nc, err := exec.LookPath("nc"); err == nil {
		cmd = exec.Command(nc, "-q0", host, port)
		cmd.Stdin = strings.NewReader(lines)
	} else if bash, err := exec.LookPath("bash"); err == nil {
		cmd = exec.Command(bash, "-c", fmt.Sprintf(`printf '%%s' "$LINES" > /dev/tcp/%s/%s`, host, port))
		cmd.Env = append(cmd.Environ(), "LINES="+lines)
	} else {
		t.Skip("neither nc nor bash is installed")
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	e.waitLines(graphite.ProtocolTCP, 2)
	e.shutdown()
	got := e.stored()
	require.Equal(t, []point{{ts * 1000, 12.5}}, got[`{__name__="shell_metric"}`])
	require.Equal(t, []point{{ts * 1000, 1}}, got[`{__name__="shell_tagged", who="ops"}`])
}

func TestShutdownWithOpenConnection(t *testing.T) {
	e := newEnv(t, graphite.Options{})
	c, err := net.Dial("tcp", e.tcp.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	ts := time.Now().Add(-time.Minute).Unix()
	_, err = fmt.Fprintf(c, "open.conn 1 %d\n", ts)
	require.NoError(t, err)
	e.waitLines(graphite.ProtocolTCP, 1)
	// The client keeps the connection open; Shutdown still returns, and
	// the line read is stored.
	e.shutdown()
	require.Equal(t, []point{{ts * 1000, 1}}, e.stored()[`{__name__="open_conn"}`])
	// Serving after Shutdown returns at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, e.srv.ServeTCP(ln))
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestNewNeedsAppendable(t *testing.T) {
	_, err := graphite.New(graphite.Options{})
	require.Error(t, err)
}
