package bpf

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

const xdpRedirect = 4

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

// servingAsked is loadServing with a reader of its route requests.
func servingAsked(t *testing.T) (*Filter, *RouteReader) {
	t.Helper()
	f := loadServing(t)
	rd, err := f.RouteRequests()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	return f, rd
}

// readRequest waits briefly for one route request; ok is false if none came.
func readRequest(t *testing.T, rd *RouteReader) (RouteRequest, bool) {
	t.Helper()
	rd.rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
	req, err := rd.Read()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return req, false
	}
	if err != nil {
		t.Fatalf("reading route requests: %v", err)
	}
	return req, true
}

// TestRouteCheck walks one IPv4 source through the route check: an unknown
// source goes to the kernel and is asked about once, whatever rp_filter
// says; the verdict user space records decides from then on; a flush or a
// new rp_filter setting forgets it.
func TestRouteCheck(t *testing.T) {
	f, rd := servingAsked(t)
	expect := func(frame []byte, want Counter) {
		t.Helper()
		if _, got := run(t, f, frame); got != want {
			t.Fatalf("counted %s, want %s", got, want)
		}
	}
	f.forgetRoute(client4, 0) // loadHost's verdict
	q4 := query4(nil)

	expect(q4, PassRoutePending)
	req, ok := readRequest(t, rd)
	want := RouteRequest{Src: client4, Dst: server4, MAC: clientMAC, Gen: req.Gen}
	if !ok || req != want {
		t.Fatalf("asked %+v (%v), want %+v", req, ok, want)
	}
	// Asked once, not once a query.
	expect(q4, PassRoutePending)
	if again, ok := readRequest(t, rd); ok {
		t.Fatalf("asked again at once: %+v", again)
	}

	// A verdict of an older generation is dropped.
	old := req
	old.Gen--
	if err := f.SetRoute(old, Route{Verdict: RouteOK}); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassRoutePending)

	for _, c := range []struct {
		v    RouteVerdict
		want Counter
	}{
		{RouteReject, PassRPFilter},
		{RouteElsewhere, PassElsewhere},
		{RouteOKVia, PassNoSocket},
		{RouteOK, PassNoSocket},
	} {
		if err := f.SetRoute(req, Route{Verdict: c.v, NextHop: clientMAC, Own: serverMAC}); err != nil {
			t.Fatal(err)
		}
		expect(q4, c.want)
	}
	// Other sources are asked about on their own.
	other := query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr("198.18.7.7") })
	expect(other, PassRoutePending)
	if req, ok := readRequest(t, rd); !ok || req.Src != netip.MustParseAddr("198.18.7.7") {
		t.Fatalf("second source: asked %+v (%v)", req, ok)
	}

	// After a flush the verdict still decides while the source is asked
	// about again, once.
	if err := f.FlushRoutes(); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassNoSocket)
	req2, ok := readRequest(t, rd)
	if !ok || req2.Src != client4 || req2.Gen == req.Gen {
		t.Fatalf("after a flush: asked %+v (%v), want %s in a new generation", req2, ok, client4)
	}
	expect(q4, PassNoSocket)
	if again, ok := readRequest(t, rd); ok {
		t.Fatalf("asked again at once: %+v", again)
	}
	// The new verdict decides; a pending one (the next hop is being
	// resolved) sends the queries to the kernel, whatever came before.
	for _, c := range []struct {
		v    RouteVerdict
		want Counter
	}{{RouteElsewhere, PassElsewhere}, {RoutePending, PassRoutePending}, {RouteOK, PassNoSocket}} {
		if err := f.SetRoute(req2, Route{Verdict: c.v}); err != nil {
			t.Fatal(err)
		}
		expect(q4, c.want)
	}
	if again, ok := readRequest(t, rd); ok {
		t.Fatalf("asked again within a second of a pending verdict: %+v", again)
	}

	// So does a new rp_filter setting.
	if err := f.SetRPFilter(RPLoose); err != nil {
		t.Fatal(err)
	}
	expect(q4, PassNoSocket)
	if req3, ok := readRequest(t, rd); !ok || req3.Gen == req2.Gen {
		t.Fatalf("after rp_filter: asked %+v (%v)", req3, ok)
	}
	// Martians are refused before the route is looked at, and not asked about.
	expect(query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr("127.0.0.1") }), PassMartian)
	if req, ok := readRequest(t, rd); ok {
		t.Fatalf("asked about a martian: %+v", req)
	}

	if err := f.SetRPFilter(3); err == nil {
		t.Error("rp_filter 3 accepted")
	}
	if err := f.SetRoute(RouteRequest{Src: client6, Gen: f.cfg.RouteGen}, Route{Verdict: RouteReject}); err == nil {
		t.Error("an IPv6 source rejected by rp_filter")
	}
	if err := f.SetRoute(req, Route{Verdict: 9}); err == nil {
		t.Error("an unknown verdict accepted")
	}
}

// TestRouteCheckKey: IPv6 sources and VLAN tags are asked about with what
// user space needs to find the delivering device, and their verdicts are
// kept apart.
func TestRouteCheckKey(t *testing.T) {
	f, rd := servingAsked(t)
	f.forgetRoute(client6, 0) // loadHost's verdicts
	f.forgetRoute(client6, 100|VLAN8021AD)
	tagged := query6(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8} })
	if _, c := run(t, f, tagged); c != PassRoutePending {
		t.Fatalf("counted %s, want route_pending", c)
	}
	req, ok := readRequest(t, rd)
	want := RouteRequest{Src: client6, Dst: server6, VLAN: 100 | VLAN8021AD, MAC: clientMAC, Gen: req.Gen}
	if !ok || req != want {
		t.Fatalf("asked %+v (%v), want %+v", req, ok, want)
	}
	if err := f.SetRoute(req, Route{Verdict: RouteElsewhere}); err != nil {
		t.Fatal(err)
	}
	if _, c := run(t, f, tagged); c != PassElsewhere {
		t.Fatalf("tagged: counted %s, want routed_elsewhere", c)
	}
	// The same source untagged, or with an 802.1Q tag, is another key.
	for _, frame := range [][]byte{query6(nil), query6(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} })} {
		if _, c := run(t, f, frame); c != PassRoutePending {
			t.Fatalf("counted %s, want route_pending", c)
		}
		if r, ok := readRequest(t, rd); !ok || r.Src != client6 || r.VLAN == req.VLAN {
			t.Fatalf("asked %+v (%v)", r, ok)
		}
	}
}

// TestRouteAskAgain: a request that user space never answered (lost, or
// the ring was full) is made again after a second.
func TestRouteAskAgain(t *testing.T) {
	f, rd := servingAsked(t)
	if err := f.FlushRoutes(); err != nil {
		t.Fatal(err)
	}
	run(t, f, query4(nil))
	if _, ok := readRequest(t, rd); !ok {
		t.Fatal("not asked")
	}
	time.Sleep(1100 * time.Millisecond)
	run(t, f, query4(nil))
	if _, ok := readRequest(t, rd); !ok {
		t.Fatal("not asked again after a second")
	}
}

// TestRouteRewrite: a query answered in place reaches its socket with the
// reply's MACs written in crosswise (the route's next hop as the source,
// the device's own MAC as the destination, whatever the query was sent
// to), so that the datapath's swap sends the reply where the route says.
func TestRouteRewrite(t *testing.T) {
	f := loadModelFilter(t)
	bindSocket(t, f)
	s := testServed()
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"ok", query4(nil)},
		{"ok ipv6 802.1ad", query6(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8} })},
		{"via ipv4", query4(func(p *pkt.Frame) { p.SrcIP = viaRouter4 })},
		{"via ipv6 to the bridge", query6(func(p *pkt.Frame) { p.SrcIP, p.Dst = viaRouter6, bridgeMAC })},
		{"ok to broadcast", query4(func(p *pkt.Frame) { p.Dst = bcast })},
	} {
		out := make([]byte, len(c.frame))
		before, _ := f.Counters()
		ret, err := f.Program().Run(&ebpf.RunOptions{Data: c.frame, DataOut: out, Repeat: 1})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := f.Counters()
		if ret != xdpRedirect || after[Redirect] != before[Redirect]+1 {
			t.Errorf("%s: verdict %d, redirects +%d; want XDP_REDIRECT, +1", c.name, ret, after[Redirect]-before[Redirect])
		}
		if want := s.reply(c.frame); string(out) != string(want) {
			t.Errorf("%s: handed over\n%x\nwant\n%x", c.name, out, want)
		}
	}
	// Anything passed leaves as it came.
	for _, frame := range [][]byte{query4(func(p *pkt.Frame) { p.SrcIP = elsewhere4 }), query4(func(p *pkt.Frame) { p.SrcIP = unknown4 })} {
		out := make([]byte, len(frame))
		ret, err := f.Program().Run(&ebpf.RunOptions{Data: frame, DataOut: out, Repeat: 1})
		if err != nil || ret != xdpPass || string(out) != string(frame) {
			t.Errorf("passed frame: verdict %d (%v), changed: %v", ret, err, string(out) != string(frame))
		}
	}
}

// TestLocalAddrs: the set of local sources follows what user space says.
// A source with a verdict to answer in place is not looked up among them:
// adding a local address forgets every verdict.
func TestLocalAddrs(t *testing.T) {
	f := loadServing(t)
	moved, other := netip.MustParseAddr("198.18.0.77"), netip.MustParseAddr("198.18.1.1")
	from, fromOther := query4(func(p *pkt.Frame) { p.SrcIP = moved }), query4(func(p *pkt.Frame) { p.SrcIP = other })
	// Routable, so that only being local decides.
	routable := func() {
		setRoutes(t, f, []modelRoute{{moved, 0, Route{Verdict: RouteOK}}, {other, 0, Route{Verdict: RouteOK}}})
	}
	expect := func(frame []byte, want Counter) {
		t.Helper()
		if _, c := run(t, f, frame); c != want {
			t.Fatalf("counted %s, want %s", c, want)
		}
	}
	routable()
	expect(from, PassNoSocket)
	gen := f.cfg.RouteGen
	if err := f.SetLocalAddrs(append(append([]netip.Addr{}, localAddrs...), moved)); err != nil {
		t.Fatal(err)
	}
	if f.cfg.RouteGen == gen {
		t.Fatal("a new local address kept the route verdicts")
	}
	expect(from, PassMartian)
	expect(fromOther, PassMartian) // local all along
	// Removing addresses keeps the verdicts' generation; the sources are
	// asked about again only because of the one above.
	gen = f.cfg.RouteGen
	if err := f.SetLocalAddrs(localAddrs[:1]); err != nil {
		t.Fatal(err)
	}
	if f.cfg.RouteGen != gen {
		t.Error("removing local addresses forgot the route verdicts")
	}
	expect(from, PassNoSocket) // by the older verdict, while asked again
	routable()
	expect(from, PassNoSocket)
	expect(fromOther, PassNoSocket)
}
