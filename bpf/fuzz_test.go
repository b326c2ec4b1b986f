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
	for _, r := range modelRoutes() {
		s.routes[routeKey{r.src, r.vlan}] = r.Route
	}
	return s
}

// A route verdict user space gave, as loadHost tells it to the program.
type modelRoute struct {
	src  netip.Addr
	vlan uint16
	Route
}

var routerMAC = [6]byte{0x02, 0, 0, 0, 0, 0x0e}

// Sources with one of each verdict, besides the clients of the seed cases
// (answered in place, to the MAC they came from, on the VLAN tags seeded).
var (
	viaRouter4 = netip.MustParseAddr("198.19.0.9") // routed through another next hop on the link
	viaRouter6 = netip.MustParseAddr("fd00:9::9")
	elsewhere4 = netip.MustParseAddr("198.18.2.2") // routed out of another device
	elsewhere6 = netip.MustParseAddr("fd00:2::2")
	rejected4  = netip.MustParseAddr("198.18.3.3") // refused by rp_filter
	unknown4   = netip.MustParseAddr("198.18.4.4") // no verdict: asked about
)

func modelRoutes() []modelRoute {
	ok := Route{Verdict: RouteOK, NextHop: clientMAC, Own: serverMAC}
	via := Route{Verdict: RouteOKVia, NextHop: routerMAC, Own: serverMAC}
	var rs []modelRoute
	for _, a := range []string{"198.18.0.2", "fd00::2", "1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.255",
		"198.18.0.254", "198.18.1.2", "::2", "fe80::1", "::198.18.0.2", "::fffe:c612:2", "fe00::1", "fd00::ffff:0:1"} {
		rs = append(rs, modelRoute{netip.MustParseAddr(a), 0, ok})
	}
	return append(rs,
		modelRoute{client4, 100, ok},
		modelRoute{client6, 100 | VLAN8021AD, ok},
		modelRoute{viaRouter4, 0, via},
		modelRoute{viaRouter6, 0, via},
		modelRoute{elsewhere4, 0, Route{Verdict: RouteElsewhere}},
		modelRoute{elsewhere6, 0, Route{Verdict: RouteElsewhere}},
		modelRoute{rejected4, 0, Route{Verdict: RouteReject}},
	)
}

// localAddrs are the namespace's local addresses in these tests: the served
// ones, another interface's, and a directed broadcast.
var localAddrs = []netip.Addr{server4, server6,
	netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.0.255"), netip.MustParseAddr("fd00:1::1")}

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
func loadModelFilter(tb testing.TB) *Filter {
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
	f     *Filter
	s     *servedSet
	last  Counters
	valid bool
}

func newChecker(tb testing.TB) *checker {
	return &checker{f: loadModelFilter(tb), s: testServed()}
}

// check runs frame (which must be runnable) once and fails tb unless the
// program's verdict is XDP_PASS and exactly one counter moved, by one, and
// it is the model's.
func (c *checker) check(tb testing.TB, frame []byte) {
	tb.Helper()
	if err := c.compare(frame, model(frame, c.s)); err != nil {
		tb.Fatal(err)
	}
}

// compare runs frame once and says how the program's verdict and counters
// differ from XDP_PASS and the counter want moving by one.
func (c *checker) compare(frame []byte, want Counter) error {
	if !c.valid {
		cs, err := c.f.Counters()
		if err != nil {
			return err
		}
		c.last, c.valid = cs, true
	}
	ret, err := c.f.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
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
	c.forgetAsked()
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
	if ret == xdpPass && moved == 1 && odd == "" && got == want {
		return nil
	}
	prog := fmt.Sprintf("verdict %d, counter %s", ret, got)
	if moved != 1 || odd != "" {
		prog = fmt.Sprintf("verdict %d, %d counters moved:%s last +1: %s", ret, moved, odd, got)
	}
	return fmt.Errorf("program and model disagree on %d-byte frame %x\n\tprogram: %s\n\tmodel:   verdict %d, counter %s",
		len(frame), frame, prog, xdpPass, want)
}

// forgetAsked removes the sources the program was made to ask about from
// its LRU maps once there are many, so that they never evict a verdict the
// model relies on.
func (c *checker) forgetAsked() {
	if len(c.s.asked) < 4096 {
		return
	}
	for k := range c.s.asked {
		c.f.forgetRoute(k.src, k.vlan)
	}
	clear(c.s.asked)
}

type seedCase struct {
	name  string
	frame []byte
	want  Counter
}

// seedCases are crafted frames with the counter a test run gives them (no
// socket bound): one per parsing outcome, and the edges of the spec.
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
		{"ipv4 query", query4(nil), PassNoSocket},
		{"ipv6 query", query6(nil), PassNoSocket},
		{"802.1Q ipv4", query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), PassNoSocket},
		{"802.1ad ipv6", query6(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8} }), PassNoSocket},
		{"ipv4 options", query4(func(p *pkt.Frame) { p.IPOptions = []byte{1, 1, 1, 0} }), PassNoSocket},
		{"ethernet padding", query4(func(p *pkt.Frame) { p.Padding = 20 }), PassNoSocket},
		{"stacked vlan tags", query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8, 0x8100} }), PassNotIP},
		{"arp", query4(func(p *pkt.Frame) { p.EtherType = 0x0806 }), PassNotIP},
		{"other port", query4(func(p *pkt.Frame) { p.DstPort = 5354 }), PassPort},
		{"other port ipv6", query6(func(p *pkt.Frame) { p.DstPort = 853 }), PassPort},
		{"other address", query4(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("198.18.0.9") }), PassAddr},
		{"other address ipv6", query6(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("fd00::9") }), PassAddr},
		{"tcp/53", query4(func(p *pkt.Frame) { p.Proto = 6 }), PassNotUDP},
		{"icmpv6", query6(func(p *pkt.Frame) { p.Proto = 58 }), PassNotUDP},
		{"ipv4 MF fragment", query4(func(p *pkt.Frame) { p.FragOff = 0x2000 }), PassFragment},
		{"ipv4 offset fragment", query4(func(p *pkt.Frame) { p.FragOff = 0x0010 }), PassFragment},
		{"ipv6 fragment header", query6(func(p *pkt.Frame) { p.Proto = 44 }), PassFragment},
		{"ipv6 hop-by-hop", edit(query6(nil), 14+6, 0), PassIPExt},
		{"ipv6 destination options", query6(func(p *pkt.Frame) { p.Proto = 60 }), PassIPExt},
		{"response", query4(dnsFlags(0x8180, 1)), PassNotQuery},
		{"opcode update", query4(dnsFlags(0x2800, 1)), PassNotQuery},
		{"opcode notify", query6(dnsFlags(0x2000, 1)), PassNotQuery},
		{"qdcount 0", query4(dnsFlags(0x0100, 0)), PassNotQuery},
		{"qdcount 2", query4(dnsFlags(0x0100, 2)), PassNotQuery},
		{"dns header cut", query4(func(p *pkt.Frame) { p.Payload = p.Payload[:11] }), PassMalformed},
		{"empty payload", query4(func(p *pkt.Frame) { p.Payload = nil }), PassMalformed},
		{"ipv4 header cut", cut(query4(nil), 14+12), PassMalformed},
		{"udp header cut", cut(query4(nil), 14+20+4), PassMalformed},
		{"ipv6 header cut", cut(query6(nil), 14+30), PassMalformed},
		{"ipv4 total length beyond frame", cut(query4(nil), 14+20+8+20), PassMalformed},
		{"ipv6 payload length beyond frame", cut(query6(nil), 14+40+8+20), PassMalformed},
		{"vlan tag cut", cut(query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), 16), PassMalformed},
		{"ipv4 ihl 4", edit(query4(nil), 14, 0x44), PassMalformed},
		{"ipv4 version 6 in ipv4 ethertype", edit(query4(nil), 14, 0x65), PassMalformed},
		{"udp length 7", edit16(query4(nil), 14+20+4, 7), PassMalformed},
		{"udp length beyond ip", edit16(query4(nil), 14+20+4, 500), PassMalformed},
		{"ipv4 total length below header", edit16(query4(nil), 14+2, 19), PassMalformed},

		// More edges.
		{"ethernet only", make([]byte, 14), PassNotIP},
		{"vlan tag only", cut(query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), 18), PassMalformed},
		{"vlan ipv6 other address", query6(func(p *pkt.Frame) {
			p.VLANs = []uint16{0x8100}
			p.DstIP = netip.MustParseAddr("fd00::53")
		}), PassAddr},
		{"second port ipv4", query4(func(p *pkt.Frame) { p.DstPort = 5353 }), PassNoSocket},
		{"second port ipv6 not served there", query6(func(p *pkt.Frame) { p.DstPort = 5353 }), PassAddr},
		{"ancount 1 nscount 1 arcount 2", query4(dnsHdr(0x0100, 1, 1, 1, 2)), PassNoSocket},
		{"ancount 2", query4(dnsHdr(0x0100, 1, 2, 0, 0)), PassNotQuery},
		{"nscount 2", query6(dnsHdr(0x0100, 1, 0, 2, 0)), PassNotQuery},
		{"arcount 3", query4(dnsHdr(0x0100, 1, 0, 0, 3)), PassNotQuery},
		{"opcode 15", query4(dnsFlags(0x7900, 1)), PassNotQuery},
		{"dns header only", query4(func(p *pkt.Frame) { p.Payload = p.Payload[:12] }), PassNoSocket},
		{"dns header only other port", query4(func(p *pkt.Frame) { p.Payload, p.DstPort = nil, 1 }), PassPort},
		{"dns header in padding only", edit16(query4(func(p *pkt.Frame) { p.Payload, p.Padding = nil, 12 }), 14+20+4, 8), PassMalformed},
		{"udp length 19 in a longer datagram", edit16(query4(nil), 14+20+4, 19), PassMalformed},
		{"ipv4 df flag", query4(func(p *pkt.Frame) { p.FragOff = 0x4000 }), PassNoSocket},
		{"ipv4 evil bit and offset", query4(func(p *pkt.Frame) { p.FragOff = 0x8001 }), PassFragment},
		{"ipv4 ihl 15 beyond total", edit(query4(nil), 14, 0x4f), PassMalformed},
		{"ipv4 udp header beyond total", query4(func(p *pkt.Frame) { p.IPOptions = make([]byte, 40) }), PassNoSocket},
		{"ipv6 version 4", edit(query6(nil), 14, 0x45), PassMalformed},
		{"ipv6 payload length 0", edit16(query6(nil), 14+4, 0), PassMalformed},
		{"ipv6 ext 253", query6(func(p *pkt.Frame) { p.Proto = 253 }), PassIPExt},
		{"ipv6 udp in ipv4 ethertype", query6(func(p *pkt.Frame) { p.EtherType = 0x0800 }), PassMalformed},
		{"ipv4 in ipv6 ethertype", query4(func(p *pkt.Frame) { p.EtherType = 0x86dd }), PassMalformed},
		{"ipv6 padding", query6(func(p *pkt.Frame) { p.Padding = 7 }), PassNoSocket},
	}
	cases = append(cases, routeCases()...)
	return append(cases, martianCases()...)
}

// routeCases are one query for each route verdict, and the VLAN tag as a
// part of the key.
func routeCases() []seedCase {
	from4 := func(src netip.Addr) []byte { return query4(func(p *pkt.Frame) { p.SrcIP = src }) }
	from6 := func(src netip.Addr) []byte { return query6(func(p *pkt.Frame) { p.SrcIP = src }) }
	return []seedCase{
		{"ipv4 another next hop", from4(viaRouter4), PassNoSocket},
		{"ipv6 another next hop", from6(viaRouter6), PassNoSocket},
		{"ipv4 routed elsewhere", from4(elsewhere4), PassElsewhere},
		{"ipv6 routed elsewhere", from6(elsewhere6), PassElsewhere},
		{"ipv4 rp_filter", from4(rejected4), PassRPFilter},
		{"ipv4 route unknown", from4(unknown4), PassRoutePending},
		{"802.1ad ipv4 no verdict for this tag", query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8} }), PassRoutePending},
		{"802.1Q ipv6 no verdict for this tag", query6(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), PassRoutePending},
		{"elsewhere untagged, tagged unknown", query4(func(p *pkt.Frame) {
			p.SrcIP, p.VLANs = elsewhere4, []uint16{0x8100}
		}), PassRoutePending},
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
		"240.0.0.1", "255.255.255.255", "198.18.0.1", "198.18.1.1", "198.18.0.255"} {
		cases = append(cases, seedCase{"ipv4 martian source " + src, from4(src), PassMartian})
	}
	for _, src := range []string{"::", "::1", "ff02::fb", "ff05::1:3", "::ffff:198.18.0.2", "::ffff:0.0.0.0", "fd00::1", "fd00:1::1"} {
		cases = append(cases, seedCase{"ipv6 martian source " + src, from6(src), PassMartian})
	}
	for _, src := range []string{"1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.255", "198.18.0.254", "198.18.1.2"} {
		cases = append(cases, seedCase{"ipv4 ordinary source " + src, from4(src), PassNoSocket})
	}
	for _, src := range []string{"::2", "fe80::1", "::198.18.0.2", "::fffe:c612:2", "fe00::1", "fd00::ffff:0:1"} {
		cases = append(cases, seedCase{"ipv6 ordinary source " + src, from6(src), PassNoSocket})
	}
	other := [6]byte{0x02, 0, 0, 0, 0, 0x99}
	return append(cases,
		seedCase{"ipv4 source port 0", query4(func(p *pkt.Frame) { p.SrcPort = 0 }), PassMartian},
		seedCase{"ipv4 to served loopback", query4(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("127.0.0.1") }), PassMartian},
		seedCase{"ipv6 to served loopback", query6(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("::1") }), PassMartian},
		seedCase{"ipv6 source port 0", query6(func(p *pkt.Frame) { p.SrcPort = 0 }), PassMartian},
		seedCase{"ipv4 another host's MAC", to(other, query4(nil)), PassMartian},
		seedCase{"ipv6 another host's MAC", to(other, query6(nil)), PassMartian},
		seedCase{"vlan another host's MAC", to(other, query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} })), PassMartian},
		seedCase{"zero MAC", to([6]byte{}, query4(nil)), PassMartian},
		seedCase{"broadcast MAC", to([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, query4(nil)), PassNoSocket},
		seedCase{"multicast MAC", to([6]byte{0x33, 0x33, 0, 0, 0, 1}, query6(nil)), PassNoSocket},
		seedCase{"bridge's MAC", to(bridgeMAC, query4(nil)), PassNoSocket},
		seedCase{"loopback source to another port", query4(func(p *pkt.Frame) {
			p.SrcIP, p.DstPort = netip.MustParseAddr("127.0.0.1"), 54
		}), PassPort},
		seedCase{"own source to another address", query4(func(p *pkt.Frame) {
			p.SrcIP, p.DstIP = server4, netip.MustParseAddr("198.18.0.9")
		}), PassAddr},
		seedCase{"loopback source, not a query", query4(func(p *pkt.Frame) {
			p.SrcIP = netip.MustParseAddr("127.0.0.1")
			binary.BigEndian.PutUint16(p.Payload[2:], 0x8180)
		}), PassNotQuery},
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
		c.check(t, sc.frame)
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
		_, err := c.f.Program().Run(&ebpf.RunOptions{Data: make([]byte, n), Repeat: 1})
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
