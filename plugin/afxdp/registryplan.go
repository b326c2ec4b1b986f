package afxdp

import (
	"net/netip"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// The registry's decisions that need no kernel, apart from the registry
// that acts on them under its lock, so that a table test holds each.

// reopenStep is what acquire does with an open interface that a
// generation claims.
type reopenStep int

const (
	keepOpen      reopenStep = iota // same settings: the generation shares the datapath
	reopenOnLink                    // new sockets on the same program and XDP link (datapath.Reopen)
	closeThenOpen                   // a new XDP mode, or a handover under way: close, open afresh
)

// reopenStepFor compares the open datapath's settings with the claim's;
// canReopen is the datapath's CanReopen of the claim's.
func reopenStepFor(open, claimed datapath.Options, canReopen bool) reopenStep {
	switch {
	case open.Equal(claimed):
		return keepOpen
	case canReopen:
		return reopenOnLink
	}
	return closeThenOpen
}

// servedAddrs are the destinations the filter must redirect for keys on
// an interface with addrs: a bound address as it is, a wildcard on every
// address of the interface (0.0.0.0 on its IPv4 ones only).
func servedAddrs(keys []listenKey, addrs []netip.Addr) map[netip.AddrPort]bool {
	want := map[netip.AddrPort]bool{}
	for _, k := range keys {
		if k.scope == scopeHost {
			want[netip.AddrPortFrom(k.host, k.port)] = true
			continue
		}
		for _, a := range addrs {
			if k.scope == scopeAll || a.Is4() {
				want[netip.AddrPortFrom(a, k.port)] = true
			}
		}
	}
	return want
}

// staleAddrs are the served destinations no listener wants any more:
// they go back to the kernel before the new table is published.
func staleAddrs(served []netip.AddrPort, want map[netip.AddrPort]bool) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ap := range served {
		if !want[ap] {
			out = append(out, ap)
		}
	}
	return out
}

// retiringKeys are the listeners of ls that g's servers hold: they leave
// the interface when g is released.
func retiringKeys(ls map[listenKey]*listener, g *generation) []listenKey {
	var out []listenKey
	for k, l := range ls {
		if l.gen == g {
			out = append(out, k)
		}
	}
	return out
}

// awaitsTakeover: does g hold a listener of interface name (ls, used by
// the generations refs) that another live generation claims? Then a
// reload is under way and g's server stays until the new one arrives.
func awaitsTakeover(g *generation, name string, ls map[listenKey]*listener, refs, live map[*generation]bool) bool {
	for _, k := range retiringKeys(ls, g) {
		for other := range refs {
			if other != g && live[other] && other.claims[name] != nil && other.claims[name].keys[k] {
				return true
			}
		}
	}
	return false
}
