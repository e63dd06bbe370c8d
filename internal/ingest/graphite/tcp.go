package graphite

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"
)

// ServeTCP accepts Graphite plaintext connections on ln until Shutdown, then returns
// nil; see ingest.Sockets.ServeTCP.
func (s *Server) ServeTCP(ln net.Listener) error {
	return s.sockets.ServeTCP(ln, s.opts.MaxConnections, func(err error, retryIn time.Duration) {
		s.warnings.Warn(s.log, "accept", "Accepting a Graphite connection failed", "err", err, "retry_in", retryIn)
	}, s.serveConn)
}

// serveConn reads one connection's lines. The samples read are committed
// whenever the connection has nothing more buffered (before a read that
// may wait), and every few thousand lines: a client that pauses has its
// lines stored, and one that streams fills large transactions. A line must
// end with "\n" ("\r\n" accepted); a last line cut off by the end of the
// connection is rejected, as carbon drops it, since its value may be cut
// too.
func (s *Server) serveConn(conn net.Conn) {
	m := s.counters[ProtocolTCP]
	b := s.newBatch(ProtocolTCP, addrString(conn.RemoteAddr()))
	defer b.commit()
	br := bufio.NewReaderSize(conn, s.opts.MaxLineBytes+2)
	lineNo := 0
	skipping := false // discarding the rest of a line that was too long
	for {
		if br.Buffered() == 0 {
			b.commit()
		}
		// Shutdown sets closing before it moves the read deadline to the
		// past: lines already buffered are still taken, then the read
		// fails.
		line, err := br.ReadSlice('\n')
		add(m.bytes, len(line))
		switch {
		case err == nil:
			lineNo++
			if skipping {
				skipping = false
				continue
			}
			if l := trimEOL(line); len(l) > 0 { // blank lines are skipped
				b.line(l, lineNo)
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if !skipping {
				skipping = true
				lineNo++
				add(m.rejected[rejectTooLarge], 1)
				s.warnings.Warn(s.log, ProtocolTCP+" too_large", "Rejected Graphite line longer than the limit",
					"protocol", ProtocolTCP, "from", b.from, "line", lineNo, "limit", s.opts.MaxLineBytes)
			}
		default:
			if len(line) > 0 && !skipping {
				add(m.rejected[rejectInvalid], 1)
				s.warnings.Warn(s.log, ProtocolTCP+" invalid", "Rejected Graphite line cut short by the end of the connection (no newline)",
					"protocol", ProtocolTCP, "from", b.from, "line", lineNo+1, "text", abbreviate(line))
			}
			if !errors.Is(err, io.EOF) && !isTimeout(err) && !s.sockets.Closing() {
				s.log.Debug("Graphite connection failed", "from", b.from, "err", err)
			}
			return
		}
	}
}

// trimEOL removes the line terminator.
func trimEOL(line []byte) []byte {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return line[:n]
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
