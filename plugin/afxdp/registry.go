package afxdp

import (
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/afxdp/afxdp/bpf"
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
	generic   bool         // xdp_mode auto found native bypassed (bypass.go): generic from now on
}

// closeDatapath closes f's datapath after closeGrace, keeping its counts.
func (f *iface) closeDatapath() {
	f.base.keep(f.dp, closeGrace)
	f.dp = nil
}

// attachOpts is opts as the interface is opened: in generic mode once
// native was found bypassed.
func (f *iface) attachOpts(opts datapath.Options) datapath.Options {
	if f.generic && opts.XDPMode == bpf.ModeAuto {
		opts.XDPMode = bpf.ModeGeneric
	}
	return opts
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
		want := f.attachOpts(cl.opts)
		if reopenStepFor(f.attachOpts(f.opts), want, f.dp.CanReopen(want)) == reopenOnLink {
			dp, err := datapath.Reopen(f.dp, want)
			if err := r.replace(f, dp, err); err != nil {
				return err // the old generation loses it too: the kernel answers
			}
			f.opts = cl.opts
			f.refs[g] = true
			return nil
		}
		f.closeDatapath()
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
		ndp, err = datapath.Reopen(dp, f.attachOpts(f.opts))
	}
	if err := r.replace(f, ndp, err); err != nil {
		log.Errorf("interface %s: reopening: %v; its queries go to the kernel", name, err)
	}
}

// replace closes f's datapath and makes ndp its successor, which took the
// link from it; if opening ndp failed (err), f is dropped: nothing of afxdp
// is left on the interface, and the kernel listener answers everything.
func (r *registry) replace(f *iface, ndp *datapath.Interface, err error) error {
	f.closeDatapath()
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
		return wakeTargets(slices.Collect(maps.Keys(f.listeners)))
	}
	return nil
}

// open opens f's datapath with f.opts, serves its listeners and follows
// its queue count.
func (r *registry) open(f *iface) error {
	dp, err := datapath.Open(f.name, f.attachOpts(f.opts), f.bridge)
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
	features := driverFeatures(f.name)
	if _, ok := dp.TakenFrom(); !ok {
		log.Infof("interface %s: XDP %s mode (xdp_mode %s), %s (bind_mode %s), %d queue(s); driver XDP features: %s",
			f.name, dp.XDPMode(), f.opts.XDPMode, copyMode(dp.ZeroCopy()), f.opts.Socket.Bind, len(dp.Queues()), features)
		if err := dp.NativeRefused(); err != nil {
			log.Infof("interface %s: generic mode, as native was refused: %v", f.name, err)
		}
	}
	r.reconcile(f)
	go r.follow(f.name, dp)
	go r.watchBypass(f.name, f.opts.XDPMode, dp)
	r.xdpOnce.Do(func() { go r.refreshXDP() })
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
		for _, k := range retiringKeys(f.listeners, g) {
			retired = append(retired, f.listeners[k])
			delete(f.listeners, k)
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
		if awaitsTakeover(g, name, f.listeners, f.refs, r.gens) {
			return true
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
	want := servedAddrs(slices.Collect(maps.Keys(f.listeners)), interfaceAddrs(f.name))
	t := newTable(f.listeners)
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, ap := range staleAddrs(f.dp.Served(), want) {
		keep(f.dp.Unserve(ap))
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
