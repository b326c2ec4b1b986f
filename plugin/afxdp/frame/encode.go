package frame

import "encoding/binary"

// Largest payloads whose UDP datagram still fits the 16-bit length fields:
// the IPv4 total length counts the IP header, the IPv6 payload length and
// the UDP length do not.
const (
	maxPayload4 = maxIPv4Len - ipv4Len - udpLen
	maxPayload6 = maxUDPLen - udpLen
)

// Encode writes h's headers into frame[:h.Len()] for a UDP payload of
// payloadLen bytes that the caller has ALREADY placed at
// frame[h.Len():h.Len()+payloadLen]; it sets every length field, the IPv4
// header checksum (IPv4 ID 0, DF set, no fragment), and the full UDP
// checksum (computed over pseudo-header, UDP header and payload; a computed
// 0 is sent as 0xffff). Returns the frame length.
//
// The IPv6 flow label is written as 0. VLANProto is written as given.
// Encode does not pad short frames to the Ethernet minimum of 60 bytes.
func Encode(frame []byte, h *Header, payloadLen int) (int, error) {
	v4, err := family(h)
	if err != nil {
		return 0, err
	}
	if payloadLen < 0 {
		return 0, ErrLength
	}
	if (v4 && payloadLen > maxPayload4) || payloadLen > maxPayload6 {
		return 0, ErrTooBig
	}
	n := h.Len() + payloadLen
	if len(frame) < n {
		return 0, ErrTooBig
	}
	frame = frame[:n]
	ipOff := encodeEther(frame, h, v4)
	udpOff := ipOff + h.l3Len()
	udpLength := udpLen + payloadLen
	var pseudo uint64
	if v4 {
		pseudo = encodeIPv4(frame[ipOff:udpOff], h, udpLength)
	} else {
		pseudo = encodeIPv6(frame[ipOff:udpOff], h, udpLength)
	}
	encodeUDP(frame[udpOff:], h, pseudo)
	return n, nil
}

// family reports whether h is IPv4 (true) or IPv6 (false). Mapped addresses
// are refused: on the wire they are IPv4 in disguise and Linux drops them.
func family(h *Header) (v4 bool, err error) {
	switch {
	case h.Src.Is4() && h.Dst.Is4():
		return true, nil
	case h.Src.Is6() && h.Dst.Is6() && !h.Src.Is4In6() && !h.Dst.Is4In6():
		return false, nil
	}
	return false, ErrFamily
}

// encodeEther writes the Ethernet header and returns its length.
func encodeEther(frame []byte, h *Header, v4 bool) int {
	copy(frame[0:6], h.DstMAC[:])
	copy(frame[6:12], h.SrcMAC[:])
	off := 12
	if h.VLANProto != 0 {
		binary.BigEndian.PutUint16(frame[12:14], h.VLANProto)
		binary.BigEndian.PutUint16(frame[14:16], h.VLANTCI)
		off = 16
	}
	etherType := uint16(typeIPv6)
	if v4 {
		etherType = typeIPv4
	}
	binary.BigEndian.PutUint16(frame[off:off+2], etherType)
	return off + 2
}

// encodeIPv4 writes a 20-byte IPv4 header and returns the one's-complement
// sum of the UDP pseudo-header.
func encodeIPv4(ip []byte, h *Header, udpLength int) uint64 {
	ip = ip[:ipv4Len]
	ip[0] = 4<<4 | ipv4Len/4
	ip[1] = h.TOS
	binary.BigEndian.PutUint16(ip[2:4], uint16(ipv4Len+udpLength))
	// ID 0 with DF: an atomic datagram needs no ID (RFC 6864); Linux sends
	// the same from unconnected UDP sockets.
	binary.BigEndian.PutUint32(ip[4:8], 0x4000)
	ip[8] = h.HopLimit
	ip[9] = protoUDP
	ip[10], ip[11] = 0, 0
	src, dst := h.Src.As4(), h.Dst.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:12], checksum(sum(0, ip)))
	return sum(protoUDP+uint64(udpLength), ip[12:20])
}

// encodeIPv6 writes a 40-byte IPv6 header and returns the one's-complement
// sum of the UDP pseudo-header.
func encodeIPv6(ip []byte, h *Header, udpLength int) uint64 {
	ip = ip[:ipv6Len]
	binary.BigEndian.PutUint32(ip[0:4], 6<<28|uint32(h.TOS)<<20)
	binary.BigEndian.PutUint16(ip[4:6], uint16(udpLength))
	ip[6] = protoUDP
	ip[7] = h.HopLimit
	src, dst := h.Src.As16(), h.Dst.As16()
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])
	return sum(protoUDP+uint64(udpLength), ip[8:40])
}

// encodeUDP writes the UDP header at the start of udp, which runs to the end
// of the payload, and checksums it on top of the pseudo-header sum.
func encodeUDP(udp []byte, h *Header, pseudo uint64) {
	binary.BigEndian.PutUint16(udp[0:2], h.SrcPort)
	binary.BigEndian.PutUint16(udp[2:4], h.DstPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
	udp[6], udp[7] = 0, 0
	binary.BigEndian.PutUint16(udp[6:8], udpChecksum(sum(pseudo, udp)))
}
