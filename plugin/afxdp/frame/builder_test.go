package frame

import (
	"encoding/binary"
	"net/netip"
)

// testFrame describes a query frame for the test builder. The builder
// appends field after field, unlike Encode which writes at fixed offsets,
// and checksums with refChecksum, so the two do not share mistakes.
type testFrame struct {
	dstMAC, srcMAC [6]byte
	tags           [][2]uint16 // {TPID, TCI}, outermost first
	src, dst       netip.Addr
	sport, dport   uint16
	tos, ttl       uint8
	flowLabel      uint32 // IPv6 only
	ipID           uint16 // IPv4 only
	fragField      uint16 // IPv4 flags and fragment offset
	options        []byte // IPv4 options, a multiple of 4 bytes
	payload        []byte
	padding        int // bytes of Ethernet padding after the IP datagram
}

func (f testFrame) bytes() []byte {
	var b []byte
	b = append(b, f.dstMAC[:]...)
	b = append(b, f.srcMAC[:]...)
	for _, tag := range f.tags {
		b = binary.BigEndian.AppendUint16(b, tag[0])
		b = binary.BigEndian.AppendUint16(b, tag[1])
	}
	udp := f.udpSegment()
	if f.src.Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		b = append(b, f.ipv4Header(len(udp))...)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		b = append(b, f.ipv6Header(len(udp))...)
	}
	b = append(b, udp...)
	return append(b, make([]byte, f.padding)...)
}

func (f testFrame) udpSegment() []byte {
	var u []byte
	u = binary.BigEndian.AppendUint16(u, f.sport)
	u = binary.BigEndian.AppendUint16(u, f.dport)
	u = binary.BigEndian.AppendUint16(u, uint16(8+len(f.payload)))
	u = binary.BigEndian.AppendUint16(u, 0)
	u = append(u, f.payload...)
	c := refChecksum(refPseudo(f.src, f.dst, len(u)), u)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return u
}

func (f testFrame) ipv4Header(udpLength int) []byte {
	hl := 20 + len(f.options)
	h := []byte{byte(0x40 | hl/4), f.tos}
	h = binary.BigEndian.AppendUint16(h, uint16(hl+udpLength))
	h = binary.BigEndian.AppendUint16(h, f.ipID)
	h = binary.BigEndian.AppendUint16(h, f.fragField)
	h = append(h, f.ttl, 17, 0, 0)
	h = append(h, f.src.AsSlice()...)
	h = append(h, f.dst.AsSlice()...)
	h = append(h, f.options...)
	binary.BigEndian.PutUint16(h[10:], refChecksum(h))
	return h
}

func (f testFrame) ipv6Header(udpLength int) []byte {
	var h []byte
	h = binary.BigEndian.AppendUint32(h, 6<<28|uint32(f.tos)<<20|f.flowLabel&0xfffff)
	h = binary.BigEndian.AppendUint16(h, uint16(udpLength))
	h = append(h, 17, f.ttl)
	h = append(h, f.src.AsSlice()...)
	return append(h, f.dst.AsSlice()...)
}

// header is what Decode should report for f.
func (f testFrame) header() Header {
	h := Header{
		DstMAC: f.dstMAC, SrcMAC: f.srcMAC,
		Src: f.src, Dst: f.dst,
		SrcPort: f.sport, DstPort: f.dport,
		TOS: f.tos, HopLimit: f.ttl,
	}
	if len(f.tags) > 0 {
		h.VLANProto, h.VLANTCI = f.tags[0][0], f.tags[0][1]
	}
	return h
}

// refSum is a deliberately naive RFC 1071 sum: the parts are concatenated,
// read as 16-bit big-endian words, and the carry is wrapped after every add.
func refSum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint32
	for i := 0; i < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
		if s > 0xffff {
			s -= 0xffff
		}
	}
	return uint16(s)
}

func refChecksum(parts ...[]byte) uint16 { return ^refSum(parts...) }

// refPseudo is the UDP pseudo-header (RFC 768, RFC 8200 section 8.1).
func refPseudo(src, dst netip.Addr, udpLength int) []byte {
	p := append(src.AsSlice(), dst.AsSlice()...)
	if src.Is4() {
		p = append(p, 0, 17)
		return binary.BigEndian.AppendUint16(p, uint16(udpLength))
	}
	p = binary.BigEndian.AppendUint32(p, uint32(udpLength))
	return append(p, 0, 0, 0, 17)
}

// dnsQuery is a 56-byte DNS query for "www.example.com" A with EDNS and a
// cookie, about the size of a typical query payload.
var dnsQuery = []byte{
	0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	0x00, 0x01, 0x00, 0x01,
	0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c,
	0x00, 0x0a, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67,
}

var (
	clientMAC = [6]byte{0x02, 0xc1, 0x1e, 0x00, 0x00, 0x01}
	serverMAC = [6]byte{0x02, 0x5e, 0x2f, 0x00, 0x00, 0x35}
)

// testFrames are well-formed queries, one per supported encapsulation.
func testFrames() map[string]testFrame {
	v4 := testFrame{
		dstMAC: serverMAC, srcMAC: clientMAC,
		src: netip.MustParseAddr("192.0.2.10"), dst: netip.MustParseAddr("198.51.100.53"),
		sport: 40000, dport: 53, tos: 0x28, ttl: 61, ipID: 0xbeef,
		payload: dnsQuery,
	}
	v6 := testFrame{
		dstMAC: serverMAC, srcMAC: clientMAC,
		src: netip.MustParseAddr("2001:db8:1::10"), dst: netip.MustParseAddr("2001:db8:53::53"),
		sport: 40001, dport: 53, tos: 0xb8, ttl: 57, flowLabel: 0xabcde,
		payload: dnsQuery,
	}
	withOpts := v4
	// Router Alert (RFC 2113) then NOP padding and End of Options: 8 bytes.
	withOpts.options = []byte{0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00}
	dot1q := v4
	dot1q.tags = [][2]uint16{{0x8100, 0xa07b}} // PCP 5, VID 123
	dot1ad := v6
	dot1ad.tags = [][2]uint16{{0x88a8, 0x1fff}} // DEI set, VID 4095
	padded := v4
	padded.payload = dnsQuery[:12] // header-only message: 54 bytes, pad to 60
	padded.padding = 6
	empty := v6
	empty.payload = nil
	oddDF := v4
	oddDF.payload = dnsQuery[:33] // odd length exercises the trailing byte
	oddDF.fragField = 0x4000
	return map[string]testFrame{
		"ipv4": v4, "ipv4-options": withOpts, "ipv6": v6,
		"802.1q-ipv4": dot1q, "802.1ad-ipv6": dot1ad,
		"ipv4-padded": padded, "ipv6-empty-payload": empty, "ipv4-df-odd": oddDF,
	}
}
