package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// query is one question, packed once with ID 0; sum is the one's
// complement sum of its 16-bit words (as they sit in the UDP datagram,
// which starts at an even offset), so that the UDP checksum of a frame
// costs a handful of additions per send.
type query struct {
	wire []byte
	sum  uint32
}

// packQuery packs a recursive query for name and qtype, ID 0, with EDNS
// (1232 bytes) when edns is true.
func packQuery(name string, qtype uint16, edns bool) (query, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Id = 0
	if edns {
		m.SetEdns0(1232, false)
	}
	b, err := m.Pack()
	if err != nil {
		return query{}, fmt.Errorf("packing %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	return query{wire: b, sum: sum16(b)}, nil
}

// header is what every frame of one family shares: Ethernet, IP and UDP
// headers with the fixed fields set. Per frame, build writes the source
// address, source port, lengths, ID and checksums.
type header struct {
	tmpl  []byte // Ethernet + IP + UDP header
	v6    bool
	dst   netip.Addr
	port  uint16
	fixed uint32 // checksum sum of the destination address and the UDP protocol number
}

const (
	ethLen = 14
	ip4Len = 20
	ip6Len = 40
	udpLen = 8
)

func newHeader(src, dst net.HardwareAddr, server netip.Addr, port uint16) *header {
	h := &header{v6: server.Is6(), dst: server, port: port}
	ipLen := ip4Len
	if h.v6 {
		ipLen = ip6Len
	}
	t := make([]byte, ethLen+ipLen+udpLen)
	copy(t[0:6], dst)
	copy(t[6:12], src)
	ip := t[ethLen:]
	if h.v6 {
		binary.BigEndian.PutUint16(t[12:], 0x86dd)
		ip[0] = 0x60
		ip[6] = 17 // next header UDP
		ip[7] = 64 // hop limit
		d := server.As16()
		copy(ip[24:40], d[:])
	} else {
		binary.BigEndian.PutUint16(t[12:], 0x0800)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
		ip[8] = 64
		ip[9] = 17
		d := server.As4()
		copy(ip[16:20], d[:])
	}
	binary.BigEndian.PutUint16(t[ethLen+ipLen+2:], port)
	h.tmpl = t
	h.fixed = sum16(server.AsSlice()) + 17
	return h
}

// build writes the frame for q from src:sport with DNS ID id into buf and
// returns its length (0 if buf is too small).
func (h *header) build(buf []byte, q *query, src *[16]byte, sport, id uint16) int {
	n := len(h.tmpl) + len(q.wire)
	if n > len(buf) {
		return 0
	}
	copy(buf, h.tmpl)
	l4 := uint16(udpLen + len(q.wire))
	var s uint32
	var udp []byte
	if h.v6 {
		ip := buf[ethLen : ethLen+ip6Len]
		binary.BigEndian.PutUint16(ip[4:], l4)
		copy(ip[8:24], src[:])
		s = sum16(src[:])
		udp = buf[ethLen+ip6Len:]
	} else {
		ip := buf[ethLen : ethLen+ip4Len]
		binary.BigEndian.PutUint16(ip[2:], ip4Len+l4)
		copy(ip[12:16], src[:4])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(ip)))
		s = sum16(src[:4])
		udp = buf[ethLen+ip4Len:]
	}
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[4:], l4)
	copy(udp[udpLen:], q.wire)
	binary.BigEndian.PutUint16(udp[udpLen:], id)
	// Pseudo-header (source, destination, protocol, length) plus the UDP
	// header (ports, length) plus the payload with its ID.
	s += h.fixed + uint32(l4) + uint32(sport) + uint32(h.port) + uint32(l4) + q.sum + uint32(id)
	c := ^fold(s)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return n
}

// reply is what the generator reads from a frame the XDP program
// redirected: the client's address and port, the DNS ID and RCODE.
type reply struct {
	addr  [16]byte // IPv4 in the first 4 bytes
	port  uint16
	id    uint16
	rcode uint8
}

// parseReply reads a DNS response from the server port; ok is false for
// anything else (not UDP from port, not a response, too short).
func parseReply(f []byte, port uint16) (r reply, ok bool) {
	if len(f) < ethLen+ip4Len+udpLen+12 {
		return r, false
	}
	var udp []byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		ip := f[ethLen:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[0]>>4 != 4 || ihl < ip4Len || ip[9] != 17 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 || len(ip) < ihl+udpLen+12 {
			return r, false
		}
		copy(r.addr[:4], ip[16:20])
		udp = ip[ihl:]
	case 0x86dd:
		if len(f) < ethLen+ip6Len+udpLen+12 {
			return r, false
		}
		ip := f[ethLen:]
		if ip[0]>>4 != 6 || ip[6] != 17 {
			return r, false
		}
		copy(r.addr[:], ip[24:40])
		udp = ip[ip6Len:]
	default:
		return r, false
	}
	if binary.BigEndian.Uint16(udp[0:]) != port {
		return r, false
	}
	r.port = binary.BigEndian.Uint16(udp[2:])
	d := udp[udpLen:]
	if d[2]&0x80 == 0 { // QR: a response
		return r, false
	}
	r.id = binary.BigEndian.Uint16(d[0:])
	r.rcode = d[3] & 0x0f
	return r, true
}

func sum16(b []byte) uint32 {
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
