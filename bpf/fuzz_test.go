package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/fibtest"
	"github.com/afxdp/afxdp/internal/pkt"
)

// The program is compared with the model (model_test.go) on the frames of
// TestFilterVerdicts, on random mutations of them, and under go test -fuzz.

// modelServed is what the filter serves in these tests: loadServing's two
// addresses on port 53, and port 5353 on the IPv4 address only, so that an
// IPv6 query to port 5353 is for a served port but not a served address.
// Loopback is served too, as a block bound to it would be: the kernel
// refuses it as a destination on the wire, and so must the program.
var modelServed = []netip.AddrPort{
	netip.AddrPortFrom(server4, 53),
	netip.AddrPortFrom(server6, 53),
	netip.AddrPortFrom(server4, 5353),
	netip.MustParseAddrPort("127.0.0.1:53"),
	netip.MustParseAddrPort("[::1]:53"),
}

func testServed() *servedSet {
	s := newServedSet(modelServed...)
	s.mac, s.master = serverMAC, bridgeMAC
	for _, a := range localAddrs {
		s.local[a] = true
	}
	s.setTable(fibtest.Standard())
	for _, d := range testDevices {
		s.devices[d.tag] = modelDevice{d.dev, d.mac, d.bridge}
	}
	return s
}

// The tests' namespace is fibtest.Standard: a source for each outcome of
// the lookup of the route back.
var (
	viaRouter4, viaRouter6   = fibtest.Via4, fibtest.Via6             // through the router on srv's link
	elsewhere4, elsewhere6   = fibtest.Elsewhere4, fibtest.Elsewhere6 // out of oth
	noNeigh4, noNeigh6       = fibtest.NoNeigh4, fibtest.NoNeigh6     // on srv's link, no neighbour entry
	viaGone4, viaGone6       = fibtest.ViaGone4, fibtest.ViaGone6     // through a router on srv's link without one
	tagged4, tagged6         = fibtest.Tagged4, fibtest.Tagged6       // on q100's link (VLAN 100)
	taggedAD4, taggedAD6     = fibtest.TaggedAD4, fibtest.TaggedAD6   // on ad100's link (802.1ad VLAN 100)
	unreachable4, unreach6   = fibtest.Unreach4, fibtest.Unreach6
	smallMTU4, smallMTU6     = fibtest.SmallMTU4, fibtest.SmallMTU6
	noRoute4, noRoute6       = fibtest.Throw4, netip.MustParseAddr("fd00:ff::1")
	routerMAC, otherMAC      = fibtest.RouterMAC, [6]byte{0x02, 0, 0, 0, 0, 0x99}
	linkLocal6, linkLocalMAC = netip.MustParseAddr("fe80::1"), [6]byte{0x02, 0, 0, 0, 0, 0x77}
)

// The delivering devices the tests tell the filter of (SetDevices), by
// VLAN tag. fibtest.Standard's q100 and ad100 stand in for VLAN devices;
// bridgeVID's device stands for a VLAN device over a bridge (the route
// leaves by srv, so srv plays it). strayVID has none.
const (
	bridgeVID = 200
	strayVID  = 300
)

var testDevices = []struct {
	tag    uint16
	dev    string
	mac    [6]byte
	bridge bool
}{
	{0, "srv", serverMAC, false},
	{100, "q100", fibtest.Tag100MAC, false},
	{100 | VLAN8021AD, "ad100", fibtest.TagAD100MAC, false},
	{bridgeVID, "srv", bridgeMAC, true},
}

// localAddrs are the namespace's local addresses and directed broadcasts,
// as user space tells them.
var localAddrs = fibtest.Standard().LocalAddrs()

// BPF_PROG_TEST_RUN takes XDP frames of at least an Ethernet header;
// shorter ones fail with EINVAL. Longer frames are taken (up to about 72 KiB,
// then ENOMEM), but only a page minus XDP_PACKET_HEADROOM (256) and the room
// for struct skb_shared_info (320 on 64-bit), 4096-256-320 = 3520 bytes, go
// in the linear part the program sees between data and data_end; the rest is
// put in fragments it never looks at. The model knows nothing of fragments,
// so frames beyond that are not compared. TestFilterRunLimits checks both.
const (
	minRunFrame = 14
	maxRunFrame = 3520
)

func runnable(frame []byte) bool { return len(frame) >= minRunFrame && len(frame) <= maxRunFrame }

// loadModelFilter loads the filter serving modelServed. It is loadServing
// for a testing.TB (a fuzz target has no *testing.T outside its callback).
func loadModelFilter(tb testing.TB) *host {
	tb.Helper()
	f := loadHost(tb)
	for _, ap := range modelServed {
		if err := f.Serve(ap.Addr(), ap.Port()); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

// checker runs frames through the program and the model. It remembers the
// counters read after the last run so that each frame costs one read.
type checker struct {
	f     *host
	s     *servedSet
	last  Counters
	valid bool
}

func newChecker(tb testing.TB) *checker {
	return &checker{f: loadModelFilter(tb), s: testServed()}
}

// check runs frame (which must be runnable) once and fails tb unless the
// program's verdict is the model's (XDP_DROP for the drops, else XDP_PASS)
// and exactly one counter moved, by one, and it is the model's.
func (c *checker) check(tb testing.TB, frame []byte) {
	tb.Helper()
	if err := c.compare(frame, model(frame, c.s)); err != nil {
		tb.Fatal(err)
	}
}

// checkSeed is check with the seed's forwarding setting (restored after).
func (c *checker) checkSeed(tb testing.TB, sc seedCase) {
	tb.Helper()
	if sc.noFwd {
		c.setForwarding(tb, false)
		defer c.setForwarding(tb, true)
	}
	if err := c.compare(sc.frame, model(sc.frame, c.s)); err != nil {
		tb.Fatalf("%s: %v", sc.name, err)
	}
}

// setForwarding turns forwarding on loopback on or off, in the namespace
// and in the model.
func (c *checker) setForwarding(tb testing.TB, on bool) {
	tb.Helper()
	c.f.fx.SetForwarding(tb, on)
	c.s.fwd = on
}

// compare runs frame once and says how the program's verdict and counters
// differ from want's verdict and the counter want moving by one.
func (c *checker) compare(frame []byte, want Counter) error {
	if !c.valid {
		cs, err := c.f.Counters()
		if err != nil {
			return err
		}
		c.last, c.valid = cs, true
	}
	ret, err := c.f.run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil {
		c.valid = false
		return fmt.Errorf("test run of %d-byte frame %x: %w", len(frame), frame, err)
	}
	after, err := c.f.Counters()
	if err != nil {
		c.valid = false
		return err
	}
	before := c.last
	c.last = after

	moved, got := 0, Counter(-1)
	odd := ""
	for i := range after {
		switch d := after[i] - before[i]; d {
		case 0:
		case 1:
			moved++
			got = Counter(i)
		default:
			moved++
			odd += fmt.Sprintf(" %s moved by %d;", Counter(i), int64(d))
		}
	}
	if ret == modelVerdict(want) && moved == 1 && odd == "" && got == want {
		return nil
	}
	prog := fmt.Sprintf("verdict %d, counter %s", ret, got)
	if moved != 1 || odd != "" {
		prog = fmt.Sprintf("verdict %d, %d counters moved:%s last +1: %s", ret, moved, odd, got)
	}
	return fmt.Errorf("program and model disagree on %d-byte frame %x\n\tprogram: %s\n\tmodel:   verdict %d, counter %s",
		len(frame), frame, prog, modelVerdict(want), want)
}

type seedCase struct {
	name  string
	frame []byte
	want  Counter
	noFwd bool // run with forwarding off on loopback (and back on after)
}

// seedCases are crafted frames with the counter a test run gives them (no
// socket bound) in fibtest.Standard's namespace: one per parsing and
// routing outcome, and the edges of the spec.
func seedCases() []seedCase {
	cut := func(b []byte, n int) []byte { return b[:n] }
	dnsHdr := func(flags, qd, an, ns, ar uint16) func(*pkt.Frame) {
		return func(p *pkt.Frame) {
			q := pkt.Query("example.org.", 1)
			binary.BigEndian.PutUint16(q[2:], flags)
			binary.BigEndian.PutUint16(q[4:], qd)
			binary.BigEndian.PutUint16(q[6:], an)
			binary.BigEndian.PutUint16(q[8:], ns)
			binary.BigEndian.PutUint16(q[10:], ar)
			p.Payload = q
		}
	}
	dnsFlags := func(flags, qd uint16) func(*pkt.Frame) { return dnsHdr(flags, qd, 0, 0, 0) }
	cases := []seedCase{
		{"ipv4 query", query4(nil), PassNoSocket, false},
		{"ipv6 query", query6(nil), PassNoSocket, false},
		{"802.1Q ipv4", query4(func(p *pkt.Frame) { p.SrcIP, p.VLANs = tagged4, []uint16{0x8100} }), PassNoSocket, false},
		{"802.1ad ipv6", query6(func(p *pkt.Frame) { p.SrcIP, p.VLANs = taggedAD6, []uint16{0x88a8} }), PassNoSocket, false},
		{"ipv4 options", query4(func(p *pkt.Frame) { p.IPOptions = []byte{1, 1, 1, 0} }), PassNoSocket, false},
		{"ethernet padding", query4(func(p *pkt.Frame) { p.Padding = 20 }), PassNoSocket, false},
		{"stacked vlan tags", query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8, 0x8100} }), PassNotIP, false},
		{"arp", query4(func(p *pkt.Frame) { p.EtherType = 0x0806 }), PassNotIP, false},
		{"other port", query4(func(p *pkt.Frame) { p.DstPort = 5354 }), PassPort, false},
		{"other port ipv6", query6(func(p *pkt.Frame) { p.DstPort = 853 }), PassPort, false},
		{"other address", query4(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("198.18.0.9") }), PassAddr, false},
		{"other address ipv6", query6(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("fd00::9") }), PassAddr, false},
		{"tcp/53", query4(func(p *pkt.Frame) { p.Proto = 6 }), PassNotUDP, false},
		{"icmpv6", query6(func(p *pkt.Frame) { p.Proto = 58 }), PassNotUDP, false},
		{"ipv4 MF fragment", query4(func(p *pkt.Frame) { p.FragOff = 0x2000 }), PassFragment, false},
		{"ipv4 offset fragment", query4(func(p *pkt.Frame) { p.FragOff = 0x0010 }), PassFragment, false},
		{"ipv6 fragment header", query6(func(p *pkt.Frame) { p.Proto = 44 }), PassFragment, false},
		{"ipv6 hop-by-hop", edit(query6(nil), 14+6, 0), PassIPExt, false},
		{"ipv6 destination options", query6(func(p *pkt.Frame) { p.Proto = 60 }), PassIPExt, false},
		{"response", query4(dnsFlags(0x8180, 1)), PassNotQuery, false},
		{"opcode update", query4(dnsFlags(0x2800, 1)), PassNotQuery, false},
		{"opcode notify", query6(dnsFlags(0x2000, 1)), PassNotQuery, false},
		{"qdcount 0", query4(dnsFlags(0x0100, 0)), PassNotQuery, false},
		{"qdcount 2", query4(dnsFlags(0x0100, 2)), PassNotQuery, false},
		{"dns header cut", query4(func(p *pkt.Frame) { p.Payload = p.Payload[:11] }), PassMalformed, false},
		{"empty payload", query4(func(p *pkt.Frame) { p.Payload = nil }), PassMalformed, false},
		{"ipv4 header cut", cut(query4(nil), 14+12), PassMalformed, false},
		{"udp header cut", cut(query4(nil), 14+20+4), PassMalformed, false},
		{"ipv6 header cut", cut(query6(nil), 14+30), PassMalformed, false},
		{"ipv4 total length beyond frame", cut(query4(nil), 14+20+8+20), PassMalformed, false},
		{"ipv6 payload length beyond frame", cut(query6(nil), 14+40+8+20), PassMalformed, false},
		{"vlan tag cut", cut(query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), 16), PassMalformed, false},
		{"ipv4 ihl 4", edit(query4(nil), 14, 0x44), PassMalformed, false},
		{"ipv4 version 6 in ipv4 ethertype", edit(query4(nil), 14, 0x65), PassMalformed, false},
		{"udp length 7", edit16(query4(nil), 14+20+4, 7), PassMalformed, false},
		{"udp length beyond ip", edit16(query4(nil), 14+20+4, 500), PassMalformed, false},
		{"ipv4 total length below header", edit16(query4(nil), 14+2, 19), PassMalformed, false},

		// More edges.
		{"ethernet only", make([]byte, 14), PassNotIP, false},
		{"vlan tag only", cut(query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), 18), PassMalformed, false},
		{"vlan ipv6 other address", query6(func(p *pkt.Frame) {
			p.VLANs = []uint16{0x8100}
			p.DstIP = netip.MustParseAddr("fd00::53")
		}), PassAddr, false},
		{"second port ipv4", query4(func(p *pkt.Frame) { p.DstPort = 5353 }), PassNoSocket, false},
		{"second port ipv6 not served there", query6(func(p *pkt.Frame) { p.DstPort = 5353 }), PassAddr, false},
		{"ancount 1 nscount 1 arcount 2", query4(dnsHdr(0x0100, 1, 1, 1, 2)), PassNoSocket, false},
		{"ancount 2", query4(dnsHdr(0x0100, 1, 2, 0, 0)), PassNotQuery, false},
		{"nscount 2", query6(dnsHdr(0x0100, 1, 0, 2, 0)), PassNotQuery, false},
		{"arcount 3", query4(dnsHdr(0x0100, 1, 0, 0, 3)), PassNotQuery, false},
		{"opcode 15", query4(dnsFlags(0x7900, 1)), PassNotQuery, false},
		{"dns header only", query4(func(p *pkt.Frame) { p.Payload = p.Payload[:12] }), PassNoSocket, false},
		{"dns header only other port", query4(func(p *pkt.Frame) { p.Payload, p.DstPort = nil, 1 }), PassPort, false},
		{"dns header in padding only", edit16(query4(func(p *pkt.Frame) { p.Payload, p.Padding = nil, 12 }), 14+20+4, 8), PassMalformed, false},
		{"udp length 19 in a longer datagram", edit16(query4(nil), 14+20+4, 19), PassMalformed, false},
		{"ipv4 df flag", query4(func(p *pkt.Frame) { p.FragOff = 0x4000 }), PassNoSocket, false},
		{"ipv4 evil bit and offset", query4(func(p *pkt.Frame) { p.FragOff = 0x8001 }), PassFragment, false},
		{"ipv4 ihl 15 beyond total", edit(query4(nil), 14, 0x4f), PassMalformed, false},
		{"ipv4 udp header beyond total", query4(func(p *pkt.Frame) { p.IPOptions = make([]byte, 40) }), PassNoSocket, false},
		{"ipv6 version 4", edit(query6(nil), 14, 0x45), PassMalformed, false},
		{"ipv6 payload length 0", edit16(query6(nil), 14+4, 0), PassMalformed, false},
		{"ipv6 ext 253", query6(func(p *pkt.Frame) { p.Proto = 253 }), PassIPExt, false},
		{"ipv6 udp in ipv4 ethertype", query6(func(p *pkt.Frame) { p.EtherType = 0x0800 }), PassMalformed, false},
		{"ipv4 in ipv6 ethertype", query4(func(p *pkt.Frame) { p.EtherType = 0x86dd }), PassMalformed, false},
		{"ipv6 padding", query6(func(p *pkt.Frame) { p.Padding = 7 }), PassNoSocket, false},
	}
	cases = append(cases, routeCases()...)
	return append(cases, martianCases()...)
}

// routeCases are one query for each outcome of the route back's lookup,
// and the VLAN tag's part in it: the device the route leaves by must be
// the tag's.
func routeCases() []seedCase {
	from4 := func(src netip.Addr) []byte { return query4(func(p *pkt.Frame) { p.SrcIP = src }) }
	from6 := func(src netip.Addr) []byte { return query6(func(p *pkt.Frame) { p.SrcIP = src }) }
	tag := func(vid uint16, frame []byte) []byte { return edit16(frame, 14, vid) } // pkt tags VID 100
	q := func(src netip.Addr, srcMAC [6]byte, tpid uint16) []byte {
		return query4(func(p *pkt.Frame) {
			p.SrcIP, p.Src, p.VLANs = src, srcMAC, []uint16{tpid}
			if src.Is6() {
				p.DstIP = server6
			}
		})
	}
	return []seedCase{
		{"ipv4 via a router", from4(viaRouter4), PassNoSocket, false},
		{"ipv6 via a router", from6(viaRouter6), PassNoSocket, false},
		{"ipv4 default route", from4(netip.MustParseAddr("198.19.7.7")), PassNoSocket, false},
		{"ipv4 routed elsewhere", from4(elsewhere4), PassElsewhere, false},
		{"ipv6 routed elsewhere", from6(elsewhere6), PassElsewhere, false},
		{"ipv4 on another device's link", from4(netip.MustParseAddr("198.18.1.2")), PassElsewhere, false},
		{"ipv4 no neighbour", from4(noNeigh4), PassNoNeigh, false},
		{"ipv6 no neighbour", from6(noNeigh6), PassNoNeigh, false},
		{"ipv4 router without neighbour", from4(viaGone4), PassNoNeigh, false},
		{"ipv6 router without neighbour", from6(viaGone6), PassNoNeigh, false},
		{"ipv4 elsewhere without neighbour", from4(fibtest.ViaGoneOth4), PassElsewhere, false},
		{"ipv6 elsewhere without neighbour", from6(fibtest.ViaGoneOth6), PassElsewhere, false},
		{"ipv4 unreachable", from4(unreachable4), DropUnreachable, false},
		{"ipv6 unreachable", from6(unreach6), DropUnreachable, false},
		{"ipv4 blackhole", from4(fibtest.Blackhole4), DropUnreachable, false},
		{"ipv6 blackhole", from6(fibtest.Blackhole6), DropUnreachable, false},
		{"ipv4 prohibit", from4(fibtest.Prohibit4), DropUnreachable, false},
		{"ipv6 prohibit", from6(fibtest.Prohibit6), DropUnreachable, false},
		{"ipv4 no route (throw)", from4(noRoute4), PassNotFwded, false},
		{"ipv6 no route", from6(noRoute6), PassNotFwded, false},
		{"ipv4 route mtu", from4(smallMTU4), PassNoSocket, false},
		{"ipv6 link-local", from6(linkLocal6), PassNoSocket, false},
		{"ipv4 forwarding off", query4(nil), PassFwdDisabled, true},
		{"ipv6 forwarding off", query6(nil), PassFwdDisabled, true},
		{"ipv6 link-local forwarding off", from6(linkLocal6), PassNoSocket, true},
		{"ipv4 local source forwarding off", from4(server4), PassFwdDisabled, true},
		{"802.1Q ipv6", q(tagged6, clientMAC, 0x8100), PassNoSocket, false},
		{"802.1ad ipv4", q(taggedAD4, clientMAC, 0x88a8), PassNoSocket, false},
		{"802.1Q ipv4 from untagged link", q(client4, clientMAC, 0x8100), PassElsewhere, false},
		{"802.1ad ipv6 from 802.1Q link", q(tagged6, clientMAC, 0x88a8), PassElsewhere, false},
		{"untagged ipv4 from tagged link", from4(tagged4), PassElsewhere, false},
		{"802.1Q tag without device", tag(strayVID, q(client4, clientMAC, 0x8100)), PassElsewhere, false},
		{"802.1Q ipv6 link-local without device", tag(strayVID, q(linkLocal6, clientMAC, 0x8100)), PassElsewhere, false},
		{"802.1Q link-local", q(linkLocal6, linkLocalMAC, 0x8100), PassNoSocket, false},
		{"bridge, the next hop's MAC", tag(bridgeVID, q(client4, clientMAC, 0x8100)), PassNoSocket, false},
		{"bridge, another MAC", tag(bridgeVID, q(client4, otherMAC, 0x8100)), PassElsewhere, false},
		{"bridge ipv6, another MAC", tag(bridgeVID, q(client6, otherMAC, 0x8100)), PassElsewhere, false},
		{"bridge via router, the client's MAC", tag(bridgeVID, q(viaRouter4, clientMAC, 0x8100)), PassElsewhere, false},
		{"bridge via router, the router's MAC", tag(bridgeVID, q(viaRouter6, routerMAC, 0x8100)), PassNoSocket, false},
		{"bridge no neighbour", tag(bridgeVID, q(noNeigh4, otherMAC, 0x8100)), PassNoNeigh, false},
		{"bridge link-local, any MAC", tag(bridgeVID, q(linkLocal6, otherMAC, 0x8100)), PassNoSocket, false},
	}
}

// martianCases are the sources and frames the kernel's input checks drop,
// and their edges.
func martianCases() []seedCase {
	from4 := func(src string) []byte {
		return query4(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr(src) })
	}
	from6 := func(src string) []byte {
		return query6(func(p *pkt.Frame) { p.SrcIP = netip.MustParseAddr(src) })
	}
	to := func(mac [6]byte, frame []byte) []byte { copy(frame, mac[:]); return frame }
	var cases []seedCase
	for _, src := range []string{"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.0.1", "224.0.0.251", "239.255.255.250",
		"240.0.0.1", "255.255.255.255", "198.18.0.1", "198.18.1.1", "198.18.0.255", "198.18.1.255", "198.18.101.1"} {
		cases = append(cases, seedCase{"ipv4 martian source " + src, from4(src), PassMartian, false})
	}
	for _, src := range []string{"::", "::1", "ff02::fb", "ff05::1:3", "::ffff:198.18.0.2", "::ffff:0.0.0.0", "fd00::1", "fd00:1::1", "fd00:100::1"} {
		cases = append(cases, seedCase{"ipv6 martian source " + src, from6(src), PassMartian, false})
	}
	// Sources that are no martians: the route back decides (IPv4 has a
	// default route via the router on srv, IPv6 none).
	type source struct {
		addr string
		want Counter
	}
	for _, src := range []source{{"1.0.0.0", PassNoSocket}, {"126.255.255.255", PassNoSocket}, {"128.0.0.1", PassNoSocket},
		{"223.255.255.255", PassNoSocket}, {"198.18.0.254", PassNoSocket}, {"198.18.0.0", PassNoNeigh}, {"198.18.1.2", PassElsewhere},
		{"198.18.1.0", PassElsewhere}} {
		cases = append(cases, seedCase{"ipv4 ordinary source " + src.addr, from4(src.addr), src.want, false})
	}
	for _, src := range []source{{"::2", PassNotFwded}, {"fe80::1", PassNoSocket}, {"febf::1", PassNoSocket}, {"fec0::1", PassNotFwded},
		{"::198.18.0.2", PassNotFwded}, {"::fffe:c612:2", PassNotFwded}, {"fe00::1", PassNotFwded}, {"fd00::ffff:0:1", PassNoNeigh},
		{"fd00::fe", PassNoSocket}} {
		cases = append(cases, seedCase{"ipv6 ordinary source " + src.addr, from6(src.addr), src.want, false})
	}
	other := otherMAC
	return append(cases,
		seedCase{"ipv4 source port 0", query4(func(p *pkt.Frame) { p.SrcPort = 0 }), PassMartian, false},
		seedCase{"ipv4 to served loopback", query4(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("127.0.0.1") }), PassMartian, false},
		seedCase{"ipv6 to served loopback", query6(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("::1") }), PassMartian, false},
		seedCase{"ipv6 source port 0", query6(func(p *pkt.Frame) { p.SrcPort = 0 }), PassMartian, false},
		seedCase{"ipv4 another host's MAC", to(other, query4(nil)), PassMartian, false},
		seedCase{"ipv6 another host's MAC", to(other, query6(nil)), PassMartian, false},
		seedCase{"vlan another host's MAC", to(other, query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} })), PassMartian, false},
		seedCase{"zero MAC", to([6]byte{}, query4(nil)), PassMartian, false},
		seedCase{"broadcast MAC", to([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, query4(nil)), PassNoSocket, false},
		seedCase{"multicast MAC", to([6]byte{0x33, 0x33, 0, 0, 0, 1}, query6(nil)), PassNoSocket, false},
		seedCase{"bridge's MAC", to(bridgeMAC, query4(nil)), PassNoSocket, false},
		seedCase{"loopback source to another port", query4(func(p *pkt.Frame) {
			p.SrcIP, p.DstPort = netip.MustParseAddr("127.0.0.1"), 54
		}), PassPort, false},
		seedCase{"own source to another address", query4(func(p *pkt.Frame) {
			p.SrcIP, p.DstIP = server4, netip.MustParseAddr("198.18.0.9")
		}), PassAddr, false},
		seedCase{"loopback source, not a query", query4(func(p *pkt.Frame) {
			p.SrcIP = netip.MustParseAddr("127.0.0.1")
			binary.BigEndian.PutUint16(p.Payload[2:], 0x8180)
		}), PassNotQuery, false},
	)
}

// mutate returns a random variation of b: bytes overwritten (mostly in the
// headers), 16-bit fields set to values near the lengths, cuts, extensions.
func mutate(r *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for n := 1 + r.Intn(3); n > 0; n-- {
		hdr := min(len(b), 80)
		switch op := r.Intn(8); {
		case op <= 1 && len(b) > 0:
			b[r.Intn(len(b))] = byte(r.Intn(256))
		case op <= 3 && hdr > 0:
			b[r.Intn(hdr)] = byte(r.Intn(256))
		case op == 4 && hdr > 1:
			i := r.Intn(hdr - 1)
			if r.Intn(2) == 0 {
				i &^= 1
			}
			vals := []int{0, 1, 7, 8, 11, 12, 19, 20, 21, 40, 53, 5353, 0x0800, 0x86dd, 0x8100, 0x88a8, 0xffff}
			v := vals[r.Intn(len(vals))]
			if r.Intn(2) == 0 { // a length near the frame's, seen from an offset
				offs := []int{14, 18, 34, 38, 54, 58}
				v = len(b) - offs[r.Intn(len(offs))] + r.Intn(5) - 2
			}
			binary.BigEndian.PutUint16(b[i:], uint16(v))
		case op == 5 && len(b) > 0:
			b[r.Intn(len(b))] ^= 1 << r.Intn(8)
		case op == 6:
			b = b[:r.Intn(len(b)+1)]
		default:
			ext := make([]byte, 1+r.Intn(32))
			if r.Intn(2) == 0 {
				r.Read(ext)
			}
			b = append(b, ext...)
		}
	}
	return b
}

// TestFilterMatchesModelOnMutations runs the program and the model on random
// (but fixed) mutations of the seed frames, so that every go test checks the
// property the fuzz target checks.
func TestFilterMatchesModelOnMutations(t *testing.T) {
	c := newChecker(t)
	seeds := seedCases()
	for _, sc := range seeds {
		c.checkSeed(t, sc)
	}
	r := rand.New(rand.NewSource(20240611))
	var checked, skipped int
	hits := make(map[Counter]int)
	for checked < 2000 {
		frame := mutate(r, seeds[r.Intn(len(seeds))].frame)
		if !runnable(frame) {
			skipped++
			continue
		}
		c.check(t, frame)
		hits[model(frame, c.s)]++
		checked++
	}
	t.Logf("%d mutations checked (%d too short or long to run); by counter: %v", checked, skipped, hits)
}

// longQuery is an n-byte IPv4 frame holding a plain query whose datagram
// fills the frame, with a long tail.
func longQuery(n int) []byte {
	b := query4(nil)
	b = append(b, make([]byte, n-len(b))...)
	binary.BigEndian.PutUint16(b[14+2:], uint16(n-14))
	binary.BigEndian.PutUint16(b[14+20+4:], uint16(n-14-20))
	return b
}

// TestFilterRunLimits pins down which frame sizes BPF_PROG_TEST_RUN runs
// whole, that is, which fuzz inputs FuzzFilter can compare with the model.
func TestFilterRunLimits(t *testing.T) {
	c := newChecker(t)
	for _, n := range []int{0, 1, minRunFrame - 1} {
		_, err := c.f.run(&ebpf.RunOptions{Data: make([]byte, n), Repeat: 1})
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%d-byte frame: got %v, want EINVAL", n, err)
		}
	}
	c.check(t, make([]byte, minRunFrame))

	largest := longQuery(maxRunFrame)
	if m := model(largest, c.s); m != PassNoSocket {
		t.Fatalf("largest frame: model counts %s, want no_socket", m)
	}
	c.check(t, largest)

	// One byte more and the program sees only the first maxRunFrame bytes,
	// where the IP total length and UDP length lie.
	beyond := longQuery(maxRunFrame + 1)
	if m := model(beyond[:maxRunFrame], c.s); m != PassMalformed {
		t.Fatalf("first %d bytes: model counts %s, want malformed", maxRunFrame, m)
	}
	if err := c.compare(beyond, PassMalformed); err != nil {
		t.Fatalf("%v\n(maxRunFrame is wrong for this kernel)", err)
	}
}

func FuzzFilter(f *testing.F) {
	seeds := seedCases()
	for _, sc := range seeds {
		f.Add(sc.frame)
	}
	// One frame too short and one too long to run, so that the skip is
	// not new coverage when the fuzzer first makes one.
	f.Add(seeds[0].frame[:minRunFrame-1])
	f.Add(longQuery(maxRunFrame + 1))
	r := rand.New(rand.NewSource(1))
	for added := 0; added < 64; {
		if m := mutate(r, seeds[r.Intn(len(seeds))].frame); runnable(m) {
			f.Add(m)
			added++
		}
	}
	c := newChecker(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if !runnable(frame) {
			// A constant message: formatting the length would give the
			// fuzzer new coverage (in fmt) for every digit count, and it
			// would spend its time minimizing oversized inputs.
			t.Skip("BPF_PROG_TEST_RUN cannot run this frame whole")
		}
		c.check(t, frame)
	})
}
