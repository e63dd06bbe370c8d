package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// freeAddr returns a loopback address that was free a moment ago, so that
// a restarted server can listen on the same ports as before.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func otlpRequest(service string, ids []string) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	for _, id := range ids {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("order " + id + " paid")
		lr.Attributes().PutStr("id", id)
		lr.SetSeverityText("INFO")
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func batchIDs(prefix string, seq, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d-%d", prefix, seq, i)
	}
	return ids
}

func writeOTLPHTTP(ctx context.Context, addr string, a *acked) {
	for seq := 0; ctx.Err() == nil; seq++ {
		ids := batchIDs("oh", seq, 100)
		body, _ := otlpRequest("otlp-http", ids).MarshalProto()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			a.add(ids...)
		}
	}
}

func writeOTLPGRPC(ctx context.Context, addr string, a *acked) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	for seq := 0; ctx.Err() == nil; seq++ {
		ids := batchIDs("og", seq, 100)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.Export(cctx, otlpRequest("otlp-grpc", ids))
		cancel()
		if err != nil {
			return
		}
		a.add(ids...)
	}
}

func writeSyslog(ctx context.Context, addr string, sent *int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer conn.Close()
	for i := 0; ctx.Err() == nil; i++ {
		if _, err := fmt.Fprintf(conn, "<134>1 2026-11-20T10:00:00.000Z web-1 checkout 42 - - syslog message %d\n", i); err != nil {
			return
		}
		*sent++
		if i%200 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestEveryProtocolSurvivesKill ingests over every protocol at once, kills
// the server with SIGKILL, restarts it on the same ports, and checks that
// every acknowledged event is stored and that sonde ship, still running,
// delivers its file exactly once.
func TestEveryProtocolSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	addrs := []string{"--http-addr", freeAddr(t), "--otlp-http-addr", freeAddr(t), "--otlp-grpc-addr", freeAddr(t), "--syslog-addr", freeAddr(t)}
	startFixed := func() *server {
		cmd := append([]string{}, addrs...)
		return start(t, filepath.Join(dir, "data"), cmd...)
	}
	s := startFixed()

	// sonde ship tails a file that keeps growing through the crash.
	logFile := filepath.Join(dir, "app.log")
	f, err := os.Create(logFile)
	require.NoError(t, err)
	defer f.Close()
	shipCtx, stopShip := context.WithCancel(context.Background())
	defer stopShip()
	ship := exec.CommandContext(shipCtx, binary, "ship", "--server", s.url(""), "--group", "shipped",
		"--state-dir", filepath.Join(dir, "ship-state"), "--flush", "100ms", "--poll", "20ms", logFile)
	shipLog := &syncBuffer{}
	ship.Stderr = shipLog
	require.NoError(t, ship.Start())
	const fileLines = 4000
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < fileLines; i++ {
			fmt.Fprintf(f, `{"line":%d,"msg":"shipped line %d"}`+"\n", i, i)
			if i%100 == 99 {
				time.Sleep(15 * time.Millisecond)
			}
		}
	}()

	a := &acked{ids: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var syslogSent int
	run := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	run(func() { writeUntilDead(ctx, s.url(""), "native", "n", 200, a) })
	run(func() { writeOTLPHTTP(ctx, s.addrs["otlp_http"], a) })
	run(func() { writeOTLPGRPC(ctx, s.addrs["otlp_grpc"], a) })
	run(func() { writeSyslog(ctx, s.addrs["syslog_tcp"], &syslogSent) })
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.ids) > 3000
	}, 60*time.Second, 10*time.Millisecond)
	s.kill()
	cancel()
	wg.Wait()

	s = startFixed()
	<-writerDone
	// The shipper retried while the server was down; let it finish.
	require.Eventually(t, func() bool {
		rows := s.query("stats count(*) as n", "shipped")
		return len(rows) == 1 && rows[0][0] == float64(fileLines)
	}, 60*time.Second, 100*time.Millisecond, "ship log:\n%s", shipLog)
	stopShip()
	ship.Wait()

	rows := s.query("stats count(*) as n, count_distinct(line) as lines", "shipped")
	require.Equal(t, []any{float64(fileLines), float64(fileLines)}, rows[0], "every shipped line exactly once")

	stored := map[string]bool{}
	for _, r := range s.query("fields id | limit 100000", "native") {
		stored[r[0].(string)] = true
	}
	for _, g := range []string{"otlp-http", "otlp-grpc"} {
		for _, r := range s.query("fields `attributes.id` | limit 100000", g) {
			stored[r[0].(string)] = true
		}
	}
	missing := 0
	for id := range a.ids {
		if !stored[id] {
			missing++
		}
	}
	require.Zero(t, missing, "acknowledged events lost over HTTP, OTLP/HTTP or OTLP/gRPC: %d of %d", missing, len(a.ids))
	prefixes := map[byte]bool{}
	for id := range a.ids {
		prefixes[id[0]] = true
		if id[0] == 'o' {
			prefixes[id[1]] = true
		}
	}
	require.True(t, prefixes['n'] && prefixes['h'] && prefixes['g'], "every protocol got acknowledgements")
	rows = s.query("stats count(*) as n", "syslog")
	require.NotEmpty(t, rows)
	require.Greater(t, rows[0][0].(float64), 0.0, "syslog lines arrived (of %d sent; TCP syslog has no acknowledgement)", syslogSent)
	s.stop()
}
