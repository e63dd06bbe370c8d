package syslog

import (
	"fmt"
	"iter"
	"net"
	"strings"
	"time"

	"github.com/sonde-dev/sonde/internal/event"
)

// ServeUDP reads syslog datagrams from pc and stores their messages until
// Shutdown; it then closes pc and returns nil. It returns the error that
// ends reading otherwise, also closing pc. Messages are gathered into
// batches of up to 1000 or 200 ms; a writer goroutine submits them while
// the next batch is read. When the writer falls behind by more than a few
// batches, new batches are dropped and counted as "busy": UDP has no way to
// slow a sender down, and an unbounded queue would only move the loss to
// an out-of-memory kill.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	if !s.sockets.TrackPacket(pc) {
		pc.Close()
		return nil
	}
	defer s.sockets.UntrackPacket(pc)
	defer pc.Close()
	batches := make(chan []event.Event, udpQueue)
	written := make(chan struct{})
	go func() {
		defer close(written)
		for b := range batches {
			s.submit(ProtocolUDP, b)
		}
	}()
	err := s.readUDP(pc, batches)
	close(batches)
	<-written
	return err
}

func (s *Server) readUDP(pc net.PacketConn, batches chan<- []event.Event) error {
	c := s.counters[ProtocolUDP]
	buf := make([]byte, maxDatagram)
	var (
		batch    []event.Event
		first    time.Time // when the batch's first message arrived
		deadline time.Time // the read deadline set on pc
		lastIP   net.IP
		lastFrom string
	)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if s.sockets.Closing() {
			batches <- batch // the writer drains the queue before Shutdown returns
		} else {
			select {
			case batches <- batch:
			default:
				add(c.busy, len(batch))
				s.warn(ProtocolUDP, "queue", "Dropped syslog datagrams: the writer is behind",
					"events", len(batch))
			}
		}
		batch = nil
	}
	for {
		want := time.Time{}
		if len(batch) > 0 {
			want = first.Add(udpBatchWait)
		}
		if !want.Equal(deadline) {
			_ = pc.SetReadDeadline(want)
			deadline = want
		}
		// Checked after setting the deadline: Shutdown sets closing before it
		// moves the deadline to the past, so one of the two stops the read.
		if s.sockets.Closing() {
			flush()
			return nil
		}
		n, addr, err := pc.ReadFrom(buf)
		if n > 0 {
			now := time.Now()
			add(c.bytes, n)
			if ua, ok := addr.(*net.UDPAddr); !ok || !ua.IP.Equal(lastIP) {
				lastFrom = hostOf(addr)
				if ok {
					lastIP = append(lastIP[:0], ua.IP...)
				}
			}
			for msg := range datagramMessages(string(buf[:n])) {
				if len(batch) == 0 {
					first = now
				}
				batch = s.decode(ProtocolUDP, msg, lastFrom, now, batch)
				if len(batch) >= maxBatch {
					flush()
				}
			}
		}
		switch {
		case err == nil:
			if len(batch) > 0 && time.Since(first) >= udpBatchWait {
				flush()
			}
		case isTimeout(err):
			flush()
		case s.sockets.Closing():
			flush()
			return nil
		default:
			flush()
			return fmt.Errorf("read syslog datagram: %w", err)
		}
	}
}

// datagramMessages yields the messages of a datagram: usually one, but a
// sender may put several in one datagram, each on its own line. A newline
// starts a new message only when "<" (a PRI) follows it, so that a
// multi-line MSG stays whole. Line terminators at the end of a message are
// removed and empty messages skipped.
func datagramMessages(d string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for len(d) > 0 {
			msg := d
			d = ""
			for i := 0; ; {
				j := strings.IndexByte(msg[i:], '\n')
				if j < 0 {
					break
				}
				j += i
				if j+1 < len(msg) && msg[j+1] == '<' {
					msg, d = msg[:j], msg[j+1:]
					break
				}
				i = j + 1
			}
			msg = strings.TrimRight(msg, "\r\n\x00")
			if msg != "" && !yield(msg) {
				return
			}
		}
	}
}
