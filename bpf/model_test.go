package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"
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

	// What user space found of each source's route (by source and VLAN
	// tag, as RouteRequest.VLAN). A source it has no verdict for goes to
	// the kernel while it is asked about; asked collects them.
	routes map[routeKey]Route
	asked  map[routeKey]bool
}

type routeKey struct {
	src  netip.Addr
	vlan uint16
}

func newServedSet(aps ...netip.AddrPort) *servedSet {
	s := &servedSet{
		v4:     make(map[[4]byte]map[uint16]bool),
		v6:     make(map[[16]byte]map[uint16]bool),
		ports:  make(map[uint16]bool),
		local:  make(map[netip.Addr]bool),
		routes: make(map[routeKey]Route),
		asked:  make(map[routeKey]bool),
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
// multicast and v4-mapped for IPv6), any local address, and port 0.
// The same classes as destinations are martian too (the only one left is
// local), whatever is served.
func (s *servedSet) martian(src, dst []byte, sport uint16) bool {
	a, _ := netip.AddrFromSlice(src)
	d, _ := netip.AddrFromSlice(dst)
	return sport == 0 || s.local[a] || martianAddr(a) || martianAddr(d)
}

// route is what happens to a query from src that passed every other check:
// answered in place (Redirect) on an OK verdict, else passed for the
// verdict's reason, or pending while user space is asked.
func (s *servedSet) route(src []byte, vlan uint16) Counter {
	a, _ := netip.AddrFromSlice(src)
	k := routeKey{a, vlan}
	r, ok := s.routes[k]
	if !ok {
		s.asked[k] = true
		return PassRoutePending
	}
	switch r.Verdict {
	case RouteOK, RouteOKVia:
		return Redirect
	case RouteReject:
		return PassRPFilter
	}
	return PassElsewhere
}

// reply is the frame the filter hands its socket for a query it answers in
// place: the Ethernet addresses crosswise, so that the datapath's swap
// sends the reply from the device's own MAC to the route's next hop.
func (s *servedSet) reply(frame []byte) []byte {
	src, vlan := frameSource(frame)
	r := s.routes[routeKey{src, vlan}]
	out := append([]byte(nil), frame...)
	copy(out[0:6], r.Own[:])
	copy(out[6:12], r.NextHop[:])
	return out
}

// frameSource is the route key of a well-formed query frame.
func frameSource(frame []byte) (netip.Addr, uint16) {
	l3, vlan := 14, uint16(0)
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x8100:
		l3, vlan = 18, binary.BigEndian.Uint16(frame[14:16])&0x0fff
	case 0x88a8:
		l3, vlan = 18, binary.BigEndian.Uint16(frame[14:16])&0x0fff|VLAN8021AD
	}
	if frame[l3]>>4 == 4 {
		return netip.AddrFrom4([4]byte(frame[l3+12 : l3+16])), vlan
	}
	return netip.AddrFrom16([16]byte(frame[l3+8 : l3+24])), vlan
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
// check is counted as no_socket instead of redirect. The verdict is XDP_PASS
// for every frame in that setting.
func model(frame []byte, s *servedSet) Counter {
	if c := modelClassify(frame, s); c != Redirect {
		return c
	}
	return PassNoSocket
}

// modelClassify returns Redirect for a frame the filter should hand to an
// AF_XDP socket, or the reason it should go to the kernel.
func modelClassify(frame []byte, s *servedSet) Counter {
	const (
		etherIPv4 = 0x0800
		etherIPv6 = 0x86dd
		tag8021Q  = 0x8100
		tag8021AD = 0x88a8
	)
	if len(frame) < 14 {
		return PassMalformed
	}
	etherType := binary.BigEndian.Uint16(frame[12:14])
	l3, vlan := 14, uint16(0)
	if etherType == tag8021Q || etherType == tag8021AD {
		// One tag: TCI, then the inner EtherType. A second tag is not
		// looked into: its TPID is simply not IPv4 or IPv6. The VID
		// (and which kind of tag) picks the device the kernel delivers
		// to, whose route verdict applies.
		if len(frame) < 18 {
			return PassMalformed
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
		return PassNotIP
	}
}

func modelIPv4(frame []byte, l3 int, vlan uint16, s *servedSet) Counter {
	ip := frame[l3:]
	if len(ip) < 20 {
		return PassMalformed
	}
	version, ihl := ip[0]>>4, int(ip[0]&0x0f)
	if version != 4 || ihl < 5 {
		return PassMalformed
	}
	hdrLen := ihl * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < hdrLen || total > len(ip) {
		return PassMalformed
	}
	if ip[9] != 17 {
		return PassNotUDP
	}
	flagsFrag := binary.BigEndian.Uint16(ip[6:8])
	const moreFragments, offsetMask = 0x2000, 0x1fff
	if flagsFrag&moreFragments != 0 || flagsFrag&offsetMask != 0 {
		return PassFragment
	}
	c, sport, port := modelUDP(frame, l3+hdrLen, l3+total, s)
	if c != Redirect {
		return c
	}
	if !s.served4(ip[16:20], port) {
		return PassAddr
	}
	if s.martian(ip[12:16], ip[16:20], sport) || !s.forUs(frame) {
		return PassMartian
	}
	return s.route(ip[12:16], vlan)
}

// ipv6Ext are the next-header values of IPv6 extension headers other than
// the fragment header (44), which is counted as a fragment.
var ipv6Ext = map[byte]bool{0: true, 43: true, 50: true, 51: true, 60: true, 135: true, 139: true, 140: true, 253: true, 254: true}

func modelIPv6(frame []byte, l3 int, vlan uint16, s *servedSet) Counter {
	ip := frame[l3:]
	if len(ip) < 40 {
		return PassMalformed
	}
	if ip[0]>>4 != 6 {
		return PassMalformed
	}
	payloadLen := int(binary.BigEndian.Uint16(ip[4:6]))
	if 40+payloadLen > len(ip) {
		return PassMalformed
	}
	next := ip[6]
	switch {
	case next == 44:
		return PassFragment
	case ipv6Ext[next]:
		return PassIPExt
	case next != 17:
		return PassNotUDP
	}
	c, sport, port := modelUDP(frame, l3+40, l3+40+payloadLen, s)
	if c != Redirect {
		return c
	}
	if !s.served6(ip[24:40], port) {
		return PassAddr
	}
	if s.martian(ip[8:24], ip[24:40], sport) || !s.forUs(frame) {
		return PassMartian
	}
	return s.route(ip[8:24], vlan)
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
		if got := model(c.frame, s); got != c.want {
			t.Errorf("%s: model counts %s, want %s", c.name, got, c.want)
		}
	}
}
