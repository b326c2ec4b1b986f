package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/afxdp/afxdp/internal/fibtest"
)

// This file is a model of the XDP filter written in plain Go from the
// filter's behaviour spec, not from xdp_dns.c, so that the two can check each
// other (see fuzz_test.go). It only reads the frame; offsets below are
// relative to the start of the frame unless said otherwise.

// servedSet is what the model knows of the filter's maps: the served
// destination (address, port) pairs. A port is served when any address is
// served on it.
type servedSet struct {
	v4    map[[4]byte]map[uint16]bool
	v6    map[[16]byte]map[uint16]bool
	ports map[uint16]bool

	// What the kernel's input checks know: this host's MACs (the bridge's
	// is zero when there is none) and its local addresses.
	mac, master [6]byte
	local       map[netip.Addr]bool

	// What the kernel's FIB holds (the fixture's table: its routes,
	// those its addresses imply, its neighbours), whether loopback
	// forwards (the helper looks nothing up otherwise), and where the
	// kernel delivers frames, by VLAN tag (as SetDevices).
	fib     []fibtest.Route
	neighs  map[neighKey][6]byte
	fwd     bool
	devices map[uint16]modelDevice
}

type neighKey struct {
	dev  string
	addr netip.Addr
}

// modelDevice is a delivering device, known by its name in the table.
type modelDevice struct {
	name   string
	mac    [6]byte
	bridge bool
}

func newServedSet(aps ...netip.AddrPort) *servedSet {
	s := &servedSet{
		v4:      make(map[[4]byte]map[uint16]bool),
		v6:      make(map[[16]byte]map[uint16]bool),
		ports:   make(map[uint16]bool),
		local:   make(map[netip.Addr]bool),
		neighs:  make(map[neighKey][6]byte),
		devices: make(map[uint16]modelDevice),
		fwd:     true,
	}
	for _, ap := range aps {
		a, p := ap.Addr(), ap.Port()
		if a.Is4() {
			k := a.As4()
			if s.v4[k] == nil {
				s.v4[k] = make(map[uint16]bool)
			}
			s.v4[k][p] = true
		} else {
			k := a.As16()
			if s.v6[k] == nil {
				s.v6[k] = make(map[uint16]bool)
			}
			s.v6[k][p] = true
		}
		s.ports[p] = true
	}
	return s
}

// setTable makes the model's FIB the table's.
func (s *servedSet) setTable(t *fibtest.Table) {
	s.fib = t.FIB()
	clear(s.neighs)
	for _, n := range t.Neighs {
		s.neighs[neighKey{n.Dev, n.Addr}] = n.MAC
	}
}

func (s *servedSet) served4(addr []byte, port uint16) bool {
	return s.v4[[4]byte(addr)][port]
}

func (s *servedSet) served6(addr []byte, port uint16) bool {
	return s.v6[[16]byte(addr)][port]
}

// forUs: the kernel takes broadcast and multicast frames and those for its
// own MACs; others are PACKET_OTHERHOST (seen when promiscuous).
func (s *servedSet) forUs(frame []byte) bool {
	dst := [6]byte(frame[0:6])
	return dst[0]&1 == 1 || dst == s.mac || (s.master != [6]byte{} && dst == s.master)
}

// martian: sources the kernel refuses on input (zero network, loopback,
// multicast, class E and limited broadcast for IPv4; unspecified, loopback,
// multicast and v4-mapped for IPv6), and port 0. The same classes as
// destinations are martian too, whatever is served. (Local sources are
// told apart by the route back: see route.)
func (s *servedSet) martian(src, dst []byte, sport uint16) bool {
	a, _ := netip.AddrFromSlice(src)
	d, _ := netip.AddrFromSlice(dst)
	return sport == 0 || martianAddr(a) || martianAddr(d)
}

// outcome is what the filter makes of a frame: Redirect for a query it
// answers in place, with the reply's MACs (the next hop's and the
// delivering device's own) and the route's MTU (0: none known), or the
// counter of the reason it goes to the kernel or is dropped. ask is the
// neighbour request a no_neigh query makes (on the device named, for the
// next hop).
type outcome struct {
	c         Counter
	next, own [6]byte
	mtu       int
	askDev    string
	askAddr   netip.Addr
}

// lookup is the longest-prefix match in the FIB for dst: table local
// first, then main, as the kernel's default rules look; a throw route
// sends the lookup on to the next table (there is none after main).
func (s *servedSet) lookup(dst netip.Addr) (fibtest.Route, bool) {
	for _, table := range []string{"local", "main"} {
		best := -1
		for i, r := range s.fib {
			if r.Table == table && r.Prefix.Contains(dst) && (best < 0 || r.Prefix.Bits() > s.fib[best].Prefix.Bits()) {
				best = i
			}
		}
		if best >= 0 && s.fib[best].Kind != fibtest.Throw {
			return s.fib[best], true
		}
	}
	return fibtest.Route{}, false
}

func isLinkLocal6(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && b[0] == 0xfe && b[1]&0xc0 == 0x80
}

// route is what happens to a query from src to the served dst that
// passed every other check: the kernel's FIB is asked how the reply
// would leave (from loopback, as a local socket's reply), and it is
// answered in place only if it leaves by the device the frame was
// delivered to (through a bridge: only to the MAC the query came from).
func (s *servedSet) route(frame []byte, src, dst netip.Addr, vlan uint16) outcome {
	dev, ok := s.devices[vlan]
	if !ok {
		return outcome{c: PassElsewhere} // the kernel drops a tag without a device
	}
	if isLinkLocal6(src) { // on the link by definition; never looked up
		return outcome{c: Redirect, next: [6]byte(frame[6:12]), own: dev.mac}
	}
	notFwded := outcome{c: PassNotFwded}
	if s.local[src] {
		notFwded.c = PassMartian // the kernel refuses its own addresses as sources
	}
	if dst.Is6() && (isLinkLocal6(dst) || dst.IsMulticast() || dst.IsLoopback()) {
		return notFwded // the helper never forwards from or to these
	}
	if !s.fwd {
		return outcome{c: PassFwdDisabled}
	}
	r, ok := s.lookup(src)
	if !ok {
		return notFwded
	}
	switch r.Kind {
	case fibtest.Blackhole, fibtest.Unreachable, fibtest.Prohibit:
		return outcome{c: DropUnreachable}
	case fibtest.Unicast:
	default:
		return notFwded // local, broadcast
	}
	hop := src
	if r.Via.IsValid() {
		hop = r.Via
	}
	mac, known := s.neighs[neighKey{r.Dev, hop}]
	switch {
	case r.Dev != dev.name:
		return outcome{c: PassElsewhere}
	case !known:
		return outcome{c: PassNoNeigh, askDev: r.Dev, askAddr: hop}
	case dev.bridge && mac != [6]byte(frame[6:12]):
		return outcome{c: PassElsewhere} // the bridge may send it out of another port
	}
	mtu := r.MTU
	if mtu == 0 {
		mtu = fibtest.LinkMTU
	}
	return outcome{c: Redirect, next: mac, own: dev.mac, mtu: mtu}
}

// reply is the frame the filter hands its socket for a query it answers in
// place: the Ethernet addresses crosswise, so that the datapath's swap
// sends the reply from the device's own MAC to the route's next hop.
func (s *servedSet) reply(frame []byte) []byte {
	o := s.classify(frame)
	out := append([]byte(nil), frame...)
	copy(out[0:6], o.own[:])
	copy(out[6:12], o.next[:])
	return out
}

func martianAddr(a netip.Addr) bool {
	if a.Is4() {
		first := a.As4()[0]
		return first == 0 || first == 127 || first >= 224
	}
	return a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.Is4In6()
}

// model is the counter the filter must bump for frame, as seen in a
// BPF_PROG_TEST_RUN: the XSKMAP is empty there, so a frame that passes every
// check is counted as no_socket instead of redirect. The verdict is
// XDP_DROP for the drops (Counter.Dropped), XDP_PASS for every other
// frame in that setting.
func model(frame []byte, s *servedSet) Counter {
	if c := modelClassify(frame, s); c != Redirect {
		return c
	}
	return PassNoSocket
}

// modelVerdict is the verdict of a test run without a socket for a frame
// counted c.
func modelVerdict(c Counter) uint32 {
	if c.Dropped() {
		return xdpDrop
	}
	return xdpPass
}

// modelClassify returns Redirect for a frame the filter should hand to an
// AF_XDP socket, or the reason it should go to the kernel.
func modelClassify(frame []byte, s *servedSet) Counter { return s.classify(frame).c }

// classify is modelClassify with the reply's MACs and MTU.
func (s *servedSet) classify(frame []byte) outcome {
	const (
		etherIPv4 = 0x0800
		etherIPv6 = 0x86dd
		tag8021Q  = 0x8100
		tag8021AD = 0x88a8
	)
	if len(frame) < 14 {
		return outcome{c: PassMalformed}
	}
	etherType := binary.BigEndian.Uint16(frame[12:14])
	l3, vlan := 14, uint16(0)
	if etherType == tag8021Q || etherType == tag8021AD {
		// One tag: TCI, then the inner EtherType. A second tag is not
		// looked into: its TPID is simply not IPv4 or IPv6. The VID
		// (and which kind of tag) picks the device the kernel delivers
		// to, which the reply's route must leave by.
		if len(frame) < 18 {
			return outcome{c: PassMalformed}
		}
		vlan = binary.BigEndian.Uint16(frame[14:16]) & 0x0fff
		if etherType == tag8021AD {
			vlan |= VLAN8021AD
		}
		etherType = binary.BigEndian.Uint16(frame[16:18])
		l3 = 18
	}
	switch etherType {
	case etherIPv4:
		return modelIPv4(frame, l3, vlan, s)
	case etherIPv6:
		return modelIPv6(frame, l3, vlan, s)
	default:
		return outcome{c: PassNotIP}
	}
}

func modelIPv4(frame []byte, l3 int, vlan uint16, s *servedSet) outcome {
	ip := frame[l3:]
	if len(ip) < 20 {
		return outcome{c: PassMalformed}
	}
	version, ihl := ip[0]>>4, int(ip[0]&0x0f)
	if version != 4 || ihl < 5 {
		return outcome{c: PassMalformed}
	}
	hdrLen := ihl * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < hdrLen || total > len(ip) {
		return outcome{c: PassMalformed}
	}
	if ip[9] != 17 {
		return outcome{c: PassNotUDP}
	}
	flagsFrag := binary.BigEndian.Uint16(ip[6:8])
	const moreFragments, offsetMask = 0x2000, 0x1fff
	if flagsFrag&moreFragments != 0 || flagsFrag&offsetMask != 0 {
		return outcome{c: PassFragment}
	}
	c, sport, port := modelUDP(frame, l3+hdrLen, l3+total, s)
	if c != Redirect {
		return outcome{c: c}
	}
	if !s.served4(ip[16:20], port) {
		return outcome{c: PassAddr}
	}
	if s.martian(ip[12:16], ip[16:20], sport) || !s.forUs(frame) {
		return outcome{c: PassMartian}
	}
	return s.route(frame, netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])), vlan)
}

// ipv6Ext are the next-header values of IPv6 extension headers other than
// the fragment header (44), which is counted as a fragment.
var ipv6Ext = map[byte]bool{0: true, 43: true, 50: true, 51: true, 60: true, 135: true, 139: true, 140: true, 253: true, 254: true}

func modelIPv6(frame []byte, l3 int, vlan uint16, s *servedSet) outcome {
	ip := frame[l3:]
	if len(ip) < 40 {
		return outcome{c: PassMalformed}
	}
	if ip[0]>>4 != 6 {
		return outcome{c: PassMalformed}
	}
	payloadLen := int(binary.BigEndian.Uint16(ip[4:6]))
	if 40+payloadLen > len(ip) {
		return outcome{c: PassMalformed}
	}
	next := ip[6]
	switch {
	case next == 44:
		return outcome{c: PassFragment}
	case ipv6Ext[next]:
		return outcome{c: PassIPExt}
	case next != 17:
		return outcome{c: PassNotUDP}
	}
	c, sport, port := modelUDP(frame, l3+40, l3+40+payloadLen, s)
	if c != Redirect {
		return outcome{c: c}
	}
	if !s.served6(ip[24:40], port) {
		return outcome{c: PassAddr}
	}
	if s.martian(ip[8:24], ip[24:40], sport) || !s.forUs(frame) {
		return outcome{c: PassMartian}
	}
	return s.route(frame, netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40])), vlan)
}

// modelUDP checks the UDP header at frame[start:] and the DNS header behind
// it; ipEnd is where the IP header says the datagram ends (the frame may be
// longer). It returns Redirect and the source and destination ports when the
// datagram is a plain query to a served port; the address is the caller's to
// check.
func modelUDP(frame []byte, start, ipEnd int, s *servedSet) (Counter, uint16, uint16) {
	if start+8 > len(frame) {
		return PassMalformed, 0, 0
	}
	udp := frame[start:]
	sport := binary.BigEndian.Uint16(udp[0:2])
	dport := binary.BigEndian.Uint16(udp[2:4])
	udpLen := int(binary.BigEndian.Uint16(udp[4:6]))
	if udpLen < 8 || start+udpLen > ipEnd {
		return PassMalformed, 0, 0
	}
	if !s.ports[dport] {
		return PassPort, 0, 0
	}
	if start+8+12 > len(frame) || udpLen < 8+12 {
		return PassMalformed, 0, 0
	}
	dns := udp[8:20]
	flags := binary.BigEndian.Uint16(dns[2:4])
	qr, opcode := flags>>15, (flags>>11)&0x0f
	qd := binary.BigEndian.Uint16(dns[4:6])
	an := binary.BigEndian.Uint16(dns[6:8])
	ns := binary.BigEndian.Uint16(dns[8:10])
	ar := binary.BigEndian.Uint16(dns[10:12])
	if qr != 0 || opcode != 0 || qd != 1 || an > 1 || ns > 1 || ar > 2 {
		return PassNotQuery, 0, 0
	}
	return Redirect, sport, dport
}

// TestModelVerdicts checks the model against the hand-written expectations
// of TestFilterVerdicts (and a few more); it needs no privileges.
func TestModelVerdicts(t *testing.T) {
	s := testServed()
	for _, c := range seedCases() {
		s.fwd = !c.noFwd
		if got := model(c.frame, s); got != c.want {
			t.Errorf("%s: model counts %s, want %s", c.name, got, c.want)
		}
	}
}
