package pkt

import (
	"encoding/binary"
	"net/netip"
)

// Frame describes a frame to build. Zero values give sane defaults: an
// untagged IPv4 UDP datagram with TTL 64.
type Frame struct {
	Dst, Src  [6]byte
	VLANs     []uint16 // TPIDs of stacked tags, outermost first (VID 100 each)
	EtherType uint16   // overrides the L3 EtherType (e.g. 0x0806 for ARP)
	SrcIP     netip.Addr
	DstIP     netip.Addr
	Proto     uint8  // IPv4 protocol / IPv6 next header; 0 means UDP (17)
	IPOptions []byte // IPv4 options (padded to 4 bytes by the caller)
	FragOff   uint16 // IPv4 flags+offset field as on the wire (0x2000 = MF)
	SrcPort   uint16
	DstPort   uint16
	Payload   []byte
	Padding   int // Ethernet padding after the IP datagram
}

// Build renders the frame with correct lengths and checksums.
func (f Frame) Build() []byte {
	proto := f.Proto
	if proto == 0 {
		proto = 17
	}
	l4 := make([]byte, 8+len(f.Payload))
	binary.BigEndian.PutUint16(l4[0:], f.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], f.DstPort)
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	copy(l4[8:], f.Payload)

	if proto == 17 {
		binary.BigEndian.PutUint16(l4[6:], UDPChecksum(f.SrcIP, f.DstIP, l4))
	}
	var l3 []byte
	etherType := uint16(0x0800)
	if f.DstIP.Is6() {
		etherType = 0x86dd
		l3 = ipv6(f, proto, l4)
	} else {
		l3 = ipv4(f, proto, l4)
	}
	if f.EtherType != 0 {
		etherType = f.EtherType
	}

	out := append([]byte{}, f.Dst[:]...)
	out = append(out, f.Src[:]...)
	for _, tpid := range f.VLANs {
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = binary.BigEndian.AppendUint16(out, 100)
	}
	out = binary.BigEndian.AppendUint16(out, etherType)
	out = append(out, l3...)
	return append(out, make([]byte, f.Padding)...)
}

func ipv4(f Frame, proto uint8, l4 []byte) []byte {
	hl := 20 + len(f.IPOptions)
	h := make([]byte, hl, hl+len(l4))
	h[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(h[2:], uint16(hl+len(l4)))
	binary.BigEndian.PutUint16(h[6:], f.FragOff)
	h[8] = 64
	h[9] = proto
	s, d := f.SrcIP.As4(), f.DstIP.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	copy(h[20:], f.IPOptions)
	binary.BigEndian.PutUint16(h[10:], ^fold(sum(h)))
	return append(h, l4...)
}

func ipv6(f Frame, proto uint8, l4 []byte) []byte {
	h := make([]byte, 40, 40+len(l4))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
	h[6] = proto
	h[7] = 64
	s, d := f.SrcIP.As16(), f.DstIP.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, l4...)
}

// UDPChecksum is the RFC 768 checksum over the pseudo-header and the UDP
// datagram (with its checksum field zero); 0 is sent as 0xffff.
func UDPChecksum(src, dst netip.Addr, udp []byte) uint16 {
	var pseudo []byte
	pseudo = append(pseudo, src.AsSlice()...)
	pseudo = append(pseudo, dst.AsSlice()...)
	pseudo = append(pseudo, 0, 17)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(udp)))
	c := make([]byte, len(udp))
	copy(c, udp)
	c[6], c[7] = 0, 0
	s := ^fold(sum(pseudo) + sum(c))
	if s == 0 {
		s = 0xffff
	}
	return s
}

func sum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// Query returns the wire form of a DNS query header plus question for name
// (in presentation form, e.g. "example.org.") and qtype, with id 0x1234 and RD.
func Query(name string, qtype uint16) []byte {
	b := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	label := 0
	b = append(b, 0)
	if name == "." {
		name = ""
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			b[len(b)-1-label] = byte(label)
			label = 0
			b = append(b, 0)
			continue
		}
		b = append(b, name[i])
		label++
	}
	if label > 0 { // name without the final dot
		b[len(b)-1-label] = byte(label)
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, 1)
}
