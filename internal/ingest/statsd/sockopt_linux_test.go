package statsd

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestSetReadBuffer(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("no rmem_max: %v", err)
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	const want = 32 << 20
	got, err := setReadBuffer(pc.(*net.UDPConn), want)
	require.NoError(t, err)
	if unix.Geteuid() == 0 {
		require.GreaterOrEqual(t, got, want, "SO_RCVBUFFORCE as root")
	} else {
		require.GreaterOrEqual(t, got, min(want, rmemMax))
	}
}
