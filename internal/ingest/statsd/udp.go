package statsd

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

const (
	// maxDatagram is the size of each read buffer: larger than any UDP
	// payload (65,507 bytes over IPv4), so a datagram that fills it was cut.
	maxDatagram = 64 << 10
	// readBatch is the number of datagrams one read takes at most
	// (recvmmsg on Linux).
	readBatch = 16
)

// ServeUDP reads statsd datagrams from pc and aggregates their lines until
// Shutdown; it then closes pc and returns nil. It returns the error that
// ends reading otherwise, also closing pc. Options.Readers goroutines read
// pc, each taking up to 16 datagrams per system call where the platform
// has recvmmsg; a datagram holds one or more lines separated by "\n"
// ("\r\n" is accepted). When pc is a *net.UDPConn its receive buffer is
// first set to Options.ReadBuffer.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	if !s.sockets.TrackPacket(pc) {
		pc.Close()
		return nil
	}
	defer s.sockets.UntrackPacket(pc)
	defer pc.Close()
	if uc, ok := pc.(*net.UDPConn); ok && s.opts.ReadBuffer > 0 {
		got, err := setReadBuffer(uc, s.opts.ReadBuffer)
		switch {
		case err != nil:
			s.log.Warn("Cannot set the statsd UDP receive buffer", "want_bytes", s.opts.ReadBuffer, "err", err)
		case got < s.opts.ReadBuffer:
			s.log.Warn("The statsd UDP receive buffer is smaller than asked for; bursts may be dropped by the kernel (raise net.core.rmem_max)",
				"want_bytes", s.opts.ReadBuffer, "got_bytes", got)
		}
	}
	errs := make(chan error, s.opts.Readers)
	for range s.opts.Readers {
		go func() { errs <- s.readLoop(pc, newBatchReader(pc)) }()
	}
	var first error
	for range s.opts.Readers {
		if err := <-errs; err != nil && first == nil {
			first = err
			pc.Close() // stops the other readers
		}
	}
	if s.sockets.Closing() {
		return nil
	}
	return first
}

func (s *Server) readLoop(pc net.PacketConn, r batchReader) error {
	var (
		p  Parser
		st batchStats
	)
	defer s.publish(&st)
	for {
		// Checked before each read: Shutdown sets closing before it moves
		// the read deadline to the past, so one of the two stops the read.
		if s.sockets.Closing() {
			return nil
		}
		n, err := r.read()
		for i := range n {
			d, from := r.datagram(i)
			if len(d) >= maxDatagram {
				st.rejected[rejectTooLarge]++
				s.warnings.Warn(s.log, "too_large", "Rejected statsd datagram that filled the read buffer", "from", addrString(from))
				continue
			}
			s.handleDatagram(&p, d, from, &st)
		}
		if n > 0 {
			s.publish(&st)
		}
		if err != nil {
			if s.sockets.Closing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // a deadline set by someone else; Shutdown sets closing first
			}
			return fmt.Errorf("read statsd datagram: %w", err)
		}
	}
}

// batchReader reads several datagrams at once where it can.
type batchReader interface {
	// read reads at least one datagram, blocking until one arrives.
	read() (int, error)
	// datagram returns the payload and sender of datagram i of the last
	// read; both are valid until the next read.
	datagram(i int) ([]byte, net.Addr)
}

func newBatchReader(pc net.PacketConn) batchReader {
	if uc, ok := pc.(*net.UDPConn); ok {
		r := &mmsgReader{msgs: make([]ipv4.Message, readBatch)}
		for i := range r.msgs {
			r.msgs[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		}
		if la, ok := uc.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil && la.IP != nil {
			r.conn = ipv6.NewPacketConn(uc)
		} else {
			r.conn = ipv4.NewPacketConn(uc)
		}
		return r
	}
	return &singleReader{pc: pc, buf: make([]byte, maxDatagram)}
}

// mmsgReader reads with ReadBatch: recvmmsg(2) on Linux, one datagram per
// call elsewhere.
type mmsgReader struct {
	conn interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
	}
	msgs []ipv4.Message
}

func (r *mmsgReader) read() (int, error) { return r.conn.ReadBatch(r.msgs, 0) }

func (r *mmsgReader) datagram(i int) ([]byte, net.Addr) {
	m := &r.msgs[i]
	return m.Buffers[0][:m.N], m.Addr
}

// singleReader reads one datagram per call from any net.PacketConn.
type singleReader struct {
	pc   net.PacketConn
	buf  []byte
	n    int
	from net.Addr
}

func (r *singleReader) read() (int, error) {
	n, from, err := r.pc.ReadFrom(r.buf)
	r.n, r.from = n, from
	if n > 0 {
		return 1, err
	}
	return 0, err
}

func (r *singleReader) datagram(int) ([]byte, net.Addr) { return r.buf[:r.n], r.from }
