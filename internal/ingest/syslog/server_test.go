package syslog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sonde-dev/sonde/internal/event"
	"github.com/sonde-dev/sonde/internal/ingest/syslog"
	"github.com/sonde-dev/sonde/internal/pipeline"
	"github.com/sonde-dev/sonde/internal/selfmon"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/duckdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a syslog server on loopback UDP and TCP ports, writing through a
// real pipeline to a real DuckDB store.
type env struct {
	t       *testing.T
	db      *duckdb.DB
	pipe    *pipeline.Pipeline
	metrics *selfmon.Metrics
	srv     *syslog.Server
	udp     net.PacketConn
	tcp     net.Listener
	served  chan error
	stopped bool
}

type envOptions struct {
	opts syslog.Options
	// wrap wraps the store the pipeline writes to.
	wrap func(store.Store) store.Store
	// queue is the pipeline's MaxQueuedEvents (default 500,000).
	queue int
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	db, err := duckdb.Open(context.Background(), duckdb.Options{Dir: t.TempDir(), MemoryLimit: "256MB", Threads: 1})
	require.NoError(t, err)
	var st store.Store = db
	if o.wrap != nil {
		st = o.wrap(db)
	}
	e := &env{t: t, db: db, metrics: selfmon.New(func() float64 { return 0 }), served: make(chan error, 2)}
	e.pipe = pipeline.New(st, pipeline.Options{MaxQueuedEvents: o.queue, Metrics: e.metrics})
	o.opts.Pipeline, o.opts.Metrics = e.pipe, e.metrics
	e.srv = syslog.New(o.opts)
	e.udp, err = net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	e.tcp, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { e.served <- e.srv.ServeUDP(e.udp) }()
	go func() { e.served <- e.srv.ServeTCP(e.tcp) }()
	t.Cleanup(func() {
		if !e.stopped {
			e.shutdown(10 * time.Second)
		}
		e.pipe.Close()
		require.NoError(t, e.db.Close())
	})
	return e
}

// shutdown stops the server and checks that both Serve methods return nil.
func (e *env) shutdown(timeout time.Duration) error {
	e.t.Helper()
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	for range 2 {
		select {
		case serr := <-e.served:
			require.NoError(e.t, serr)
		case <-time.After(10 * time.Second):
			e.t.Fatal("Serve did not return after Shutdown")
		}
	}
	return err
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

func (e *env) dialTCP() net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.tcp.Addr().String())
	require.NoError(e.t, err)
	e.t.Cleanup(func() { c.Close() })
	return c
}

// events returns the stored events of the syslog group, oldest first.
func (e *env) events() []event.Event {
	e.t.Helper()
	var out []event.Event
	err := e.db.Scan(context.Background(), store.ScanRequest{Group: "syslog"}, func(ev *event.Event) error {
		c := *ev
		c.Fields = append([]event.Field(nil), ev.Fields...)
		out = append(out, c)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	require.NoError(e.t, err)
	return out
}

// waitEvents waits until n events are stored and returns them.
func (e *env) waitEvents(n int) []event.Event {
	e.t.Helper()
	var evs []event.Event
	require.Eventually(e.t, func() bool {
		evs = e.events()
		return len(evs) >= n
	}, 15*time.Second, 20*time.Millisecond, "waiting for %d events", n)
	require.Len(e.t, evs, n)
	return evs
}

func counter(t *testing.T, vec *prometheus.CounterVec, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, vec.WithLabelValues(labels...).Write(&m))
	return m.GetCounter().GetValue()
}

func (e *env) rejected(proto, reason string) float64 {
	return counter(e.t, e.metrics.EventsRejected, proto, reason)
}

func (e *env) bytes(proto string) float64 { return counter(e.t, e.metrics.Bytes, proto) }

func (e *env) retries(proto string) float64 { return counter(e.t, e.metrics.Retries, proto) }

// fields renders an event's fields as name -> "kind:text".
func fields(ev *event.Event) map[string]string {
	out := map[string]string{}
	for _, f := range ev.Fields {
		out[f.Name] = f.Kind.String() + ":" + f.Text(ev.Time)
	}
	return out
}

func messages(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].Message
	}
	return out
}

const rfcExample3 = `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] ` + "\xef\xbb\xbf" + "An application event log entry..."

func TestUDPEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	bsd := fmt.Sprintf("<30>%s gateway sshd[4242]: Accepted publickey for deploy", now.Format(time.Stamp))
	datagrams := []string{
		rfcExample3,
		"<14>1 2024-05-01T10:00:00Z web-1 api - - - first\n" + bsd + "\r\n<14>1 2024-05-01T10:00:02Z web-1 api - - - third\nwith a second line\n",
		"<999>1 - - - - - - bad priority",
		"no priority at all",
	}
	e.sendUDP(datagrams...)
	evs := e.waitEvents(4)
	require.Eventually(t, func() bool { return e.rejected(syslog.ProtocolUDP, "invalid") == 2 }, 5*time.Second, 10*time.Millisecond)
	total := 0
	for _, d := range datagrams {
		total += len(d)
	}
	require.InDelta(t, float64(total), e.bytes(syslog.ProtocolUDP), 0)

	byMsg := map[string]event.Event{}
	for _, ev := range evs {
		byMsg[ev.Message] = ev
	}
	ex3 := byMsg[rfcExample3]
	require.Equal(t, "mymachine.example.com", ex3.Stream)
	require.Equal(t, time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC).UnixMilli(), ex3.Time)
	require.Equal(t, map[string]string{
		"facility": "string:local4", "severity": "string:notice", "priority": "int:165", "version": "int:1",
		"hostname": "string:mymachine.example.com", "appName": "string:evntslog", "msgId": "string:ID47",
		"message":                          "string:An application event log entry...",
		"sd.exampleSDID@32473.iut":         "string:3",
		"sd.exampleSDID@32473.eventSource": "string:Application",
		"sd.exampleSDID@32473.eventID":     "string:1011",
		"sd.examplePriority@32473.class":   "string:high",
	}, fields(&ex3))

	b := byMsg[bsd]
	require.Equal(t, "gateway", b.Stream)
	require.Equal(t, now.Truncate(time.Second).UnixMilli(), b.Time, "RFC 3164 time read in the local zone, this year")
	require.Equal(t, map[string]string{
		"facility": "string:daemon", "severity": "string:info", "priority": "int:30",
		"hostname": "string:gateway", "appName": "string:sshd", "procId": "string:4242",
		"message": "string:Accepted publickey for deploy",
	}, fields(&b))

	require.Contains(t, byMsg, "<14>1 2024-05-01T10:00:00Z web-1 api - - - first")
	third := byMsg["<14>1 2024-05-01T10:00:02Z web-1 api - - - third\nwith a second line"]
	require.Equal(t, "string:third\nwith a second line", fields(&third)["message"], "a multi-line MSG stays one message")
}

func TestUDPStreamFallsBackToSenderAddress(t *testing.T) {
	e := newEnv(t, envOptions{opts: syslog.Options{Group: "syslog"}})
	e.sendUDP("<13>just text")
	evs := e.waitEvents(1)
	require.Equal(t, "127.0.0.1", evs[0].Stream)
	require.Equal(t, "<13>just text", evs[0].Message)
	require.Equal(t, map[string]string{
		"facility": "string:user", "severity": "string:notice", "priority": "int:13", "message": "string:just text",
	}, fields(&evs[0]))
}

// Control characters and NUL reach the store as sent: a value the store
// refused would fail the whole group commit, other clients' events with it.
func TestControlCharactersRoundTrip(t *testing.T) {
	e := newEnv(t, envOptions{})
	line := "<13>1 - h - - - [x a=\"v\x00w\\\"\"] a\x00b\x01c\td \xff"
	e.sendUDP(line)
	evs := e.waitEvents(1)
	require.Equal(t, strings.ToValidUTF8(line, "\uFFFD"), evs[0].Message)
	f := fields(&evs[0])
	require.Equal(t, "string:v\x00w\"", f["sd.x.a"])
	require.Equal(t, "string:a\x00b\x01c\td \uFFFD", f["message"])
}

func TestTCPEndToEnd(t *testing.T) {
	e := newEnv(t, envOptions{})
	frame := func(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }
	m := func(i int) string {
		return fmt.Sprintf(`<14>1 2024-05-01T10:00:%02dZ host-a app 7 - [ctx n="%d"] message %d`, i, i, i)
	}
	c := e.dialTCP()
	writes := []string{
		// Several messages in one write, both framings.
		frame(m(0)) + m(1) + "\n" + frame(m(2)) + m(3) + "\r\n",
		// A message split across writes, in the middle of its length too.
		frame(m(4))[:1],
		frame(m(4))[1:20],
		frame(m(4))[20:] + m(5)[:10],
		m(5)[10:] + "\x00",
		// A multi-line message needs octet counting.
		frame(m(6) + "\nsecond line"),
		// The last line without delimiter is taken at the end of the stream.
		m(7),
	}
	for _, w := range writes {
		_, err := c.Write([]byte(w))
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond) // separate reads on the server
	}
	require.NoError(t, c.Close())

	// A second connection at the same time, newline framing only.
	c2 := e.dialTCP()
	_, err := c2.Write([]byte("<13>Mar  1 10:00:00 host-b tag: other connection\n"))
	require.NoError(t, err)
	require.NoError(t, c2.Close())

	evs := e.waitEvents(9)
	var fromA []string
	for i := range evs {
		if evs[i].Stream == "host-a" {
			fromA = append(fromA, evs[i].Message)
			require.Equal(t, fmt.Sprintf("string:%d", i), fields(&evs[i])["sd.ctx.n"])
		}
	}
	require.Equal(t, []string{m(0), m(1), m(2), m(3), m(4), m(5), m(6) + "\nsecond line", m(7)}, fromA)
	require.Equal(t, "host-b", evs[len(evs)-1].Stream, "the 3164 message has a date of this or last year, after 2024")
	total := 0
	for _, w := range writes {
		total += len(w)
	}
	require.Eventually(t, func() bool {
		return e.bytes(syslog.ProtocolTCP) == float64(total+len("<13>Mar  1 10:00:00 host-b tag: other connection\n"))
	}, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, e.rejected(syslog.ProtocolTCP, "invalid"))
}

func TestTCPTooLargeAndInvalidResync(t *testing.T) {
	e := newEnv(t, envOptions{opts: syslog.Options{MaxMessageBytes: 64}})
	big := "<14>1 - big - - - - " + strings.Repeat("x", 100)
	c := e.dialTCP()
	stream := fmt.Sprintf("%d %s", len(big), big) + "<14>1 - h - - - - after octet\n" +
		big + "\n" + "<14>1 - h - - - - after line\n" +
		"not syslog\n" + "<14>1 - h - - - - after invalid\n" +
		"<14>1 - h - - - - 64 bytes exactly ...........................\n" +
		"50 <14>1 - h - - - - cut short"
	_, err := c.Write([]byte(stream))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	evs := e.waitEvents(4)
	require.Equal(t, []string{
		"<14>1 - h - - - - after octet", "<14>1 - h - - - - after line", "<14>1 - h - - - - after invalid",
		"<14>1 - h - - - - 64 bytes exactly ...........................",
	}, messages(evs))
	require.Eventually(t, func() bool {
		return e.rejected(syslog.ProtocolTCP, "too_large") == 2 && e.rejected(syslog.ProtocolTCP, "invalid") == 2
	}, 5*time.Second, 10*time.Millisecond, "too_large %v, invalid %v", e.rejected(syslog.ProtocolTCP, "too_large"), e.rejected(syslog.ProtocolTCP, "invalid"))
}

// gatedStore holds every Append until the gate opens.
type gatedStore struct {
	store.Store
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func newGate(s store.Store) *gatedStore {
	return &gatedStore{Store: s, entered: make(chan struct{}, 1), gate: make(chan struct{})}
}

func (g *gatedStore) Append(ctx context.Context, b *store.Batch) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	return g.Store.Append(ctx, b)
}

func (g *gatedStore) open() { g.once.Do(func() { close(g.gate) }) }

func lines(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

func TestTCPWaitsOutAFullQueueWithoutDropping(t *testing.T) {
	var gate *gatedStore
	e := newEnv(t, envOptions{queue: 1000, wrap: func(s store.Store) store.Store { gate = newGate(s); return gate }})
	defer gate.open()

	// 1000 messages fill the queue while the store holds their commit.
	a := e.dialTCP()
	_, err := a.Write([]byte(lines(1000, "<14>1 - a - - - - %d\n")))
	require.NoError(t, err)
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first batch never reached the store")
	}
	// A second sender is refused by the pipeline and retries.
	b := e.dialTCP()
	_, err = b.Write([]byte(lines(5, "<14>1 - b - - - - %d\n")))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.retries(syslog.ProtocolTCP) >= 1 }, 10*time.Second, 5*time.Millisecond)

	gate.open()
	evs := e.waitEvents(1005)
	n := 0
	for i := range evs {
		if evs[i].Stream == "b" {
			n++
		}
	}
	require.Equal(t, 5, n, "nothing read over TCP is dropped")
}

func TestUDPDropsAfterRetriesWhenTheQueueStaysFull(t *testing.T) {
	var gate *gatedStore
	e := newEnv(t, envOptions{queue: 1000, wrap: func(s store.Store) store.Store { gate = newGate(s); return gate }})
	defer gate.open()

	// A TCP sender fills the queue while the store holds its commit.
	c := e.dialTCP()
	_, err := c.Write([]byte(lines(1000, "<14>1 - tcp - - - - %d\n")))
	require.NoError(t, err)
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first batch never reached the store")
	}
	// UDP messages are refused on the first try and three retries (after
	// 50, 100 and 200 ms), then dropped and counted once.
	e.sendUDP(lines(5, "<14>1 - udp - - - - %d\n"))
	require.Eventually(t, func() bool { return e.rejected(syslog.ProtocolUDP, "busy") == 5 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 3.0, e.retries(syslog.ProtocolUDP))
	gate.open()
	require.NoError(t, e.shutdown(10*time.Second))
	evs := e.events()
	require.Len(t, evs, 1000)
	for i := range evs {
		require.Equal(t, "tcp", evs[i].Stream)
	}
}

func TestUDPDropsWhenTheWriterFallsBehind(t *testing.T) {
	var gate *gatedStore
	e := newEnv(t, envOptions{wrap: func(s store.Store) store.Store { gate = newGate(s); return gate }})
	defer gate.open()

	// The first batch is held by the store, so the writer waits on it.
	e.sendUDP(lines(1000, "<14>1 - udp - - - - 1 %d\n"))
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first batch never reached the store")
	}
	// Four more batches wait for the writer; the sixth finds no room.
	for i := 2; i <= 6; i++ {
		e.sendUDP(lines(1000, fmt.Sprintf("<14>1 - udp - - - - %d %%d\n", i)))
	}
	require.Eventually(t, func() bool { return e.rejected(syslog.ProtocolUDP, "busy") == 1000 }, 10*time.Second, 5*time.Millisecond)
	gate.open()
	require.NoError(t, e.shutdown(10*time.Second))
	require.Len(t, e.events(), 5000)
	require.InDelta(t, 1000.0, e.rejected(syslog.ProtocolUDP, "busy"), 0)
}

func TestShutdownSubmitsWhatWasRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.dialTCP()
	tcpData := lines(3, "<14>1 - tcp - - - - %d\n")
	_, err := c.Write([]byte(tcpData))
	require.NoError(t, err)
	udpData := lines(3, "<14>1 - udp - - - - %d\n")
	e.sendUDP(udpData)
	require.Eventually(t, func() bool {
		return e.bytes(syslog.ProtocolTCP) == float64(len(tcpData)) && e.bytes(syslog.ProtocolUDP) == float64(len(udpData))
	}, 5*time.Second, time.Millisecond)

	require.NoError(t, e.shutdown(10*time.Second))
	require.Len(t, e.events(), 6)

	// The server closed the connection.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	// Sockets served after Shutdown are closed at once.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, e.srv.ServeUDP(pc))
	require.ErrorIs(t, pc.Close(), net.ErrClosed)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, e.srv.ServeTCP(ln))
	require.ErrorIs(t, ln.Close(), net.ErrClosed)
}

func TestShutdownGivesUpAtItsDeadline(t *testing.T) {
	var gate *gatedStore
	e := newEnv(t, envOptions{wrap: func(s store.Store) store.Store { gate = newGate(s); return gate }})
	defer gate.open()
	c := e.dialTCP()
	_, err := c.Write([]byte("<14>1 - h - - - - held\n"))
	require.NoError(t, err)
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch never reached the store")
	}
	start := time.Now()
	require.ErrorIs(t, e.shutdown(200*time.Millisecond), context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}

// TestLoggerClient sends with util-linux logger, a real syslog client.
func TestLoggerClient(t *testing.T) {
	path, err := exec.LookPath("logger")
	if err != nil {
		t.Skip("logger (util-linux) is not installed")
	}
	e := newEnv(t, envOptions{})
	udpPort := fmt.Sprint(e.udp.LocalAddr().(*net.UDPAddr).Port)
	tcpPort := fmt.Sprint(e.tcp.Addr().(*net.TCPAddr).Port)
	run := func(stdin string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, append([]string{"-n", "127.0.0.1", "-t", "myapp", "-p", "daemon.err"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Run(), "logger %v: %s", args, out.String())
	}
	run("", "-d", "-P", udpPort, "--rfc5424", "--msgid", "MID", "--sd-id", "zoo@123", "--sd-param", `tiger="hungry"`, "udp 5424")
	run("", "-d", "-P", udpPort, "--rfc3164", "udp 3164")
	run("", "-T", "-P", tcpPort, "--rfc5424", "--octet-count", "tcp octet")
	run("tcp line 1\ntcp line 2\ntcp line 3\n", "-T", "-P", tcpPort, "--rfc5424")

	evs := e.waitEvents(6)
	host, _ := os.Hostname()
	byText := map[string]map[string]string{}
	for i := range evs {
		f := fields(&evs[i])
		byText[strings.TrimPrefix(f["message"], "string:")] = f
		require.Equal(t, "string:myapp", f["appName"])
		require.Equal(t, "string:daemon", f["facility"])
		require.Equal(t, "string:err", f["severity"])
		require.Equal(t, "int:27", f["priority"])
		require.Equal(t, "string:"+evs[i].Stream, f["hostname"], "the stream is the HOSTNAME")
		require.True(t, strings.HasPrefix(host, evs[i].Stream), "logger sends the short hostname: %q, %q", host, evs[i].Stream)
		require.InDelta(t, time.Now().UnixMilli(), evs[i].Time, float64(time.Minute.Milliseconds()))
	}
	require.Equal(t, "string:MID", byText["udp 5424"]["msgId"])
	require.Equal(t, "string:hungry", byText["udp 5424"]["sd.zoo@123.tiger"])
	require.Equal(t, "string:1", byText["udp 5424"]["sd.timeQuality.tzKnown"])
	require.Equal(t, "int:1", byText["udp 5424"]["version"])
	require.NotContains(t, byText["udp 3164"], "version")
	for _, text := range []string{"tcp octet", "tcp line 1", "tcp line 2", "tcp line 3"} {
		require.Contains(t, byText, text)
	}
	require.Zero(t, e.rejected(syslog.ProtocolUDP, "invalid"))
	require.Zero(t, e.rejected(syslog.ProtocolTCP, "invalid"))
}
