package bpf

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/fibtest"
	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

const xdpRedirect = 4

// neighBurst is the program's NEIGH_ASK_BURST: neighbour requests per CPU
// per window.
const neighBurst = 64

// bindSocket puts an AF_XDP socket for queue 0 in the filter's XSKMAP, so
// that test runs take the redirect path (a test run does not deliver the
// frame). The socket is bound to a veth in a namespace of its own. It
// returns the socket's descriptor, for putting it back.
func bindSocket(tb testing.TB, f *Filter) int {
	tb.Helper()
	ns := netns.New(tb, "bpf")
	ns.Run("ip", "link", "add", "xa", "type", "veth", "peer", "name", "xb")
	ns.Run("ip", "link", "set", "xa", "up")
	ns.Run("ip", "link", "set", "xb", "up")
	var s *xsk.Socket
	err := ns.Do(func() error {
		ifc, err := net.InterfaceByName("xa")
		if err != nil {
			return err
		}
		s, err = xsk.Open(ifc.Index, 0, xsk.Config{Frames: 128, FrameSize: 2048, RingSize: 64, Bind: xsk.BindCopy})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := f.SetSocket(0, s.FD()); err != nil {
		tb.Fatal(err)
	}
	return s.FD()
}

func from4(src netip.Addr) []byte { return query4(func(p *pkt.Frame) { p.SrcIP = src }) }
func from6(src netip.Addr) []byte { return query6(func(p *pkt.Frame) { p.SrcIP = src }) }

// expect runs frame once and fails unless the verdict and the one counter
// that moved are these.
func expect(t *testing.T, f *host, frame []byte, verdict uint32, want Counter) {
	t.Helper()
	ret, got := run(t, f, frame)
	if ret != verdict || got != want {
		t.Fatalf("verdict %d, counted %s; want %d, %s", ret, got, verdict, want)
	}
}

// TestRouteOutcomes: each outcome of the route back's lookup, with a
// socket bound, and its verdict and counter. The program keeps nothing
// per source: the same source gives the same outcome every time.
func TestRouteOutcomes(t *testing.T) {
	f := loadServing(t)
	bindSocket(t, f.Filter)
	for _, c := range []struct {
		name    string
		frame   []byte
		verdict uint32
		want    Counter
	}{
		{"ipv4 on the link", query4(nil), xdpRedirect, Redirect},
		{"ipv6 on the link", query6(nil), xdpRedirect, Redirect},
		{"ipv4 via a router", from4(viaRouter4), xdpRedirect, Redirect},
		{"ipv6 via a router", from6(viaRouter6), xdpRedirect, Redirect},
		{"ipv6 link-local", from6(linkLocal6), xdpRedirect, Redirect},
		{"ipv4 routed elsewhere", from4(elsewhere4), xdpPass, PassElsewhere},
		{"ipv6 routed elsewhere", from6(elsewhere6), xdpPass, PassElsewhere},
		{"ipv4 no neighbour", from4(noNeigh4), xdpPass, PassNoNeigh},
		{"ipv6 router without neighbour", from6(viaGone6), xdpPass, PassNoNeigh},
		{"ipv4 no neighbour elsewhere", from4(fibtest.ViaGoneOth4), xdpPass, PassElsewhere},
		{"ipv4 unreachable", from4(unreachable4), xdpDrop, DropUnreachable},
		{"ipv6 unreachable", from6(unreach6), xdpDrop, DropUnreachable},
		{"ipv4 blackhole", from4(fibtest.Blackhole4), xdpDrop, DropUnreachable},
		{"ipv6 prohibit", from6(fibtest.Prohibit6), xdpDrop, DropUnreachable},
		{"ipv4 no route", from4(noRoute4), xdpPass, PassNotFwded},
		{"ipv6 no route", from6(noRoute6), xdpPass, PassNotFwded},
		{"ipv4 local source", from4(fibtest.Other4), xdpPass, PassMartian},
		{"ipv4 directed broadcast", from4(netip.MustParseAddr("198.18.0.255")), xdpPass, PassMartian},
		{"ipv6 local source", from6(fibtest.Other6), xdpPass, PassMartian},
		{"802.1Q tag without device", edit16(query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), 14, strayVID), xdpPass, PassElsewhere},
	} {
		for range 2 {
			expect(t, f, c.frame, c.verdict, c.want)
		}
	}

	// Forwarding off on loopback: the helper looks nothing up; a
	// link-local source needs no lookup.
	f.fx.SetForwarding(t, false)
	expect(t, f, query4(nil), xdpPass, PassFwdDisabled)
	expect(t, f, query6(nil), xdpPass, PassFwdDisabled)
	expect(t, f, from6(linkLocal6), xdpRedirect, Redirect)
	f.fx.SetForwarding(t, true)
	expect(t, f, query4(nil), xdpRedirect, Redirect)
}

// TestNoDevice: until user space says where frames are delivered, every
// query goes to the kernel.
func TestNoDevice(t *testing.T) {
	f := loadServing(t)
	if err := f.SetDevices(Devices{100: {Index: f.fx.Index("q100"), MAC: fibtest.Tag100MAC}}); err != nil {
		t.Fatal(err)
	}
	expect(t, f, query4(nil), xdpPass, PassElsewhere)
	expect(t, f, from6(linkLocal6), xdpPass, PassElsewhere)
	expect(t, f, query4(func(p *pkt.Frame) { p.SrcIP, p.VLANs = tagged4, []uint16{0x8100} }), xdpPass, PassNoSocket)
	// The 802.1ad tag's device went with the rest.
	expect(t, f, query6(func(p *pkt.Frame) { p.SrcIP, p.VLANs = taggedAD6, []uint16{0x88a8} }), xdpPass, PassElsewhere)
	if err := f.SetDevices(Devices{0: {MAC: serverMAC}, 7: {MAC: serverMAC}}); err == nil {
		t.Error("a tagged device without an ifindex accepted")
	}
}

// TestRouteMACs: a query answered in place reaches its socket with the
// reply's MACs written in crosswise: the next hop's (the FIB's neighbour
// entry; for a link-local source the MAC it came from) as the source,
// the delivering device's own as the destination, whatever the query was
// sent to; so that the datapath's swap sends the reply where the route
// says. Anything passed leaves as it came.
func TestRouteMACs(t *testing.T) {
	f := loadModelFilter(t)
	bindSocket(t, f.Filter)
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	tagged := func(src netip.Addr, srcMAC [6]byte, tpid, vid uint16) []byte {
		return edit16(query4(func(p *pkt.Frame) {
			p.SrcIP, p.Src, p.VLANs = src, srcMAC, []uint16{tpid}
			if src.Is6() {
				p.DstIP = server6
			}
		}), 14, vid)
	}
	for _, c := range []struct {
		name      string
		frame     []byte
		next, own [6]byte
	}{
		{"on the link", query4(nil), clientMAC, serverMAC},
		{"via router", from4(viaRouter4), routerMAC, serverMAC},
		{"via router ipv6, to the bridge's MAC", query6(func(p *pkt.Frame) { p.SrcIP, p.Dst = viaRouter6, bridgeMAC }), routerMAC, serverMAC},
		{"to broadcast", query4(func(p *pkt.Frame) { p.Dst = bcast }), clientMAC, serverMAC},
		{"from another MAC", query4(func(p *pkt.Frame) { p.Src = otherMAC }), clientMAC, serverMAC},
		{"802.1Q", tagged(tagged4, otherMAC, 0x8100, 100), clientMAC, fibtest.Tag100MAC},
		{"802.1ad ipv6", tagged(taggedAD6, clientMAC, 0x88a8, 100), clientMAC, fibtest.TagAD100MAC},
		{"link-local", query6(func(p *pkt.Frame) { p.SrcIP, p.Src = linkLocal6, linkLocalMAC }), linkLocalMAC, serverMAC},
		{"802.1Q link-local", tagged(linkLocal6, linkLocalMAC, 0x8100, 100), linkLocalMAC, fibtest.Tag100MAC},
		{"bridge", tagged(client4, clientMAC, 0x8100, bridgeVID), clientMAC, bridgeMAC},
	} {
		out := make([]byte, len(c.frame))
		before, _ := f.Counters()
		ret, err := f.run(&ebpf.RunOptions{Data: c.frame, DataOut: out, Repeat: 1})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := f.Counters()
		if ret != xdpRedirect || after[Redirect] != before[Redirect]+1 {
			t.Errorf("%s: verdict %d, redirects +%d; want XDP_REDIRECT, +1", c.name, ret, after[Redirect]-before[Redirect])
		}
		want := append([]byte(nil), c.frame...)
		copy(want[0:6], c.own[:])
		copy(want[6:12], c.next[:])
		if string(out) != string(want) {
			t.Errorf("%s: handed over\n%x\nwant\n%x", c.name, out, want)
		}
		// The model says the same.
		if m := testServed().reply(c.frame); string(m) != string(want) {
			t.Errorf("%s: the model hands over\n%x", c.name, m)
		}
	}
	for _, frame := range [][]byte{from4(elsewhere4), from4(noNeigh4), from6(noRoute6), from4(unreachable4)} {
		out := make([]byte, len(frame))
		ret, err := f.run(&ebpf.RunOptions{Data: frame, DataOut: out, Repeat: 1})
		if err != nil || ret == xdpRedirect || string(out) != string(frame) {
			t.Errorf("passed frame: verdict %d (%v), changed: %v", ret, err, string(out) != string(frame))
		}
	}
}

// neighbours reads the requests the program made, waiting up to wait for
// the first and a little for each next.
func neighbours(t *testing.T, rd *NeighbourReader, wait time.Duration) []NeighbourRequest {
	t.Helper()
	var reqs []NeighbourRequest
	for {
		rd.rd.SetDeadline(time.Now().Add(wait))
		req, err := rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return reqs
		}
		if err != nil {
			t.Fatalf("reading neighbour requests: %v", err)
		}
		reqs = append(reqs, req)
		wait = 20 * time.Millisecond
	}
}

// coarseNow is the program's window clock (bpf_ktime_get_coarse_ns).
func coarseNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC_COARSE, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// TestNeighbourRequests: a query whose reply's next hop on the delivering
// device has no neighbour entry asks user space to resolve that next hop
// (the gateway, not the client, when there is one); one on another device
// does not. The program asks at most 64 times per CPU per 100 ms window.
func TestNeighbourRequests(t *testing.T) {
	f := loadServing(t)
	rd, err := f.NeighbourRequests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	srv := f.fx.Index("srv")
	for _, c := range []struct {
		frame []byte
		want  []NeighbourRequest
	}{
		{from4(noNeigh4), []NeighbourRequest{{srv, noNeigh4}}},
		{from6(noNeigh6), []NeighbourRequest{{srv, noNeigh6}}},
		{from4(viaGone4), []NeighbourRequest{{srv, fibtest.Gone4}}},
		{from6(viaGone6), []NeighbourRequest{{srv, fibtest.Gone6}}},
		{from4(fibtest.ViaGoneOth4), nil},
		{query4(nil), nil},
		{from4(unreachable4), nil},
	} {
		run(t, f, c.frame)
		got := neighbours(t, rd, 100*time.Millisecond)
		if len(got) != len(c.want) || len(got) == 1 && got[0] != c.want[0] {
			t.Errorf("asked %v, want %v", got, c.want)
		}
	}

	// The rate limit: 200 queries in one run, early in a window, ask 64
	// times; the next window 64 again. A run that strays into the next
	// window, or is moved to another CPU midway (the test run lets the
	// scheduler in between repeats), asks up to twice that: tried again.
	const window = 100 * time.Millisecond
	for i := range 2 {
		for try := 1; ; try++ {
			now := coarseNow()
			time.Sleep(window - now%window + 10*time.Millisecond)
			before, _ := f.Counters()
			if _, err := f.run(&ebpf.RunOptions{Data: from4(noNeigh4), Repeat: 200}); err != nil {
				t.Fatal(err)
			}
			after, _ := f.Counters()
			if n := after[PassNoNeigh] - before[PassNoNeigh]; n < 200 {
				t.Fatalf("no_neigh +%d, want 200", n)
			}
			n := len(neighbours(t, rd, 100*time.Millisecond))
			if n == neighBurst {
				break
			}
			if n < neighBurst || n > 2*neighBurst || try == 5 {
				t.Fatalf("window %d, try %d: %d requests for 200 queries, want %d", i, try, n, neighBurst)
			}
			t.Logf("window %d, try %d: %d requests (two windows or CPUs?): again", i, try, n)
		}
	}
}

// TestRouteChange: the program keeps nothing per source: a change of the
// route or the neighbour is followed by the very next query.
func TestRouteChange(t *testing.T) {
	f := loadServing(t)
	bindSocket(t, f.Filter)
	q := from4(viaRouter4)
	q6 := from6(viaRouter6)
	mac := func(frame []byte) [6]byte {
		t.Helper()
		out := make([]byte, len(frame))
		ret, err := f.run(&ebpf.RunOptions{Data: frame, DataOut: out})
		if err != nil || ret != xdpRedirect {
			t.Fatalf("verdict %d, %v; want XDP_REDIRECT", ret, err)
		}
		return [6]byte(out[6:12])
	}
	expect(t, f, q, xdpRedirect, Redirect)
	f.fx.Exec(t, "route", "replace", "198.18.9.0/24", "via", "198.18.1.2", "dev", "oth")
	f.fx.Exec(t, "route", "replace", "fd00:9::/64", "via", "fd00:1::2", "dev", "oth")
	expect(t, f, q, xdpPass, PassElsewhere)
	expect(t, f, q6, xdpPass, PassElsewhere)
	f.fx.Exec(t, "route", "replace", "198.18.9.0/24", "via", fibtest.Router4.String(), "dev", "srv")
	f.fx.Exec(t, "route", "replace", "fd00:9::/64", "via", fibtest.Router6.String(), "dev", "srv")
	expect(t, f, q, xdpRedirect, Redirect)
	expect(t, f, q6, xdpRedirect, Redirect)
	if got := mac(q); got != routerMAC {
		t.Fatalf("next hop %x, want the router's %x", got, routerMAC)
	}
	// The router's MAC changes, then it goes, then it comes back.
	moved := [6]byte{0x02, 0, 0, 0, 0, 0x0f}
	f.fx.Exec(t, "neigh", "replace", fibtest.Router4.String(), "lladdr", "02:00:00:00:00:0f", "dev", "srv", "nud", "permanent")
	if got := mac(q); got != moved {
		t.Fatalf("next hop %x, want the router's new %x", got, moved)
	}
	f.fx.Exec(t, "neigh", "del", fibtest.Router4.String(), "dev", "srv")
	expect(t, f, q, xdpPass, PassNoNeigh)
	f.fx.Exec(t, "neigh", "replace", fibtest.Router4.String(), "lladdr", "02:00:00:00:00:0e", "dev", "srv", "nud", "permanent")
	expect(t, f, q, xdpRedirect, Redirect)
	// A route made unreachable drops at once; removed, the default route
	// takes over.
	f.fx.Exec(t, "route", "replace", "unreachable", "198.18.9.0/24")
	expect(t, f, q, xdpDrop, DropUnreachable)
	f.fx.Exec(t, "route", "del", "198.18.9.0/24")
	expect(t, f, q, xdpRedirect, Redirect)
}

// TestBridge: through a bridge the program answers in place only to the
// MAC the query came from: the bridge forwards by its own table, and the
// next hop could sit behind another port.
func TestBridge(t *testing.T) {
	f := loadServing(t)
	bindSocket(t, f.Filter)
	if err := f.SetDevices(Devices{0: {Index: f.fx.Index("srv"), MAC: bridgeMAC, Bridge: true}}); err != nil {
		t.Fatal(err)
	}
	from := func(src netip.Addr, mac [6]byte) []byte {
		return query4(func(p *pkt.Frame) {
			p.SrcIP, p.Src = src, mac
			if src.Is6() {
				p.DstIP = server6
			}
		})
	}
	expect(t, f, from(client4, clientMAC), xdpRedirect, Redirect)
	expect(t, f, from(client4, otherMAC), xdpPass, PassElsewhere)
	expect(t, f, from(client6, otherMAC), xdpPass, PassElsewhere)
	expect(t, f, from(viaRouter4, clientMAC), xdpPass, PassElsewhere)
	expect(t, f, from(viaRouter4, routerMAC), xdpRedirect, Redirect)
	expect(t, f, from(linkLocal6, otherMAC), xdpRedirect, Redirect)
	// Not a bridge: any MAC.
	if err := f.SetDevices(Devices{0: {Index: f.fx.Index("srv"), MAC: serverMAC}}); err != nil {
		t.Fatal(err)
	}
	expect(t, f, from(client4, otherMAC), xdpRedirect, Redirect)
}

// TestLocalAddrs: the set of local sources follows what user space says.
// It is looked at only when the FIB would not forward the reply (a local
// or broadcast route): a source the FIB routes is answered whatever the
// set says.
func TestLocalAddrs(t *testing.T) {
	f := loadServing(t)
	other := fibtest.Other4 // oth's address
	expect(t, f, from4(other), xdpPass, PassMartian)
	expect(t, f, from4(noRoute4), xdpPass, PassNotFwded)
	if err := f.SetLocalAddrs([]netip.Addr{server4, client4, noRoute4}); err != nil {
		t.Fatal(err)
	}
	expect(t, f, from4(other), xdpPass, PassNotFwded) // the kernel's own, but not said so
	expect(t, f, from4(noRoute4), xdpPass, PassMartian)
	expect(t, f, from4(client4), xdpPass, PassNoSocket) // the FIB routes it
	if err := f.SetLocalAddrs(localAddrs); err != nil {
		t.Fatal(err)
	}
	expect(t, f, from4(other), xdpPass, PassMartian)
	expect(t, f, from4(noRoute4), xdpPass, PassNotFwded)
	expect(t, f, from6(fibtest.Other6), xdpPass, PassMartian)
}
