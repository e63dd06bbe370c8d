package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sonde-dev/sonde/internal/derive"
	"github.com/sonde-dev/sonde/internal/store/clickhouse"
)

// The tests run against ClickHouse servers that TestMain starts with
// scripts/clickhouse.sh: two on loopback, forming the two-shard cluster
// "sonde_two" (the first alone is "sonde_one"), with data in a temporary
// directory. SONDE_CLICKHOUSE=host:port runs them against a server of your
// own instead (its cluster tests then need SONDE_CLICKHOUSE_CLUSTER, a
// cluster of two shards, and SONDE_CLICKHOUSE_ADDR2, its second shard).
//
// When clickhouse-server cannot be installed (no apt-get, not root) the
// tests skip, unless CI=true: there every failure to get a server fails.

var (
	addr1, addr2 string // the two servers' native addresses
	cluster      string // a cluster of both, "" if none
	skipReason   string // why there is no server
	serverDir    string // what scripts/clickhouse.sh started, when it did
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "clickhouse.sh")
}

func run(m *testing.M) int {
	if a := os.Getenv("SONDE_CLICKHOUSE"); a != "" {
		addr1, addr2, cluster = a, os.Getenv("SONDE_CLICKHOUSE_ADDR2"), os.Getenv("SONDE_CLICKHOUSE_CLUSTER")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sonde-clickhouse-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	p1, p2 := freePortPair(), freePortPair()
	for p2 >= p1-1 && p2 <= p1+1 { // each server takes two ports
		p2 = freePortPair()
	}
	out, err := exec.Command(script(), "start", dir, strconv.Itoa(p1), strconv.Itoa(p2)).CombinedOutput()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 && os.Getenv("CI") != "true" {
			skipReason = "no ClickHouse: " + strings.TrimSpace(string(out))
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "FAIL: cannot start ClickHouse for the tests (%v):\n%s\n", err, out)
		return 1
	}
	serverDir = dir
	defer exec.Command(script(), "stop", dir).Run()
	addr1, addr2, cluster = "127.0.0.1:"+strconv.Itoa(p1), "127.0.0.1:"+strconv.Itoa(p2), "sonde_two"
	return m.Run()
}

// freePortPair finds a port p such that p and p+1 (ClickHouse's HTTP port
// in the generated config) are free.
func freePortPair() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
}

func needServer(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

var dbSeq struct {
	sync.Mutex
	n int
}

// freshDatabase names a database that no test used before, on this server
// or on one of your own (the name holds the process id).
func freshDatabase(t testing.TB, name string) string {
	t.Helper()
	dbSeq.Lock()
	dbSeq.n++
	db := fmt.Sprintf("sonde_test_%s_%d_%d", name, os.Getpid(), dbSeq.n)
	dbSeq.Unlock()
	return db
}

// open opens a store on the first server, with the sort fields sonde serve
// passes.
func open(t testing.TB, database string, edit ...func(*clickhouse.Options)) *clickhouse.DB {
	t.Helper()
	needServer(t)
	opts := clickhouse.Options{Addrs: []string{addr1}, Database: database, Refresh: 50 * time.Millisecond, WriteTimeout: 20 * time.Second,
		SortFields: derive.REDFields{}.Endpoint()}
	for _, e := range edit {
		e(&opts)
	}
	db, err := clickhouse.Open(context.Background(), opts)
	require.NoError(t, err)
	return db
}

// clickhouseClient runs a query with clickhouse-client on a server and
// returns its output trimmed.
func clickhouseClient(t testing.TB, addr, query string) string {
	t.Helper()
	return strings.TrimSpace(clientOutput(t, addr, query))
}

// clientOutput runs a query with clickhouse-client and returns its output
// as it is (trimming would cut the empty last fields of a TSV dump).
func clientOutput(t testing.TB, addr, query string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--query", query)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	return string(out)
}
