package xsk

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Receive moves up to len(descs) received frames out of the RX ring. The
// frames stay the caller's until it gives them back with Refill.
func (s *Socket) Receive(descs []unix.XDPDesc) int {
	n := batchLen(s.rx.avail(), len(descs))
	for i := uint32(0); i < n; i++ {
		descs[i] = s.rx.descs[ringSlot(s.rx.cachedCons, i, s.rx.mask)]
	}
	s.rx.release(n)
	return int(n)
}

// Frame is the data of a descriptor, inside the UMEM.
func (s *Socket) Frame(d unix.XDPDesc) []byte {
	return s.umem[d.Addr : d.Addr+uint64(d.Len) : d.Addr+uint64(d.Len)]
}

// Refill hands received frames back to the kernel through the fill ring.
// The ring is as large as the receive half of the UMEM, so it has room for
// every frame Receive ever handed out.
func (s *Socket) Refill(descs []unix.XDPDesc) {
	n := uint32(len(descs))
	if n == 0 {
		return
	}
	s.fill.free(n)
	base := ^uint64(s.cfg.FrameSize - 1)
	for i, d := range descs {
		// In aligned mode the descriptor points past the headroom; the fill
		// ring wants the start of the frame.
		s.fill.addrs[ringSlot(s.fill.cachedProd, uint32(i), s.fill.mask)] = d.Addr & base
	}
	s.fill.submit(n)
	if s.fill.needWakeup() {
		unix.Recvfrom(s.fd, nil, unix.MSG_DONTWAIT)
	}
}

// Wait blocks until the RX ring has frames, Interrupt is called, or the
// socket is closed. It parks the goroutine in Go's netpoller, not an OS thread.
func (s *Socket) Wait() error {
	if s.rx.avail() > 0 {
		return nil
	}
	err := s.raw.Read(s.ready)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ErrInterrupted
	}
	return err
}

// ErrInterrupted is what Wait returns after Interrupt.
var ErrInterrupted = errors.New("AF_XDP wait interrupted")

// Interrupt makes a pending and every later Wait return ErrInterrupted: the
// receive loop then drains the ring and stops.
func (s *Socket) Interrupt() { s.file.SetReadDeadline(time.Unix(1, 0)) }

// NextTx takes a free TX frame: its address and its whole buffer. ok is false
// when every TX frame is in flight.
func (s *Socket) NextTx() (addr uint64, buf []byte, ok bool) {
	if len(s.txFree) == 0 {
		s.complete()
		if len(s.txFree) == 0 {
			return 0, nil, false
		}
	}
	addr = s.txFree[len(s.txFree)-1]
	s.txFree = s.txFree[:len(s.txFree)-1]
	end := addr + uint64(s.cfg.FrameSize)
	return addr, s.umem[addr:end:end], true
}

// Release gives back a TX frame that will not be sent.
func (s *Socket) Release(addr uint64) { s.txFree = append(s.txFree, addr) }

// Send puts a frame of n bytes on the TX ring; Flush transmits it. It is
// false when the ring is full, and the frame stays the caller's.
func (s *Socket) Send(addr uint64, n int) bool {
	if s.tx.free(1) == 0 {
		return false
	}
	s.tx.descs[ringSlot(s.tx.cachedProd, 0, s.tx.mask)] = unix.XDPDesc{Addr: addr, Len: uint32(n)}
	s.tx.submit(1)
	return true
}

// TxPending is how many frames wait on the TX ring for the kernel.
func (s *Socket) TxPending() int { return int(s.tx.pending()) }

// TxFree is how many TX frames are free (for accounting and leak checks).
func (s *Socket) TxFree() int {
	s.complete()
	return len(s.txFree)
}

// Flush makes the kernel transmit what the TX ring holds. In copy mode one
// sendto moves a bounded batch (32 frames on veth) and then answers EAGAIN,
// so it kicks until the ring is empty or no progress is made. Transient
// errors are absorbed; others (the interface went down) are returned.
func (s *Socket) Flush() error {
	defer s.complete()
	if s.zerocopy && !s.tx.needWakeup() {
		return nil
	}
	for stalls := 0; s.tx.pending() > 0 && stalls < 4; {
		before := s.tx.pending()
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		default:
			return e
		}
		if s.zerocopy {
			return nil
		}
		if s.tx.pending() >= before {
			stalls++
		}
	}
	return nil
}

// complete moves frames the kernel has sent from the completion ring back to
// the free TX frames.
func (s *Socket) complete() {
	n := s.comp.avail()
	for i := uint32(0); i < n; i++ {
		s.txFree = append(s.txFree, s.comp.addrs[ringSlot(s.comp.cachedCons, i, s.comp.mask)])
	}
	s.comp.release(n)
}
