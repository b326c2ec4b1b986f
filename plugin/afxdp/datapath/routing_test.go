package datapath

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/plugin/afxdp/route"
)

// TestHopsStale: which neighbour announcements flush the verdicts.
func TestHopsStale(t *testing.T) {
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	other := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	nh := nextHop{3, netip.MustParseAddr("198.18.0.2")}
	change := func(state uint16, m net.HardwareAddr, deleted bool) route.NeighbourChange {
		return route.NeighbourChange{Index: nh.index, Addr: nh.addr, Deleted: deleted, Neighbour: route.Neighbour{MAC: m, State: state}}
	}
	h := hops{mac: make(map[nextHop]hop)}
	h.use(nh)
	if !h.resolved(nh, mac) {
		t.Fatal("first resolution refused")
	}
	for _, c := range []struct {
		name  string
		ch    route.NeighbourChange
		stale bool
	}{
		{"reachable, same MAC", change(unix.NUD_REACHABLE, mac[:], false), false},
		{"stale, same MAC", change(unix.NUD_STALE, mac[:], false), false},
		{"probe, same MAC", change(unix.NUD_PROBE, mac[:], false), false},
		{"garbage-collected", change(unix.NUD_STALE, mac[:], true), false},
		{"incomplete", change(unix.NUD_INCOMPLETE, nil, false), false},
		{"another MAC", change(unix.NUD_REACHABLE, other, false), true},
		{"another MAC, stale", change(unix.NUD_STALE, other, false), true},
		{"failed", change(unix.NUD_FAILED, nil, false), true},
		{"another device", route.NeighbourChange{Index: 4, Addr: nh.addr, Neighbour: route.Neighbour{MAC: other, State: unix.NUD_REACHABLE}}, false},
		{"a host not in use", route.NeighbourChange{Index: 3, Addr: netip.MustParseAddr("198.18.0.9"), Neighbour: route.Neighbour{State: unix.NUD_FAILED}}, false},
	} {
		if got := h.stale(c.ch); got != c.stale {
			t.Errorf("%s: stale %v, want %v", c.name, got, c.stale)
		}
	}

	// Being asked about: a change seen between use and resolution wins
	// over what was read before it.
	h.reset()
	h.use(nh)
	if h.stale(change(unix.NUD_REACHABLE, other, false)) {
		t.Error("a change of a next hop being asked about flushed")
	}
	if h.resolved(nh, mac) {
		t.Error("resolved with the MAC read before a change")
	}
	if !h.resolved(nh, [6]byte(other)) {
		t.Error("refused the MAC the change announced")
	}
}
