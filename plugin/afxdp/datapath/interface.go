package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	served  map[netip.AddrPort]bool
	closing atomic.Bool
	stop    chan struct{}

	queuesChanged chan struct{} // the driver's RX queue count is no longer the one bound
}

// Open attaches the filter to the interface and binds a socket on each of
// its RX queues (or on opts.Queues). Nothing is redirected until Serve names
// an address and port. It must run in the interface's network namespace;
// afterwards the Interface may be used from anywhere.
func Open(name string, opts Options, h Handler) (_ *Interface, err error) {
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
	i := &Interface{name: name, index: nif.Index, opts: opts, handler: h,
		served: make(map[netip.AddrPort]bool), stop: make(chan struct{}), queuesChanged: make(chan struct{}, 1)}
	// One process per interface: a second one fails here, before it loads,
	// attaches or binds anything.
	if i.owner, err = claimOwner(name, nif.Index); err != nil {
		return nil, err
	}
	if i.filter, err = bpf.Load(); err != nil {
		i.owner.release()
		return nil, err
	}
	defer func() {
		if err != nil {
			i.closing.Store(true)
			i.stopLoops(time.Second)
			i.teardown()
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
	if i.mirror, err = startMirror(name, i.index, i.filter, &i.mtu, onQueue); err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	if err := i.filter.Attach(i.index, opts.XDPMode); err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, id := range queues {
		sock, err := xsk.Open(i.index, id, opts.Socket)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		q := newQueue(i, id, sock)
		i.queues = append(i.queues, q)
		if err := i.filter.SetSocket(id, sock.FD()); err != nil {
			return nil, fmt.Errorf("interface %s: %w", name, err)
		}
		go q.rxLoop(i.stop)
	}
	return i, nil
}

// QueuesChanged is signalled when the driver's RX queue count (ethtool -L)
// is no longer the one the sockets were bound for, with the "all" queues
// setting: the owner reopens the interface to serve every queue again.
func (i *Interface) QueuesChanged() <-chan struct{} { return i.queuesChanged }

// Done is closed when the interface starts closing.
func (i *Interface) Done() <-chan struct{} { return i.stop }

// Name is the interface's name.
func (i *Interface) Name() string { return i.name }

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
func (i *Interface) Serve(ap netip.AddrPort) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.served[ap] {
		return nil
	}
	if err := i.filter.Serve(ap.Addr().Unmap(), ap.Port()); err != nil {
		return err
	}
	i.served[ap] = true
	return nil
}

// Unserve sends queries to addr:port to the kernel again.
func (i *Interface) Unserve(ap netip.AddrPort) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.served[ap] {
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

// FilterCounters are the XDP program's counters summed over CPUs.
func (i *Interface) FilterCounters() (bpf.Counters, error) { return i.filter.Counters() }

// Stats snapshots every queue.
func (i *Interface) Stats() []QueueStats {
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
// close loses none.
func (i *Interface) Close(grace time.Duration) error {
	if i.closing.Swap(true) {
		return nil
	}
	for _, q := range i.queues {
		i.filter.ClearSocket(q.id)
	}
	// A redirect decided just before the XSKMAP update may still be on its
	// way into an RX ring.
	time.Sleep(5 * time.Millisecond)
	i.stopLoops(grace)
	return i.teardown()
}

// stopLoops ends the receive loops once their rings are empty and lets the
// workers finish what is queued, waiting at most grace.
func (i *Interface) stopLoops(grace time.Duration) {
	close(i.stop)
	for _, q := range i.queues {
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

// teardown frees everything; handlers still running past the grace period
// find the TX side closed.
func (i *Interface) teardown() error {
	var errs []error
	for _, q := range i.queues {
		q.txMu.Lock()
		q.flushLocked()
		q.txClosed = true
		q.txMu.Unlock()
	}
	if i.mirror != nil {
		i.mirror.close()
	}
	errs = append(errs, i.filter.Close())
	defer i.owner.release() // last: the interface is free once nothing of it is left
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
