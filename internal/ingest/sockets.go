package ingest

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// acceptWaitMax is the longest pause after a failed Accept.
const acceptWaitMax = time.Second

// Sockets is the life cycle of a socket server's listeners, packet sockets
// and connections (syslog, Graphite, statsd): serving loops register here, and
// Shutdown stops their reads, waits for them to store what they read, and
// closes everything.
//
// Contract for the serving loops: register with TrackPacket (or run
// ServeTCP), check Closing before each read and after moving a read
// deadline, and treat a failed read while Closing as the end, after
// storing what was read before it.
type Sockets struct {
	mu        sync.Mutex
	closing   atomic.Bool   // set under mu
	stopping  chan struct{} // closed with closing
	packets   map[net.PacketConn]struct{}
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup // serving loops and connections; Add under mu while not closing
}

// NewSockets returns an empty set.
func NewSockets() *Sockets {
	return &Sockets{
		stopping:  make(chan struct{}),
		packets:   map[net.PacketConn]struct{}{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]struct{}{},
	}
}

// Closing reports whether Shutdown has begun.
func (s *Sockets) Closing() bool { return s.closing.Load() }

// TrackPacket registers a packet socket's serving loop, unless Shutdown has
// begun (then the caller closes pc and returns). UntrackPacket ends it.
func (s *Sockets) TrackPacket(pc net.PacketConn) bool { return track(s, s.packets, pc) }

// UntrackPacket is the end of a loop TrackPacket registered.
func (s *Sockets) UntrackPacket(pc net.PacketConn) { untrack(s, s.packets, pc) }

// ServeTCP accepts connections on ln until Shutdown, then returns nil;
// Shutdown closes ln and the connections. It returns the error that ends
// accepting otherwise (ln closed by someone else), also closing ln; the
// connections already accepted are served on until Shutdown. At most
// maxConns connections are served at once. Failed accepts (too many open
// files, for one) are reported to acceptFailed and retried after a pause
// that doubles up to a second.
func (s *Sockets) ServeTCP(ln net.Listener, maxConns int, acceptFailed func(err error, retryIn time.Duration), serve func(net.Conn)) error {
	if !track(s, s.listeners, ln) {
		ln.Close()
		return nil
	}
	defer untrack(s, s.listeners, ln)
	defer ln.Close()
	slots := make(chan struct{}, maxConns)
	pause := time.Duration(0)
	for {
		select {
		case slots <- struct{}{}:
		case <-s.stopping:
			return nil
		}
		conn, err := ln.Accept()
		if err != nil {
			<-slots
			if s.closing.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			pause = min(max(2*pause, 5*time.Millisecond), acceptWaitMax)
			acceptFailed(err, pause)
			select {
			case <-time.After(pause):
			case <-s.stopping:
				return nil
			}
			continue
		}
		pause = 0
		if !track(s, s.conns, conn) {
			conn.Close()
			<-slots
			return nil
		}
		go func() {
			defer func() { <-slots }()
			defer untrack(s, s.conns, conn)
			defer conn.Close()
			serve(conn)
		}()
	}
}

// Shutdown sets Closing, closes the listeners and moves every read
// deadline to the past, so that each loop stores what it read and returns;
// it waits for them. If ctx ends first it calls abort (which should make
// the loops' pending writes give up), closes the packet sockets and
// connections, waits for the loops, and returns ctx's error.
func (s *Sockets) Shutdown(ctx context.Context, abort func()) error {
	s.mu.Lock()
	if !s.closing.Load() {
		s.closing.Store(true)
		close(s.stopping)
	}
	past := time.Now()
	for ln := range s.listeners {
		ln.Close() // unblocks Accept
	}
	for pc := range s.packets {
		_ = pc.SetReadDeadline(past)
	}
	for c := range s.conns {
		_ = c.SetReadDeadline(past)
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	if abort != nil {
		abort()
	}
	s.mu.Lock()
	for pc := range s.packets {
		pc.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

func track[T comparable](s *Sockets, set map[T]struct{}, x T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	set[x] = struct{}{}
	s.wg.Add(1)
	return true
}

func untrack[T comparable](s *Sockets, set map[T]struct{}, x T) {
	s.mu.Lock()
	delete(set, x)
	s.mu.Unlock()
	s.wg.Done()
}
