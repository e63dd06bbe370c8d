package ingest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Shutdown waits for a connection's loop to finish, and when its context
// ends first it aborts, closes the connection and still waits.
func TestSocketsShutdown(t *testing.T) {
	s := NewSockets()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	release := make(chan struct{})
	returned := make(chan error, 1)
	go func() {
		returned <- s.ServeTCP(ln, 4, func(error, time.Duration) {}, func(c net.Conn) {
			close(served)
			<-release // a loop that ignores its deadline until aborted
		})
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	<-served

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	aborted := false
	err = s.Shutdown(ctx, func() { aborted = true; close(release) })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, aborted)
	require.True(t, s.Closing())
	require.NoError(t, <-returned)

	// After Shutdown nothing registers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	require.False(t, s.TrackPacket(pc))
	require.NoError(t, s.ServeTCP(ln, 1, nil, nil))
}
