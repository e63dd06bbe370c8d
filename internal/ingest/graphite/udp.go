package graphite

import (
	"bytes"
	"fmt"
	"net"
)

// ServeUDP reads Graphite plaintext datagrams from pc until Shutdown; it
// then closes pc and returns nil. It returns the error that ends reading
// otherwise, also closing pc. A datagram holds one or more lines separated
// by "\n" ("\r\n" accepted); the last needs no terminator. The samples of
// each datagram are committed before the next is read.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	if !s.sockets.TrackPacket(pc) {
		pc.Close()
		return nil
	}
	defer s.sockets.UntrackPacket(pc)
	defer pc.Close()
	m := s.counters[ProtocolUDP]
	buf := make([]byte, maxDatagram)
	for {
		// Checked before each read: Shutdown sets closing before it moves
		// the read deadline to the past, so one of the two stops the read.
		if s.sockets.Closing() {
			return nil
		}
		n, from, err := pc.ReadFrom(buf)
		if n > 0 {
			add(m.bytes, n)
			b := s.newBatch(ProtocolUDP, addrString(from))
			d := buf[:n]
			for lineNo := 1; len(d) > 0; lineNo++ {
				line := d
				if i := bytes.IndexByte(d, '\n'); i >= 0 {
					line, d = d[:i], d[i+1:]
				} else {
					d = nil
				}
				if line = trimEOL(line); len(line) > 0 {
					b.line(line, lineNo)
				}
			}
			b.commit()
		}
		if err != nil {
			if s.sockets.Closing() {
				return nil
			}
			if isTimeout(err) {
				continue
			}
			return fmt.Errorf("read Graphite datagram: %w", err)
		}
	}
}
