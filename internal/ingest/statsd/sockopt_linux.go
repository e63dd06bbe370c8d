package statsd

import (
	"net"

	"golang.org/x/sys/unix"
)

// setReadBuffer sets the receive buffer of c to size bytes and returns
// the size the kernel granted. It tries SO_RCVBUFFORCE first, which may
// exceed net.core.rmem_max but needs CAP_NET_ADMIN.
func setReadBuffer(c *net.UDPConn, size int) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, size)
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			got = v / 2 // Linux reports twice the size asked for (bookkeeping overhead)
		}
	})
	if err != nil {
		return 0, err
	}
	return got, serr
}
