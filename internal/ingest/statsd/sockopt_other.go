//go:build !linux

package statsd

import "net"

// setReadBuffer sets the receive buffer of c to size bytes. The size
// granted is not known on this platform, so size is returned.
func setReadBuffer(c *net.UDPConn, size int) (int, error) {
	if err := c.SetReadBuffer(size); err != nil {
		return 0, err
	}
	return size, nil
}
