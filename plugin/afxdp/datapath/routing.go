package datapath

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/route"
)

// The program answers a query in place only if the kernel would accept it
// and would send the reply the same way: out of the device the frame was
// delivered to, to the next hop the route names. The mirror asks the
// kernel both questions, once per source and generation, and keeps the
// generation current.

// device is where the kernel delivers a frame: the interface, its bridge
// (or bond) on a port, or the VLAN device over either for a tagged frame.
type device struct {
	index  int
	mac    [6]byte
	bridge bool // replies the bridge forwards by its own table: only to the query's MAC
}

// devices maps a frame's VLAN tag (as bpf.RouteRequest.VLAN; 0 untagged)
// to its device. Rebuilt on every link change, read without a lock.
type devices map[uint16]device

// readDevices finds the device of untagged frames and the VLAN devices
// over it.
func readDevices(conn *route.Conn, l route.Link) (devices, error) {
	base := device{index: l.Index, mac: mac6(l.MAC)}
	if l.Master != 0 {
		m, err := conn.Link(l.Master)
		if err != nil {
			return nil, err
		}
		if m.Kind == "bridge" || m.Kind == "bond" {
			base = device{index: m.Index, mac: mac6(m.MAC), bridge: m.Kind == "bridge"}
		}
	}
	vlans, err := conn.VLANs(base.index)
	if err != nil {
		return nil, err
	}
	d := devices{0: base}
	for _, v := range vlans {
		key := v.ID
		if v.AD {
			key |= bpf.VLAN8021AD
		}
		d[key] = device{index: v.Index, mac: mac6(v.MAC), bridge: base.bridge}
	}
	return d, nil
}

func mac6(b net.HardwareAddr) (m [6]byte) {
	copy(m[:], b)
	return m
}

// errPending: the next hop's MAC is not known yet. The source stays
// pending: its queries go to the kernel while the kernel resolves the next
// hop (asked to by judge, as the kernel's own reply would), and the
// program asks again a second later.
var errPending = errors.New("next hop unresolved")

// judge finds the verdict on queries like req's.
func (m *mirror) judge(req bpf.RouteRequest) (bpf.Route, error) {
	dev, ok := (*m.devs.Load())[req.VLAN]
	if !ok { // no device for the tag: the kernel drops such frames
		return bpf.Route{Verdict: bpf.RouteElsewhere}, nil
	}
	if req.Src.Is4() {
		ok, err := m.conn.InputOK(dev.index, req.Src, req.Dst)
		if err != nil {
			return bpf.Route{}, err
		}
		if !ok {
			return bpf.Route{Verdict: bpf.RouteReject}, nil
		}
	}
	oif := 0
	if req.Src.Is6() && req.Src.IsLinkLocalUnicast() {
		oif = dev.index // the socket's reply is scoped to the ingress device
	}
	path, ok, err := m.conn.OutputRoute(req.Dst, req.Src, oif)
	if err != nil {
		return bpf.Route{}, err
	}
	if !ok || path.OIF != dev.index {
		return bpf.Route{Verdict: bpf.RouteElsewhere}, nil
	}
	nh := nextHop{dev.index, path.NextHop}
	m.hops.use(nh) // before reading it: a change from here on is seen
	n, found, err := m.conn.Neighbour(dev.index, path.NextHop)
	if err != nil {
		return bpf.Route{}, err
	}
	if !found || !n.Usable() {
		if err := m.conn.Resolve(dev.index, path.NextHop); err != nil {
			return bpf.Route{}, err
		}
		return bpf.Route{}, errPending
	}
	mac := mac6(n.MAC)
	if !m.hops.resolved(nh, mac) {
		return bpf.Route{}, errPending
	}
	r := bpf.Route{Verdict: bpf.RouteOK, NextHop: mac, Own: dev.mac}
	if mac != req.MAC {
		r.Verdict = bpf.RouteOKVia
		if dev.bridge { // the next hop may be behind another port
			r = bpf.Route{Verdict: bpf.RouteElsewhere}
		}
	}
	return r, nil
}

type nextHop struct {
	index int
	addr  netip.Addr
}

// maxHops bounds the next hops remembered between two flushes (every
// client on the link is one).
const maxHops = 1 << 16

// hops are the next hops the current generation's verdicts send to, with
// the MAC each was given. A neighbour announcement flushes the verdicts
// only if it concerns one of them and says something new: another MAC, or
// that the kernel found it unreachable (FAILED). State changes among the
// usable states (REACHABLE, STALE, DELAY, PROBE), which a busy LAN makes
// all the time, change nothing; nor does the removal of an entry (garbage
// collection of a stale one): the MAC it had is still the one the kernel
// would find again, and a host that takes over the address announces
// itself with its new MAC (its ARP or ND), which does flush.
type hops struct {
	mu  sync.Mutex
	mac map[nextHop]hop
}

// hop is the MAC a verdict was given with, or, until one is, the last MAC
// an announcement said (zero: none).
type hop struct {
	mac   [6]byte
	given bool
}

func (h *hops) use(nh nextHop) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.mac[nh]; !ok {
		h.mac[nh] = hop{}
	}
}

// resolved records that a verdict sends to mac, unless an announcement
// since use said otherwise (the read raced with a change): then false,
// and the source stays pending.
func (h *hops) resolved(nh nextHop, mac [6]byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.mac[nh]; !e.given && e.mac != ([6]byte{}) && e.mac != mac {
		return false
	}
	h.mac[nh] = hop{mac: mac, given: true}
	return true
}

// stale says whether a change makes a verdict of this generation wrong.
func (h *hops) stale(ch route.NeighbourChange) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	nh := nextHop{ch.Index, ch.Addr}
	e, ok := h.mac[nh]
	switch {
	case !ok, ch.Deleted:
		return false
	case !e.given: // being asked about: resolved compares
		if ch.Usable() {
			h.mac[nh] = hop{mac: mac6(ch.MAC)}
		}
		return false
	case ch.Failed():
		return true
	}
	return ch.Usable() && mac6(ch.MAC) != e.mac
}

// full says whether so many are remembered that a flush should start over.
func (h *hops) full() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.mac) >= maxHops
}

// reset forgets them all; it comes before the generation changes, so that
// next hops used in the new one are never forgotten.
func (h *hops) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.mac)
}
