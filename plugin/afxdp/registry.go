package afxdp

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/route"
)

// closeGrace bounds how long closing an interface waits for queries already
// received (slow misses) before it frees the sockets.
const closeGrace = 2 * time.Second

// handoverWait bounds how long a retiring generation keeps its server on a
// listener that the new generation will take over, waiting for the new one.
const handoverWait = 2 * time.Second

// registry is process-wide: one entry per interface, shared by every
// generation that claims it, so that a reload swaps servers and keeps the
// program, the sockets and their queues running.
type registry struct {
	mu      sync.Mutex
	ifaces  map[string]*iface
	dropped map[string]*iface    // dropped after a failed reopen: their metrics stay, serving 0
	gens    map[*generation]bool // started and not yet stopped
	xdpOnce sync.Once            // starts the XDP tier's refresher
}

var reg = &registry{ifaces: map[string]*iface{}, dropped: map[string]*iface{}, gens: map[*generation]bool{}}

// iface is one interface's datapath and the CoreDNS listeners it serves.
type iface struct {
	name      string
	opts      datapath.Options
	dp        *datapath.Interface
	bridge    *bridge
	refs      map[*generation]bool
	listeners map[listenKey]*listener
	watch     *route.Watcher
	base      totals       // counts of datapaths closed by a reopen, so metrics stay monotonic
	xdp       *xdpExporter // its hot table in the program: the XDP refresher's own (not under mu)
	xdpStats  xdpStats     // the XDP tier's counts, kept across exporters
}

// acquire makes g a user of the claimed interface, opening it if no
// generation has, or reopening it if the settings changed. A reopen loses no
// query: the filter passes to the kernel listener while sockets are swapped,
// and unless the XDP mode changes, the program never leaves the interface.
func (r *registry) acquire(g *generation, cl *claim) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gens[g] = true
	f := r.ifaces[cl.name]
	if f != nil && !f.opts.Equal(cl.opts) {
		log.Infof("interface %s: settings changed, reopening", cl.name)
		if f.dp.CanReopen(cl.opts) {
			dp, err := datapath.Reopen(f.dp, cl.opts)
			if err := r.replace(f, dp, err); err != nil {
				return err // the old generation loses it too: the kernel answers
			}
			f.opts = cl.opts
			f.refs[g] = true
			return nil
		}
		f.base.keep(f.dp, closeGrace)
		f.dp = nil
	}
	if f == nil {
		f = &iface{name: cl.name, bridge: newBridge(), refs: map[*generation]bool{}, listeners: map[listenKey]*listener{}}
		if d := r.dropped[cl.name]; d != nil { // its counts go on from where they were
			f.base, f.bridge.hotRetired = d.base, d.bridge.hotRetired
			f.xdpStats.add(&d.xdpStats)
		}
	}
	if f.dp == nil {
		f.opts = cl.opts
		if err := r.open(f); err != nil {
			if len(f.refs) > 0 { // a failed reopen: the old generation loses it too
				r.drop(f)
			}
			return err
		}
	}
	if f.watch == nil {
		f.watch = watchAddrs(func() { r.addrsChanged(cl.name) })
	}
	f.refs[g] = true
	r.ifaces[cl.name] = f
	delete(r.dropped, cl.name)
	return nil
}

// follow watches one datapath for what makes the registry act: its RX
// queue count changed (ethtool -L), or the process it was handed to went
// away. Both reopen it on the same XDP link while the kernel listener
// answers.
func (r *registry) follow(name string, dp *datapath.Interface) {
	for {
		select {
		case e := <-dp.Handovers():
			logHandover(name, dp, e)
			if e.Kind == datapath.HandedOver {
				go wakeReaders(r.wakeTargets(name))
			}
			continue
		case <-dp.QueuesChanged():
			r.reopen(name, dp, false)
		case <-dp.Orphaned():
			r.reopen(name, dp, true)
		case <-dp.Done():
		}
		return
	}
}

// reopen replaces dp, unless it was closed or replaced meanwhile.
func (r *registry) reopen(name string, dp *datapath.Interface, reclaim bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.ifaces[name]
	if f == nil || f.dp != dp {
		return
	}
	var ndp *datapath.Interface
	var err error
	if reclaim {
		log.Infof("interface %s: the process it was handed to is gone; taking it back", name)
		handoverEvents.WithLabelValues(name, "reclaimed").Inc()
		ndp, err = datapath.Reclaim(dp)
	} else {
		log.Infof("interface %s: RX queue count changed, reopening", name)
		ndp, err = datapath.Reopen(dp, f.opts)
	}
	if err := r.replace(f, ndp, err); err != nil {
		log.Errorf("interface %s: reopening: %v; its queries go to the kernel", name, err)
	}
}

// replace closes f's datapath and makes ndp its successor, which took the
// link from it; if opening ndp failed (err), f is dropped: nothing of afxdp
// is left on the interface, and the kernel listener answers everything.
func (r *registry) replace(f *iface, ndp *datapath.Interface, err error) error {
	f.base.keep(f.dp, closeGrace)
	f.dp = nil
	if err != nil {
		r.drop(f)
		return err
	}
	r.serve(f, ndp)
	return nil
}

func (r *registry) wakeTargets(name string) []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.ifaces[name]; f != nil {
		return wakeTargets(f)
	}
	return nil
}

func logHandover(name string, dp *datapath.Interface, e datapath.HandoverEvent) {
	if ev := handoverEventNames[e.Kind]; ev != "" {
		handoverEvents.WithLabelValues(name, ev).Inc()
	}
	switch e.Kind {
	case datapath.HandedOver:
		if e.Err != nil {
			log.Warningf("interface %s: handed over to %s; closing the sockets: %v", name, pidName(e.PID), e.Err)
			return
		}
		log.Infof("interface %s: handed over to %s (%s)", name, pidName(e.PID), queueSummary(dp.Stats()))
	case datapath.Refused:
		log.Warningf("interface %s: refused to hand it over to %s: %v", name, pidName(e.PID), e.Err)
	case datapath.Abandoned:
		log.Warningf("interface %s: %s did not complete the handover; keeping it: %v", name, pidName(e.PID), e.Err)
	case datapath.KernelWindow:
		handoverKernel.WithLabelValues(name).Set(e.Took.Seconds())
		id, _ := dp.LinkID()
		log.Infof("interface %s: took it over from %s (XDP link %d kept; XDP %s mode, %s, %d queue(s)); "+
			"the kernel listener answered alone for %v", name, pidName(e.PID), id, dp.XDPMode(), copyMode(dp.ZeroCopy()),
			len(dp.Queues()), e.Took.Round(100*time.Microsecond))
	}
}

// pidName names a peer process; SO_PEERCRED gives 0 for one in another
// PID namespace (another pod).
func pidName(pid int) string {
	if pid == 0 {
		return "another PID namespace"
	}
	return fmt.Sprintf("pid %d", pid)
}

// open opens f's datapath with f.opts, serves its listeners and follows
// its queue count.
func (r *registry) open(f *iface) error {
	dp, err := datapath.Open(f.name, f.opts, f.bridge)
	if err != nil {
		return err
	}
	r.serve(f, dp)
	return nil
}

// serve makes dp f's datapath: it serves f's listeners and is followed.
func (r *registry) serve(f *iface, dp *datapath.Interface) {
	f.dp = dp
	handoverSeries(f.name)
	if _, ok := dp.TakenFrom(); !ok {
		log.Infof("interface %s: XDP %s mode, %s, %d queue(s)", f.name, dp.XDPMode(), copyMode(dp.ZeroCopy()), len(dp.Queues()))
	}
	r.reconcile(f)
	go r.follow(f.name, dp)
	r.xdpOnce.Do(func() { go r.refreshXDP() })
}

// refreshXDP keeps every interface's hot table in the XDP program, for
// the life of the process.
func (r *registry) refreshXDP() {
	runtime.LockOSThread() // its CPU time is the refreshes' (threadCPU)
	t := time.NewTicker(xdpRefresh)
	defer t.Stop()
	failed := map[string]string{}
	for range t.C {
		for _, j := range r.xdpJobs() {
			if j.f.xdp == nil || j.f.xdp.dp != j.dp {
				j.f.xdp = newXDPExporter(j.dp, j.dp.Filter(), &j.f.xdpStats) // a new program: its own table and counters
			}
			err := j.f.xdp.refresh(j.ls)
			switch {
			case err != nil && failed[j.f.name] != err.Error():
				log.Warningf("interface %s: hot answers in XDP: %v", j.f.name, err)
				failed[j.f.name] = err.Error()
			case err == nil:
				delete(failed, j.f.name)
			}
		}
	}
}

type xdpJob struct {
	f  *iface
	dp *datapath.Interface
	ls []xdpListener
}

// xdpJobs lists what each interface's program answers now.
func (r *registry) xdpJobs() []xdpJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	var jobs []xdpJob
	for _, f := range r.ifaces {
		if f.dp == nil {
			continue
		}
		var ls []xdpListener
		for _, l := range f.listeners {
			if id := l.xdpID(); id != 0 {
				ls = append(ls, xdpListener{id: id, hl: l.hot})
			}
		}
		if len(ls) > 0 || f.xdp != nil {
			jobs = append(jobs, xdpJob{f: f, dp: f.dp, ls: ls})
		}
	}
	return jobs
}

// drop forgets an interface whose datapath is gone: nothing of afxdp is
// left on it, and the kernel listener answers its queries.
func (r *registry) drop(f *iface) {
	f.stopWatch()
	for _, l := range f.listeners {
		l.hot.retire()
	}
	delete(r.ifaces, f.name)
	if r.dropped != nil {
		r.dropped[f.name] = f
	}
}

func copyMode(zc bool) string {
	if zc {
		return "zero-copy"
	}
	return "copy mode"
}

// setListener points a listener at the server g just started. It replaces
// the previous generation's server for that listener at once.
func (r *registry) setListener(g *generation, name string, k listenKey, s *dnsserver.Server) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.ifaces[name]
	if f == nil || !f.refs[g] {
		return nil // g was released meanwhile
	}
	if old := f.listeners[k]; old != nil {
		defer old.hot.retire() // after the new table is published
	}
	f.listeners[k] = newListener(k, s, g, &f.bridge.hotRetired, tierFor(name, f.dp))
	if n := growListenerBuffers(k.port); n > 0 {
		log.Debugf("listener %s: %d kernel socket(s) given a %d MiB receive buffer", k, n, listenerRcvBuf>>20)
	}
	return r.reconcile(f)
}

func (r *registry) hasListener(g *generation, name string, k listenKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.ifaces[name]
	return f != nil && f.listeners[k] != nil && f.listeners[k].gen == g
}

func (r *registry) live(g *generation) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gens[g]
}

// release drops g from every interface. Its listeners that a newer live
// generation also claims stay until that one's server arrives (bounded), so
// a reload hands over without a gap; others go back to the kernel. An
// interface nobody uses any more is closed.
func (r *registry) release(g *generation) {
	deadline := time.Now().Add(handoverWait)
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.gens, g)
	for r.awaitingHandover(g) && time.Now().Before(deadline) {
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		r.mu.Lock()
	}
	for name, f := range r.ifaces {
		if !f.refs[g] {
			continue
		}
		delete(f.refs, g)
		var retired []*listener
		for k, l := range f.listeners {
			if l.gen == g {
				delete(f.listeners, k)
				retired = append(retired, l)
			}
		}
		defer func() {
			for _, l := range retired {
				l.hot.retire()
			}
		}()
		if len(f.refs) > 0 {
			r.reconcile(f)
			continue
		}
		f.stopWatch()
		if err := f.dp.Close(closeGrace); err != nil {
			log.Errorf("interface %s: closing: %v", name, err)
		}
		delete(r.ifaces, name)
	}
}

// awaitingHandover: does g still own a listener that another live
// generation expects to take over?
func (r *registry) awaitingHandover(g *generation) bool {
	for name, f := range r.ifaces {
		for k, l := range f.listeners {
			if l.gen != g {
				continue
			}
			for other := range f.refs {
				if other != g && r.gens[other] && other.claims[name] != nil && other.claims[name].keys[k] {
					return true
				}
			}
		}
	}
	return false
}

// releaseAllBut releases every generation except g.
func (r *registry) releaseAllBut(g *generation) {
	r.mu.Lock()
	var others []*generation
	for o := range r.gens {
		if o != g {
			others = append(others, o)
		}
	}
	r.mu.Unlock()
	for _, o := range others {
		r.release(o)
	}
}

func (r *registry) addrsChanged(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.ifaces[name]; f != nil && f.dp != nil {
		if err := r.reconcile(f); err != nil {
			log.Errorf("interface %s: updating served addresses: %v", name, err)
		}
	}
}

// reconcile makes the filter serve exactly the addresses and ports of f's
// listeners and publishes the new routing table. Stale entries go first
// (back to the kernel), the table next, new entries last, so a redirected
// query always finds its server.
func (r *registry) reconcile(f *iface) error {
	want := map[netip.AddrPort]bool{}
	addrs := interfaceAddrs(f.name)
	for k := range f.listeners {
		switch k.scope {
		case scopeHost:
			want[netip.AddrPortFrom(k.host, k.port)] = true
		default:
			for _, a := range addrs {
				if k.scope == scopeAll || a.Is4() {
					want[netip.AddrPortFrom(a, k.port)] = true
				}
			}
		}
	}
	t := newTable(f.listeners)
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, ap := range f.dp.Served() {
		if !want[ap] {
			keep(f.dp.Unserve(ap))
		}
	}
	f.bridge.table.Store(t)
	// A listener's number changes with its server: from here on, the
	// program keys the new server's entries only.
	for ap := range want {
		keep(f.dp.ServeAs(ap, t.lookup(ap.Addr(), ap.Port()).xdpID()))
	}
	return firstErr
}

func (f *iface) stopWatch() {
	if f.watch != nil {
		f.watch.Stop()
		f.watch = nil
	}
}

// queueSummary is what an operator checks after a handover: what the
// queues received and sent, and what they dropped.
func queueSummary(stats []datapath.QueueStats) string {
	var t datapath.QueueStats
	var x [4]uint64
	for _, q := range stats {
		t.Add(&q)
		x[0] += q.XDP.Rx_dropped
		x[1] += q.XDP.Rx_ring_full
		x[2] += q.XDP.Rx_fill_ring_empty_descs
		x[3] += q.XDP.Tx_invalid_descs
	}
	var drops uint64
	for _, d := range t.Drops {
		drops += d
	}
	return fmt.Sprintf("received %d, sent %d, dropped %d; AF_XDP rx_dropped %d, rx_ring_full %d, fill_ring_empty %d, tx_invalid %d",
		t.RxFrames, t.TxFrames, drops, x[0], x[1], x[2], x[3])
}

var handoverEventNames = map[datapath.HandoverKind]string{
	datapath.HandedOver:   "handed_over",
	datapath.KernelWindow: "taken_over",
	datapath.Refused:      "refused",
	datapath.Abandoned:    "abandoned",
}
