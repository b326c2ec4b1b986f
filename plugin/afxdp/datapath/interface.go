package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// Interface is the datapath of one network interface.
type Interface struct {
	name    string
	index   int
	mtu     atomic.Int64 // followed: a reply is sized by the MTU of the moment
	opts    Options
	handler Handler
	owner   *owner
	filter  *bpf.Filter
	mirror  *mirror
	queues  []*queue

	mu      sync.Mutex
	served  map[netip.AddrPort]uint32 // -> the listener number of hot answers in XDP
	closing atomic.Bool               // Close was called
	done    chan struct{}             // closed by Close
	stop    chan struct{}             // ends the receive loops

	released    atomic.Bool // the queues are going or gone (closing, or handed over)
	releaseOnce sync.Once
	releaseErr  error

	handing         atomic.Bool        // a successor is being served (one at a time)
	pred            *successor         // the handover this process took the interface by
	events          chan HandoverEvent // handovers as they happen, for the owner's log
	swapped         time.Time          // when this process's program went in by a handover
	servedAfterSwap bool
	final           []QueueStats  // Stats when the queues were released
	orphaned        chan struct{} // closed when the successor went away

	queuesChanged chan struct{} // the driver's RX queue count is no longer the one bound
}

// Open attaches the filter to the interface and binds a socket on each of
// its RX queues (or on opts.Queues). Nothing is redirected until Serve names
// an address and port. It must run in the interface's network namespace;
// afterwards the Interface may be used from anywhere.
//
// If another afxdp process owns the interface and opts.Takeover entitles
// this one, Open takes it over from that process (handover.go) instead of
// failing; otherwise it fails before it loads, attaches or binds anything.
func Open(name string, opts Options, h Handler) (*Interface, error) {
	return open(name, opts, h, nil, nil)
}

// Reclaim reopens an interface this process handed over, after the
// successor went away (Orphaned says so): old's link gets a fresh program,
// and the kernel answered meanwhile. The caller closes old afterwards.
func Reclaim(old *Interface) (*Interface, error) {
	return open(old.name, old.opts, old.handler, old, nil)
}

// Reopen replaces old with an Interface of other settings (or another
// queue count) without detaching anything: old lets go of its queues, the
// new program goes into old's link, and the new sockets bind; the kernel
// listener answers between. The XDP mode cannot change this way (see
// CanReopen). The caller closes old afterwards, whatever the outcome.
func Reopen(old *Interface, opts Options) (*Interface, error) {
	if !old.CanReopen(opts) {
		return nil, fmt.Errorf("interface %s: cannot be reopened in place (the XDP mode changes, or it was handed over)", old.name)
	}
	// Loading is the verifier's work (a third of a second here): done
	// while old still serves, it stays out of the kernel listener's turn.
	f, err := bpf.Load()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", old.name, err)
	}
	old.releaseQueues(handoverGrace)
	return open(old.name, opts, old.handler, old, f)
}

// CanReopen reports whether Reopen can move old to opts.
func (i *Interface) CanReopen(opts Options) bool {
	return opts.XDPMode == i.opts.XDPMode && !i.handing.Load()
}

// open opens name; loaded, if not nil, is its program already loaded,
// which open owns from here.
func open(name string, opts Options, h Handler, old *Interface, loaded *bpf.Filter) (_ *Interface, err error) {
	defer func() {
		if loaded != nil { // not taken
			loaded.Close()
		}
	}()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	nif, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	queues := opts.Queues
	if queues == nil {
		n, err := xsk.RXQueues(name)
		if err != nil {
			return nil, err
		}
		for q := range min(n, bpf.MaxQueues) {
			queues = append(queues, q)
		}
	}
	i := newInterface(name, nif.Index, opts, h)
	// One process per interface: a second one fails here, before it loads,
	// attaches or binds anything, unless it is entitled to take over.
	var succ *successor
	if old != nil && old.owner != nil && !old.handing.Load() {
		// A reopen in this process: the claim moves over.
		i.owner, old.owner = old.owner, nil
		i.owner.passTo(i.onHello)
	} else if old != nil {
		i.owner, err = claimOwnerWithin(name, nif.Index, claimWait, i.onHello)
	} else if i.owner, err = claimOwner(name, nif.Index, i.onHello); isOwned(err) && opts.Takeover.allowed() {
		succ, err = requestHandover(name, nif.Index, opts.Takeover)
	}
	if err != nil {
		return nil, err
	}
	if loaded != nil {
		i.filter, loaded = loaded, nil
	} else if i.filter, err = bpf.Load(); err != nil {
		i.owner.release()
		succ.abandon()
		return nil, err
	}
	defer func() {
		if err != nil {
			succ.abandon()
			i.closing.Store(true)
			i.shutdown(time.Second)
		}
	}()
	i.mtu.Store(int64(nif.MTU))
	// The program mirrors the kernel's input checks from the first frame.
	var onQueue func(int)
	if opts.Queues == nil { // "all": follow the count
		onQueue = func(n int) {
			if min(n, bpf.MaxQueues) != len(queues) {
				select {
				case i.queuesChanged <- struct{}{}:
				default:
				}
			}
		}
	}
	if i.mirror, err = startMirror(name, i.index, i.filter, &i.mtu, onQueue, opts.Forwarding); err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	switch {
	case succ != nil:
		i.pred = succ
		err = i.takeOver(succ)
	case old != nil:
		err = i.filter.TakeLink(old.filter)
	default:
		err = i.filter.Attach(i.index, opts.XDPMode)
	}
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, id := range queues {
		sock, err := xsk.New(i.index, id, opts.Socket)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		i.queues = append(i.queues, newQueue(i, id, sock))
	}
	if err := i.bindQueues(old != nil || succ != nil); err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	if succ != nil {
		send(succ.conn, message{Op: opServing, PID: os.Getpid()})
		testPause("new:serving")
	}
	return i, nil
}

func newInterface(name string, index int, opts Options, h Handler) *Interface {
	return &Interface{name: name, index: index, opts: opts, handler: h,
		served: make(map[netip.AddrPort]uint32), stop: make(chan struct{}), done: make(chan struct{}),
		queuesChanged: make(chan struct{}, 1), events: make(chan HandoverEvent, 8), orphaned: make(chan struct{})}
}

// bindQueues binds each queue's socket and starts its loop. After a
// handover the previous owner's sockets may take a moment to go: a queue
// answers EBUSY until then.
func (i *Interface) bindQueues(patient bool) error {
	deadline := time.Now().Add(claimWait)
	for _, q := range i.queues {
		err := q.sock.Bind()
		for patient && errors.Is(err, unix.EBUSY) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			err = q.sock.Bind()
		}
		if err != nil {
			return err
		}
		if err := i.filter.SetSocket(q.id, q.sock.FD()); err != nil {
			return err
		}
		q.started = true
		go q.rxLoop(i.stop)
	}
	return nil
}

// QueuesChanged is signalled when the driver's RX queue count (ethtool -L)
// is no longer the one the sockets were bound for, with the "all" queues
// setting: the owner reopens the interface to serve every queue again.
func (i *Interface) QueuesChanged() <-chan struct{} { return i.queuesChanged }

// Done is closed when the interface starts closing.
func (i *Interface) Done() <-chan struct{} { return i.done }

// Name is the interface's name.
func (i *Interface) Name() string { return i.name }

// Index is the interface's index.
func (i *Interface) Index() int { return i.index }

// NativeRefused is why xdp_mode auto attached in generic mode (nil if it
// did not).
func (i *Interface) NativeRefused() error { return i.filter.NativeRefused() }

// XDPMode is the mode the filter was attached in.
func (i *Interface) XDPMode() bpf.Mode { return i.filter.Mode() }

// ZeroCopy reports whether every socket runs in zero-copy mode.
func (i *Interface) ZeroCopy() bool {
	return len(i.queues) > 0 && !slices.ContainsFunc(i.queues, func(q *queue) bool { return !q.sock.ZeroCopy() })
}

// Queues is the list of RX queues with a bound socket.
func (i *Interface) Queues() []int {
	ids := make([]int, len(i.queues))
	for k, q := range i.queues {
		ids[k] = q.id
	}
	return ids
}

// Serve redirects UDP queries to addr:port to the sockets.
func (i *Interface) Serve(ap netip.AddrPort) error { return i.ServeAs(ap, 0) }

// ServeAs is Serve with the listener number the XDP program's hot answers
// are keyed by (0: none); serving a served addr:port again changes it.
func (i *Interface) ServeAs(ap netip.AddrPort, listener uint32) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if l, ok := i.served[ap]; ok && l == listener {
		return nil
	}
	if err := i.filter.ServeAs(ap.Addr().Unmap(), ap.Port(), listener); err != nil {
		return err
	}
	i.served[ap] = listener
	if !i.swapped.IsZero() && !i.servedAfterSwap {
		i.servedAfterSwap = true
		i.emit(HandoverEvent{Kind: KernelWindow, PID: i.pred.owner, Took: time.Since(i.swapped)})
	}
	return nil
}

// Unserve sends queries to addr:port to the kernel again.
func (i *Interface) Unserve(ap netip.AddrPort) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.served[ap]; !ok {
		return nil
	}
	delete(i.served, ap)
	return i.filter.Unserve(ap.Addr().Unmap(), ap.Port())
}

// Served lists what Serve has named.
func (i *Interface) Served() []netip.AddrPort {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(i.served))
	for ap := range i.served {
		out = append(out, ap)
	}
	return out
}

// MirrorErrors counts failures to read the kernel's routing state or to
// tell it to the program (the affected sources go to the kernel meanwhile).
func (i *Interface) MirrorErrors() uint64 { return i.mirror.errs.Load() }

// Filter is the XDP program's loader, for its hot answer map.
func (i *Interface) Filter() *bpf.Filter { return i.filter }

// FilterCounters are the XDP program's counters summed over CPUs.
func (i *Interface) FilterCounters() (bpf.Counters, error) { return i.filter.Counters() }

// Stats snapshots every queue; after the queues were released, their
// last snapshot.
func (i *Interface) Stats() []QueueStats {
	i.mu.Lock()
	final := i.final
	i.mu.Unlock()
	if final != nil {
		return final
	}
	out := make([]QueueStats, len(i.queues))
	for k, q := range i.queues {
		s := &out[k]
		s.Queue = q.id
		q.stats.snapshot(s)
		s.Pending = q.pool.pending()
		s.Workers = q.pool.size()
		s.XDP, s.XDPErr = q.sock.Stats()
		q.txMu.Lock()
		if !q.txClosed {
			s.TxFreeFrames = q.sock.TxFree()
		}
		q.txMu.Unlock()
	}
	return out
}

// Close hands every queue to the kernel, answers what was already received
// (waiting up to grace for slow handlers), then detaches and frees it all.
// Queries that arrive meanwhile are answered by the kernel's listener, so a
// close loses none. After a handover the link stays with the successor:
// closing only lets go of this process's descriptor.
func (i *Interface) Close(grace time.Duration) error {
	if i.closing.Swap(true) {
		return nil
	}
	close(i.done)
	return i.shutdown(grace)
}

func (i *Interface) shutdown(grace time.Duration) error {
	err := i.releaseQueues(grace)
	return errors.Join(err, i.teardown())
}

// releaseQueues stops serving, once: every queue goes to the kernel, what
// was received is answered, and the sockets are closed. The filter, its
// link and the mirror stay (a handover keeps them for a take-back).
func (i *Interface) releaseQueues(grace time.Duration) error {
	i.releaseOnce.Do(func() {
		i.released.Store(true)
		for _, q := range i.queues {
			i.filter.ClearSocket(q.id)
		}
		// A redirect decided just before the XSKMAP update may still be
		// on its way into an RX ring.
		time.Sleep(5 * time.Millisecond)
		i.stopLoops(grace)
		final := i.Stats() // the sockets' own counts go with them
		i.mu.Lock()
		i.final = final
		i.mu.Unlock()
		i.releaseErr = i.closeQueues()
	})
	return i.releaseErr
}

// stopLoops ends the receive loops once their rings are empty and lets the
// workers finish what is queued, waiting at most grace.
func (i *Interface) stopLoops(grace time.Duration) {
	close(i.stop)
	for _, q := range i.queues {
		if !q.started {
			close(q.stopped) // never bound: no loop to stop
			continue
		}
		q.sock.Interrupt()
	}
	deadline := time.After(grace)
	for _, q := range i.queues {
		select {
		case <-q.stopped:
		case <-deadline:
		}
	}
	done := make(chan struct{})
	go func() {
		for _, q := range i.queues {
			q.pool.close()
			q.pool.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-deadline:
	}
}

// closeQueues flushes and closes the sockets; handlers still running past
// the grace period find the TX side closed.
func (i *Interface) closeQueues() error {
	var errs []error
	for _, q := range i.queues {
		q.txMu.Lock()
		q.flushLocked()
		q.txClosed = true
		q.txMu.Unlock()
	}
	for _, q := range i.queues {
		select {
		case <-q.stopped:
			errs = append(errs, q.sock.Close())
		default:
			// Its loop is still inside the socket: leave the memory to
			// the process rather than pull it from under the loop.
			errs = append(errs, fmt.Errorf("queue %d: receive loop did not stop", q.id))
		}
	}
	return errors.Join(errs...)
}

// teardown frees the rest: the mirror, the filter (and this process's hold
// on the link), the claim and a predecessor's connection.
func (i *Interface) teardown() error {
	if i.mirror != nil {
		i.mirror.close()
	}
	err := i.filter.Close()
	i.owner.release() // last: the interface is free once nothing of it is left
	i.pred.abandon()
	return err
}
