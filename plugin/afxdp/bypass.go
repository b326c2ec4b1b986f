package afxdp

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/route"
)

// eBPF CNIs (Cilium, Calico eBPF) deliver into a pod with bpf_redirect_peer,
// which enters the pod's eth0 at the core receive path and skips the veth
// driver's, where native XDP runs: a program attached there in native mode
// never sees the pod's queries, and the kernel listener answers them all,
// silently. Generic XDP runs in the core receive path and sees them.
// xdp_mode auto takes native wherever the driver does, so the registry
// watches each veth it attached that way: when the kernel listener answers
// queries from a client routed through the interface while the program has
// seen no UDP frame for a served port, it reattaches the interface in
// generic mode (the kernel answers meanwhile, as it already did).
const (
	bypassEvery   = 2 * time.Second
	bypassMin     = 16 // kernel answers in a window in which XDP saw nothing
	bypassWindows = 2  // such windows in a row
)

// kernelAnswers counts what one server's kernel socket answered to clients
// other than loopback, and the last such client, which says through which
// interface those queries came.
type kernelAnswers struct {
	mu   sync.Mutex
	n    uint64
	last netip.Addr
}

func (k *kernelAnswers) note(a net.Addr) {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return
	}
	ip, ok := netip.AddrFromSlice(u.IP)
	if !ok || ip.Unmap().IsLoopback() {
		return
	}
	k.mu.Lock()
	k.n++
	k.last = ip.Unmap()
	k.mu.Unlock()
}

func (k *kernelAnswers) read() (uint64, netip.Addr) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n, k.last
}

// countingWriter is the kernel socket's writer of one query, counted.
type countingWriter struct {
	dns.Writer
	from interface{ RemoteAddr() net.Addr } // the query's own response writer
	k    *kernelAnswers
}

func (c *countingWriter) Write(b []byte) (int, error) {
	c.k.note(c.from.RemoteAddr())
	return c.Writer.Write(b)
}

// countKernel wraps a server's UDP writer decorator (prev may be nil) so
// that its kernel socket's answers are counted in k.
func countKernel(k *kernelAnswers, prev dns.DecorateWriter) dns.DecorateWriter {
	return func(w dns.Writer) dns.Writer {
		from, ok := w.(interface{ RemoteAddr() net.Addr })
		inner := w
		if prev != nil {
			inner = prev(w)
		}
		if !ok {
			return inner
		}
		return &countingWriter{Writer: inner, from: from, k: k}
	}
}

// kernelOf is server s's count, made on first use.
func (g *generation) kernelOf(s *dnsserver.Server) *kernelAnswers {
	k, _ := g.kernel.LoadOrStore(s, &kernelAnswers{})
	return k.(*kernelAnswers)
}

// seenByXDP is how many UDP frames for a served port the program saw,
// whatever it did with them.
func seenByXDP(c *bpf.Counters) uint64 {
	var n uint64
	for i, v := range c {
		switch bpf.Counter(i) {
		case bpf.PassNotIP, bpf.PassNotUDP, bpf.PassPort:
		default:
			n += v
		}
	}
	return n
}

// watchesBypass says whether an interface is watched: attached natively by
// xdp_mode auto on a veth, where an eBPF CNI may deliver past the driver.
func watchesBypass(configured, attached bpf.Mode, driver string) bool {
	return configured == bpf.ModeAuto && attached == bpf.ModeNative && driver == "veth"
}

// bypassStrikes is the watch's verdict on one window: the windows in a row
// in which the kernel answered at least bypassMin and XDP saw nothing.
func bypassStrikes(strikes int, kernel, seen uint64) int {
	if seen == 0 && kernel >= bypassMin {
		return strikes + 1
	}
	return 0
}

// watchBypass runs for dp's life (see bypassEvery) where watchesBypass
// says so; configured is the Corefile's xdp_mode.
func (r *registry) watchBypass(name string, configured bpf.Mode, dp *datapath.Interface) {
	if !watchesBypass(configured, dp.XDPMode(), driverOf(name)) {
		return
	}
	t := time.NewTicker(bypassEvery)
	defer t.Stop()
	var lastSeen, lastKernel uint64
	first, strikes := true, 0
	for {
		select {
		case <-dp.Done():
			return
		case <-t.C:
		}
		c, err := dp.FilterCounters()
		if err != nil || !dp.Serving() {
			// Handed over (or going): another program may be in the
			// link, and the kernel listener answers by design.
			first, strikes = true, 0
			continue
		}
		seen := seenByXDP(&c)
		kernel, client, ok := r.kernelAnswers(name, dp)
		if !ok {
			return
		}
		if !first {
			strikes = bypassStrikes(strikes, kernel-lastKernel, seen-lastSeen)
		}
		first, lastSeen, lastKernel = false, seen, kernel
		if strikes >= bypassWindows && routedVia(client, dp.Index()) {
			r.toGeneric(name, dp, client)
			return
		}
	}
}

// kernelAnswers sums the kernel answers of the servers name serves; ok is
// false once dp is no longer its datapath.
func (r *registry) kernelAnswers(name string, dp *datapath.Interface) (n uint64, last netip.Addr, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.ifaces[name]
	if f == nil || f.dp != dp {
		return 0, netip.Addr{}, false
	}
	for _, l := range f.listeners {
		c, a := l.gen.kernelOf(l.server).read()
		n += c
		if a.IsValid() {
			last = a
		}
	}
	return n, last, true
}

// routedVia says whether the kernel's route to client leaves through the
// interface: only then did the queries the kernel answered come past it.
func routedVia(client netip.Addr, index int) bool {
	if !client.IsValid() {
		return false
	}
	c, err := route.Open()
	if err != nil {
		return false
	}
	defer c.Close()
	out, err := c.OutputIndex(client)
	return err == nil && out == index
}

// toGeneric reopens the interface in generic mode for the rest of the
// process's life (a reload keeps it: the Corefile still says auto).
func (r *registry) toGeneric(name string, dp *datapath.Interface, client netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.ifaces[name]
	if f == nil || f.dp != dp || !dp.Serving() {
		return
	}
	log.Warningf("interface %s: the kernel listener answered queries from %s (routed through %s) that the XDP program, "+
		"attached in native mode, never saw: something delivers them past the driver's receive path (an eBPF CNI's "+
		"bpf_redirect_peer); reattaching in generic mode, which sees them (set xdp_mode generic to start there)", name, client, name)
	f.generic = true
	f.closeDatapath()
	if err := r.open(f); err != nil {
		log.Errorf("interface %s: reopening in generic mode: %v; its queries go to the kernel", name, err)
		r.drop(f)
	}
}
