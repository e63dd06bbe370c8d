package syslog

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
)

// ServeTCP accepts syslog connections on ln until Shutdown, then returns
// nil; see ingest.Sockets.ServeTCP.
func (s *Server) ServeTCP(ln net.Listener) error {
	return s.sockets.ServeTCP(ln, s.opts.MaxConnections, func(err error, retryIn time.Duration) {
		s.warn(ProtocolTCP, "accept", "Accepting a syslog connection failed", "err", err, "retry_in", retryIn)
	}, s.serveConn)
}

// serveConn reads one connection's messages and submits them in batches of
// up to 1000 or 100 ms. While a batch is being written the connection is not
// read, so a full write queue holds the sender back through TCP flow
// control; nothing that was read is dropped for being busy.
func (s *Server) serveConn(conn net.Conn) {
	c := s.counters[ProtocolTCP]
	from := hostOf(conn.RemoteAddr())
	fr := newFrameReader(conn, s.opts.MaxMessageBytes)
	var (
		batch    []event.Event
		first    time.Time // when the batch's first message was read
		deadline time.Time // the read deadline set on conn
	)
	flush := func() {
		if len(batch) > 0 {
			s.submit(ProtocolTCP, batch)
			batch = nil
		}
	}
	defer flush()
	for {
		want := time.Time{}
		if len(batch) > 0 {
			want = first.Add(tcpBatchWait)
		}
		if !want.Equal(deadline) {
			_ = conn.SetReadDeadline(want)
			deadline = want
		}
		// Checked after setting the deadline: Shutdown sets closing before it
		// moves the deadline to the past, so one of the two stops the read.
		// Frames already buffered are still taken.
		frame, kind, n, err := fr.next(!s.sockets.Closing())
		add(c.bytes, n)
		switch {
		case err == nil:
		case isTimeout(err):
			flush()
			continue
		case errors.Is(err, errStopped):
			return
		default:
			if !errors.Is(err, io.EOF) && !s.sockets.Closing() {
				s.log.Debug("Syslog connection failed", "from", from, "err", err)
			}
			return
		}
		now := time.Now()
		switch kind {
		case frameMessage:
			if len(batch) == 0 {
				first = now
			}
			batch = s.decode(ProtocolTCP, string(frame), from, now, batch)
			if len(batch) >= maxBatch || (len(batch) > 0 && now.Sub(first) >= tcpBatchWait) {
				flush()
			}
		case frameTooLarge:
			add(c.tooLarge, 1)
			s.warn(ProtocolTCP, "too_large", "Rejected syslog message larger than the limit",
				"protocol", ProtocolTCP, "from", from, "limit", s.opts.MaxMessageBytes)
		case frameTruncated:
			add(c.invalid, 1)
			s.warn(ProtocolTCP, "invalid", "Rejected syslog message cut short by the end of the connection",
				"protocol", ProtocolTCP, "from", from)
		}
	}
}
