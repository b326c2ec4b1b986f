package xsk

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is an AF_XDP socket bound to one RX queue of one interface.
type Socket struct {
	fd       int
	file     *os.File // the fd, registered with Go's netpoller for Wait
	raw      syscall.RawConn
	ifindex  int
	queue    int
	zerocopy bool
	cfg      Config

	umem []byte
	maps [][]byte
	fill addrRing
	comp addrRing
	rx   descRing
	tx   descRing

	txFree []uint64           // TX frames not in the TX or completion ring; a stack
	ready  func(uintptr) bool // Wait's readiness check, made once: no closure per wait
	closed atomic.Bool
}

// Open creates a socket with its UMEM and rings and binds it to queue of the
// interface ifindex. The fill ring starts full, so frames can arrive at once.
func Open(ifindex, queue int, cfg Config) (*Socket, error) {
	s, err := New(ifindex, queue, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Bind(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// New creates a socket with its UMEM and rings, not yet bound: the socket
// belongs to the network namespace New runs in (the interface's), and Bind
// may then run anywhere, for instance once a queue's previous owner let go.
func New(ifindex, queue int, cfg Config) (*Socket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, explainSocket(err)
	}
	s := &Socket{fd: fd, ifindex: ifindex, queue: queue, cfg: cfg}
	if err := s.setup(); err != nil {
		s.unmapAndClose()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup() error {
	var err error
	if s.umem, err = mapUMEM(s.fd, s.cfg); err != nil {
		return err
	}
	if err := s.mapRings(s.cfg.RingSize); err != nil {
		return err
	}
	s.prime()
	return nil
}

// prime splits the UMEM between the two sides: the first half of the
// frames goes into the fill ring (as many as it takes), for the kernel to
// receive into; the second half is the free TX frames.
func (s *Socket) prime() {
	half := s.cfg.Frames / 2
	fs := uint64(s.cfg.FrameSize)
	n := batchLen(s.fill.free(uint32(s.cfg.RingSize)), half)
	for i := uint32(0); i < n; i++ {
		s.fill.addrs[ringSlot(s.fill.cachedProd, i, s.fill.mask)] = uint64(i) * fs
	}
	s.fill.submit(n)
	s.txFree = make([]uint64, 0, s.cfg.Frames-half)
	for i := uint64(half); i < uint64(s.cfg.Frames); i++ {
		s.txFree = append(s.txFree, i*fs)
	}
}

// Bind binds the socket to its queue; frames can arrive from then on.
func (s *Socket) Bind() error {
	if err := s.bind(); err != nil {
		return err
	}
	var err error
	if err := unix.SetNonblock(s.fd, true); err != nil {
		return fmt.Errorf("AF_XDP socket: %w", err)
	}
	s.file = os.NewFile(uintptr(s.fd), fmt.Sprintf("xsk:%d:%d", s.ifindex, s.queue))
	s.ready = func(uintptr) bool { return s.rx.avail() > 0 }
	if s.raw, err = s.file.SyscallConn(); err != nil {
		return fmt.Errorf("AF_XDP socket: %w", err)
	}
	return nil
}

// bind tries zero-copy first in auto mode. A queue that was bound a moment
// ago (a reload) can answer EBUSY for a few milliseconds: retry, bounded.
func (s *Socket) bind() error {
	modes := []uint16{unix.XDP_ZEROCOPY, unix.XDP_COPY}
	switch s.cfg.Bind {
	case BindZeroCopy:
		modes = modes[:1]
	case BindCopy:
		modes = modes[1:]
	}
	var err error
	for _, m := range modes {
		sa := &unix.SockaddrXDP{Flags: m | unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
		for wait := time.Millisecond; ; wait *= 2 {
			err = unix.Bind(s.fd, sa)
			if !errors.Is(err, unix.EBUSY) || wait > 256*time.Millisecond {
				break
			}
			time.Sleep(wait)
		}
		if err == nil {
			s.zerocopy = m == unix.XDP_ZEROCOPY
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EPROTONOSUPPORT) {
			break
		}
	}
	return fmt.Errorf("binding AF_XDP socket to ifindex %d queue %d (%s): %w", s.ifindex, s.queue, s.cfg.Bind, explainBind(err))
}

// FD is the socket's descriptor, for the XSKMAP.
func (s *Socket) FD() int { return s.fd }

// ZeroCopy reports whether the driver shares the UMEM (no copies).
func (s *Socket) ZeroCopy() bool { return s.zerocopy }

// FrameSize is the size of one UMEM frame.
func (s *Socket) FrameSize() int { return s.cfg.FrameSize }

// Stats are the kernel's counters for this socket.
func (s *Socket) Stats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	if s.closed.Load() {
		return st, os.ErrClosed
	}
	err := getsockopt(s.fd, unix.XDP_STATISTICS, &st)
	if err != nil {
		return st, fmt.Errorf("reading AF_XDP statistics: %w", err)
	}
	return st, nil
}

// Close unbinds the socket (the kernel drops it from any XSKMAP) and frees
// its memory. Both sides must have stopped using it.
func (s *Socket) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.unmapAndClose()
}

func (s *Socket) unmapAndClose() error {
	var err error
	if s.file != nil {
		err = s.file.Close()
	} else {
		err = unix.Close(s.fd)
	}
	for _, m := range s.maps {
		unix.Munmap(m)
	}
	s.maps = nil
	if s.umem != nil {
		unix.Munmap(s.umem)
		s.umem = nil
	}
	return err
}

func explainSocket(err error) error {
	switch {
	case errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("creating AF_XDP socket: kernel without AF_XDP support (CONFIG_XDP_SOCKETS): %w", err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("creating AF_XDP socket: not permitted (needs CAP_NET_RAW): %w", err)
	}
	return fmt.Errorf("creating AF_XDP socket: %w", err)
}

func explainBind(err error) error {
	switch {
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("no such queue on the interface, or the interface is down: %w", err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("the queue is bound by another AF_XDP socket: %w", err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("the driver does not support this mode: %w", err)
	case errors.Is(err, unix.ENETDOWN):
		return fmt.Errorf("the interface is down: %w", err)
	}
	return err
}
