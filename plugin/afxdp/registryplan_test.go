package afxdp

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// TestReopenStep: a claim with the open settings shares the datapath;
// other settings reopen it on its XDP link where it can, else close it
// and open afresh.
func TestReopenStep(t *testing.T) {
	open := datapath.DefaultOptions()
	batch := withOpts(func(o *datapath.Options) { o.Batch = open.Batch / 2 })
	for _, c := range []struct {
		name      string
		claimed   datapath.Options
		canReopen bool
		want      reopenStep
	}{
		{"same settings", open, true, keepOpen},
		{"same settings, a handover under way", open, false, keepOpen},
		{"new batch", batch, true, reopenOnLink},
		{"new settings it cannot take", batch, false, closeThenOpen},
	} {
		if got := reopenStepFor(open, c.claimed, c.canReopen); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// TestServedAddrs: what the filter redirects for an interface's
// listeners, and what goes back to the kernel.
func TestServedAddrs(t *testing.T) {
	a4, b4, a6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")
	ap := netip.AddrPortFrom
	addrs := []netip.Addr{a4, a6}
	for _, c := range []struct {
		name   string
		keys   []listenKey
		served []netip.AddrPort
		want   []netip.AddrPort
		stale  []netip.AddrPort
	}{
		{name: "none"},
		{name: "bound", keys: []listenKey{{scope: scopeHost, host: b4, port: 53}}, want: []netip.AddrPort{ap(b4, 53)}},
		{name: "wildcard", keys: []listenKey{{scope: scopeAll, port: 53}}, want: []netip.AddrPort{ap(a4, 53), ap(a6, 53)}},
		{name: "0.0.0.0", keys: []listenKey{{scope: scopeV4, port: 53}}, want: []netip.AddrPort{ap(a4, 53)}},
		{name: "two ports", keys: []listenKey{{scope: scopeV4, port: 53}, {scope: scopeHost, host: a6, port: 5353}},
			want: []netip.AddrPort{ap(a4, 53), ap(a6, 5353)}},
		{name: "an address gone", keys: []listenKey{{scope: scopeAll, port: 53}}, served: []netip.AddrPort{ap(b4, 53), ap(a4, 53)},
			want: []netip.AddrPort{ap(a4, 53), ap(a6, 53)}, stale: []netip.AddrPort{ap(b4, 53)}},
		{name: "a listener gone", served: []netip.AddrPort{ap(a4, 53)}, stale: []netip.AddrPort{ap(a4, 53)}},
	} {
		want := servedAddrs(c.keys, addrs)
		var got []netip.AddrPort
		for a := range want {
			got = append(got, a)
		}
		slices.SortFunc(got, netip.AddrPort.Compare)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: serves %v, want %v", c.name, got, c.want)
		}
		if stale := staleAddrs(c.served, want); !slices.Equal(stale, c.stale) {
			t.Errorf("%s: unserves %v, want %v", c.name, stale, c.stale)
		}
	}
}

// TestAwaitsTakeover: a released generation keeps its server on a
// listener only while another live generation that uses the interface
// claims that listener.
func TestAwaitsTakeover(t *testing.T) {
	k53, k54 := listenKey{scope: scopeAll, port: 53}, listenKey{scope: scopeAll, port: 54}
	claiming := func(keys ...listenKey) *generation {
		cl := &claim{name: "eth0", keys: map[listenKey]bool{}}
		for _, k := range keys {
			cl.keys[k] = true
		}
		return &generation{claims: map[string]*claim{"eth0": cl}}
	}
	old := claiming(k53, k54)
	for _, c := range []struct {
		name    string
		ls      map[listenKey]*listener
		next    *generation
		refs    bool // next uses the interface
		live    bool
		want    bool
		retired []listenKey
	}{
		{"reload claims it", map[listenKey]*listener{k53: {gen: old}}, claiming(k53), true, true, true, []listenKey{k53}},
		{"reload claims another", map[listenKey]*listener{k53: {gen: old}}, claiming(k54), true, true, false, []listenKey{k53}},
		{"reload not live", map[listenKey]*listener{k53: {gen: old}}, claiming(k53), true, false, false, []listenKey{k53}},
		{"reload on another interface", map[listenKey]*listener{k53: {gen: old}}, claiming(k53), false, true, false, []listenKey{k53}},
		{"taken over already", map[listenKey]*listener{k53: {}}, claiming(k53), true, true, false, nil},
	} {
		if c.ls[k53].gen == nil {
			c.ls[k53].gen = c.next
		}
		refs := map[*generation]bool{old: true}
		if c.refs {
			refs[c.next] = true
		}
		live := map[*generation]bool{old: true, c.next: c.live}
		if got := awaitsTakeover(old, "eth0", c.ls, refs, live); got != c.want {
			t.Errorf("%s: awaits %v, want %v", c.name, got, c.want)
		}
		if got := retiringKeys(c.ls, old); !slices.Equal(got, c.retired) {
			t.Errorf("%s: retires %v, want %v", c.name, got, c.retired)
		}
	}
}

// TestWakeTargets: after a handover, the old process reaches each of its
// kernel listeners where this host can: a bound address as it is, a
// wildcard on both loopbacks, 0.0.0.0 on IPv4's.
func TestWakeTargets(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	got := wakeTargets([]listenKey{{scope: scopeHost, host: a, port: 53}, {scope: scopeAll, port: 54}, {scope: scopeV4, port: 55}})
	want := []netip.AddrPort{netip.AddrPortFrom(a, 53),
		netip.MustParseAddrPort("[::1]:54"), netip.MustParseAddrPort("127.0.0.1:54"), netip.MustParseAddrPort("127.0.0.1:55")}
	if !slices.Equal(got, want) {
		t.Errorf("wakes %v, want %v", got, want)
	}
}
