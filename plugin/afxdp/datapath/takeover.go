package datapath

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
)

// claimWait bounds how long a successor (or an owner taking its interface
// back) waits for the other process to let go of the name and the queues.
const claimWait = 3 * time.Second

// handoverGrace bounds how long an owner handing over waits for the
// queries it already received (slow misses) before it closes its sockets.
const handoverGrace = 2 * time.Second

// HandoverKind says what happened in a handover.
type HandoverKind int

const (
	HandedOver   HandoverKind = iota // this process's sockets are closed; PID serves
	Refused                          // PID asked and was refused (Err says why)
	Abandoned                        // PID stopped before it swapped; nothing changed
	KernelWindow                     // this process took over from PID and serves; Took is how long the kernel answered
)

// HandoverEvent is one step of a handover, for the log and the metrics.
type HandoverEvent struct {
	Kind HandoverKind
	PID  int
	Took time.Duration
	Err  error
}

// Handovers reports handovers of this interface as they happen.
func (i *Interface) Handovers() <-chan HandoverEvent { return i.events }

// TakenFrom is the PID this process took the interface over from (0 if it
// attached it itself, or the owner is in another PID namespace) and
// whether it took it over at all.
func (i *Interface) TakenFrom() (pid int, ok bool) {
	if i.pred == nil {
		return 0, false
	}
	return i.pred.owner, true
}

// Serving says whether this process's sockets serve the interface: not
// while it is being closed or handed over, nor after.
func (i *Interface) Serving() bool { return !i.released.Load() && !i.handing.Load() }

// LinkID identifies the XDP link; it is the same across handovers.
func (i *Interface) LinkID() (uint32, error) { return i.filter.LinkID() }

// Orphaned is closed when the process this one handed the interface to
// went away: the caller Reclaims it.
func (i *Interface) Orphaned() <-chan struct{} { return i.orphaned }

// emit reports e; the report is for the log and may be dropped if nobody
// reads (Orphaned, which a reclaim needs, never is).
func (i *Interface) emit(e HandoverEvent) {
	select {
	case i.events <- e:
	default:
	}
}

// onHello serves a would-be successor on the owner's socket.
func (i *Interface) onHello(c *net.UnixConn, hello message, peer *unix.Ucred) {
	refuse := func(why string) {
		send(c, message{Op: opRefuse, Reason: why})
		c.Close()
		i.emit(HandoverEvent{Kind: Refused, PID: int(peer.Pid), Err: errors.New(why)})
	}
	if why := entitled(i.opts.Takeover, hello, peer); why != "" {
		refuse(why)
		return
	}
	if i.released.Load() || !i.handing.CompareAndSwap(false, true) {
		refuse("this interface is being closed or handed over")
		return
	}
	i.handOver(c, int(peer.Pid))
}

// handOver is the owner's side of the protocol (handover.go).
func (i *Interface) handOver(c *net.UnixConn, pid int) {
	lf, pf, err := i.filter.HandoverFiles()
	if err == nil {
		err = send(c, message{Op: opOffer, PID: os.Getpid(), Mode: i.filter.Mode().String()}, lf, pf)
		lf.Close()
		pf.Close()
	}
	if err == nil {
		testPause("old:offered")
		_, _, err = expect(c, opSwapped, stepWait)
	}
	if err != nil {
		// The successor may have swapped before it failed: whatever runs
		// in the link now, this process's program goes back in.
		c.Close()
		err = errors.Join(err, i.filter.Reclaim())
		i.handing.Store(false)
		i.emit(HandoverEvent{Kind: Abandoned, PID: pid, Err: err})
		return
	}
	// From the swap on, this process's sockets get nothing new.
	err = i.releaseQueues(handoverGrace)
	i.owner.release()
	send(c, message{Op: opReleased})
	i.emit(HandoverEvent{Kind: HandedOver, PID: pid, Err: err})
	testPause("old:released")
	// Hold the connection (and the link) until either side exits: if the
	// successor goes first, this process takes the interface back.
	go func() {
		defer c.Close()
		for {
			if _, fds, err := receive(c); err != nil {
				break
			} else {
				closeFDs(fds)
			}
		}
		if !i.closing.Load() {
			close(i.orphaned) // once: a handover happens once per Interface
		}
	}()
}

// takeOver is the successor's side: swap this filter's program into the
// owner's link, let the owner drain and close, then claim the name.
func (i *Interface) takeOver(s *successor) error {
	mode, err := bpf.ParseMode(s.mode)
	if err != nil || (i.opts.XDPMode != bpf.ModeAuto && i.opts.XDPMode != mode) {
		closeFDs([]int{s.linkFD, s.progFD})
		return fmt.Errorf("the owner (pid %d) runs XDP in %s mode and a handover keeps the mode; this Corefile asks for %s",
			s.owner, s.mode, i.opts.XDPMode)
	}
	testPause("new:offered")
	if err := i.filter.Adopt(s.linkFD, s.progFD, i.index, mode); err != nil {
		return fmt.Errorf("taking over from pid %d: %w", s.owner, err)
	}
	i.swapped = time.Now()
	testPause("new:swapped")
	// A send or a read that fails means the owner is gone: the kernel
	// closes its sockets and name, and the link is this process's alone.
	if send(s.conn, message{Op: opSwapped}) == nil {
		_, _, err = expect(s.conn, opReleased, releaseWait)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("taking over from pid %d: it did not release the interface: %w", s.owner, err)
		}
	}
	if i.owner, err = claimOwnerWithin(i.name, i.index, claimWait, i.onHello); err != nil {
		return err
	}
	return nil
}

// pauseHook is a test hook: when set, it runs at each named step of a
// handover ("new:offered", "new:swapped", "new:serving", "old:offered",
// "old:released"), so that a test can stop a process there, or see the
// steps go by. Tests in this package set it; nothing in a release build
// does, and nothing there reads the environment. The end-to-end tests
// kill a coredns process at a step: they build one with the
// afxdp_testhooks tag, whose pausehook_testhooks.go sets the hook from an
// environment variable (a SIGUSR2 upgrade's child inherits it).
var pauseHook atomic.Pointer[func(step string)]

// testPause runs the pause hook, if any, at a handover step. Unset, it
// costs an atomic load per handover step.
func testPause(step string) {
	if h := pauseHook.Load(); h != nil {
		(*h)(step)
	}
}
