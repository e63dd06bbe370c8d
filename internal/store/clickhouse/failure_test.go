package clickhouse_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/query"
	"github.com/sonde-dev/sonde/internal/store"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
)

// ownServer starts a ClickHouse server that the test may kill, stop and
// start again.
type ownServer struct {
	t    *testing.T
	dir  string
	port int
}

func startOwnServer(t *testing.T) *ownServer {
	needServer(t)
	if serverDir == "" {
		t.Skip("needs a server of its own: runs only when the tests start ClickHouse themselves")
	}
	s := &ownServer{t: t, dir: t.TempDir(), port: freePortPair()}
	s.start()
	t.Cleanup(func() { exec.Command(script(), "stop", s.dir).Run() })
	return s
}

func (s *ownServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *ownServer) start() {
	out, err := exec.Command(script(), "start", s.dir, strconv.Itoa(s.port)).CombinedOutput()
	require.NoError(s.t, err, string(out))
}

func (s *ownServer) signal(sig syscall.Signal) {
	data, err := os.ReadFile(filepath.Join(s.dir, "n1", "pid"))
	require.NoError(s.t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(s.t, err)
	require.NoError(s.t, syscall.Kill(pid, sig))
	if sig == syscall.SIGKILL {
		for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestKilledMidIngest kills ClickHouse while batches keep coming: Append
// must fail with ErrUnavailable while it is down, work again once it is
// back, and every batch it acknowledged must be there.
func TestKilledMidIngest(t *testing.T) {
	srv := startOwnServer(t)
	db, err := clickhouse.Open(context.Background(), clickhouse.Options{
		Addrs: []string{srv.addr()}, Database: "sonde", WriteTimeout: 3 * time.Second, DialTimeout: time.Second,
	})
	require.NoError(t, err)
	defer db.Close()
	ingestThroughKill(t, srv, db, func() {
		// While it is down, queries fail with an error, not a panic.
		eng, err := query.New(query.Options{Store: db})
		require.NoError(t, err)
		_, err = eng.Run(context.Background(), query.Request{Query: "stats count(*)", Start: time.UnixMilli(0), End: time.Now()})
		require.ErrorIs(t, err, store.ErrUnavailable)
	})
}

// ingestThroughKill appends batches of 50 events every 5ms while it kills
// ClickHouse (once 1000 events were acknowledged), runs whileDown once
// three batches were refused, starts ClickHouse again, and stops once 1000
// more were acknowledged. Every refusal must be ErrUnavailable, and every
// acknowledged event must be stored.
func ingestThroughKill(t *testing.T, srv *ownServer, db store.Store, whileDown func()) {
	var (
		mu          sync.Mutex
		acked       int // events of acknowledged batches
		unavailable int // batches refused with ErrUnavailable
		other       []error
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := db.Append(context.Background(), &store.Batch{Events: lines(t, "ingest", i*50, 50, "")})
			mu.Lock()
			switch {
			case err == nil:
				acked += 50
			case errors.Is(err, store.ErrUnavailable):
				unavailable++
			default:
				other = append(other, err)
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "timed out waiting until %s", what)
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("batches are acknowledged", func() bool { mu.Lock(); defer mu.Unlock(); return acked >= 1000 })
	srv.signal(syscall.SIGKILL)
	waitFor("a batch is refused", func() bool { mu.Lock(); defer mu.Unlock(); return unavailable >= 3 })
	whileDown()
	srv.start()
	mu.Lock()
	before := acked
	mu.Unlock()
	waitFor("batches are acknowledged again", func() bool { mu.Lock(); defer mu.Unlock(); return acked >= before+1000 })
	close(stop)
	<-done
	require.Empty(t, other, "errors other than ErrUnavailable")
	n, err := strconv.Atoi(clickhouseClient(t, srv.addr(), "SELECT count() FROM "+schemaTable(t, db, "ingest")))
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, acked, "every acknowledged event is stored")
	t.Logf("acknowledged %d events, stored %d, %d batches refused while down", acked, n, unavailable)
}

// TestHungServer stops ClickHouse (SIGSTOP): Append must give up after
// WriteTimeout with ErrUnavailable, and work once the server runs again.
func TestHungServer(t *testing.T) {
	srv := startOwnServer(t)
	db, err := clickhouse.Open(context.Background(), clickhouse.Options{
		Addrs: []string{srv.addr()}, Database: "sonde", WriteTimeout: time.Second, DialTimeout: time.Second,
	})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Append(context.Background(), &store.Batch{Events: lines(t, "slow", 0, 10, "")}))

	srv.signal(syscall.SIGSTOP)
	start := time.Now()
	err = db.Append(context.Background(), &store.Batch{Events: lines(t, "slow", 10, 10, "")})
	took := time.Since(start)
	srv.signal(syscall.SIGCONT)
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.Less(t, took, 5*time.Second)

	require.NoError(t, db.Append(context.Background(), &store.Batch{Events: lines(t, "slow", 20, 10, "")}))
}

func schemaTable(t testing.TB, s store.Store, group string) string {
	sch, err := s.Schema(context.Background(), group)
	require.NoError(t, err)
	return sch.Table
}
