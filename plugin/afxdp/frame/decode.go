package frame

import (
	"encoding/binary"
	"net/netip"
)

// Decode parses frame and fills h; payload is the UDP payload, a sub-slice
// of frame (no copy). On error the contents of h are unspecified.
//
// It accepts Ethernet II with at most one 802.1Q or 802.1ad tag, IPv4 with
// or without options (options are skipped, not kept) and IPv6 whose next
// header is UDP. Bytes after the IP datagram are Ethernet padding and are
// ignored; the payload is cut to the UDP length.
//
// The IPv4 header checksum and the UDP checksum are verified as the kernel
// would: a frame with either wrong is ErrChecksum. Two forms besides a full checksum are accepted:
// zero on IPv4 (no checksum), and the pseudo-header sum alone, which is what
// a local sender's CHECKSUM_PARTIAL packet carries across veth.
func Decode(frame []byte, h *Header) (payload []byte, err error) {
	off, etherType, err := decodeEther(frame, h)
	if err != nil {
		return nil, err
	}
	var datagram []byte
	var pseudo uint64
	switch etherType {
	case typeIPv4:
		datagram, pseudo, err = decodeIPv4(frame[off:], h)
	case typeIPv6:
		datagram, pseudo, err = decodeIPv6(frame[off:], h)
	default:
		return nil, ErrNotIP
	}
	if err != nil {
		return nil, err
	}
	if payload, err = decodeUDP(datagram, h, pseudo); err != nil {
		return nil, err
	}
	// ip_rcv_core drops an IPv4 header whose checksum is wrong; the XDP
	// program saw the frame first and did not check. Last, so that what
	// is wrong with the structure is said first.
	if etherType == typeIPv4 && fold(sum(0, frame[off:off+int(frame[off]&0x0f)*4])) != 0xffff {
		return nil, ErrChecksum
	}
	return payload, nil
}

// decodeEther returns the offset of the network header and its EtherType.
func decodeEther(frame []byte, h *Header) (int, uint16, error) {
	if len(frame) < etherLen {
		return 0, 0, ErrShort
	}
	h.DstMAC = [6]byte(frame[0:6])
	h.SrcMAC = [6]byte(frame[6:12])
	h.VLANProto, h.VLANTCI = 0, 0
	etherType := binary.BigEndian.Uint16(frame[12:14])
	if !isVLAN(etherType) {
		return etherLen, etherType, nil
	}
	if len(frame) < etherLen+vlanLen {
		return 0, 0, ErrShort
	}
	h.VLANProto = etherType
	h.VLANTCI = binary.BigEndian.Uint16(frame[14:16])
	etherType = binary.BigEndian.Uint16(frame[16:18])
	if isVLAN(etherType) {
		// Stacked tags would have to be echoed in the reply, and Header
		// holds only one; such traffic is not ours to answer.
		return 0, 0, ErrNotIP
	}
	return etherLen + vlanLen, etherType, nil
}

func isVLAN(etherType uint16) bool {
	return etherType == typeVLAN || etherType == typeQinQ
}

// decodeIPv4 returns the IP payload, cut to the IP total length, and the
// sum of the addresses for the UDP pseudo-header.
func decodeIPv4(ip []byte, h *Header) ([]byte, uint64, error) {
	if len(ip) < ipv4Len {
		return nil, 0, ErrShort
	}
	if ip[0]>>4 != 4 {
		return nil, 0, ErrIPVersion
	}
	hdrLen := int(ip[0]&0x0f) * 4
	if hdrLen < ipv4Len || hdrLen > len(ip) {
		return nil, 0, ErrIPHeader
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total < hdrLen || total > len(ip) {
		return nil, 0, ErrLength
	}
	// MF or a fragment offset: only the first fragment carries the UDP
	// header and no fragment carries the whole message; reassembly is the
	// kernel's job, so the XDP program should not have redirected it.
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return nil, 0, ErrFragment
	}
	if ip[9] != protoUDP {
		return nil, 0, ErrNotUDP
	}
	h.TOS = ip[1]
	h.HopLimit = ip[8]
	h.Src = netip.AddrFrom4([4]byte(ip[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
	return ip[hdrLen:total], sum(0, ip[12:20]), nil
}

// decodeIPv6 returns the IP payload, cut to the IPv6 payload length, and the
// sum of the addresses for the UDP pseudo-header.
func decodeIPv6(ip []byte, h *Header) ([]byte, uint64, error) {
	if len(ip) < ipv6Len {
		return nil, 0, ErrShort
	}
	if ip[0]>>4 != 6 {
		return nil, 0, ErrIPVersion
	}
	if next := ip[6]; next != protoUDP {
		if isIPv6Ext(next) {
			return nil, 0, ErrIPv6Ext
		}
		return nil, 0, ErrNotUDP
	}
	end := ipv6Len + int(binary.BigEndian.Uint16(ip[4:6]))
	if end > len(ip) {
		return nil, 0, ErrLength
	}
	src := netip.AddrFrom16([16]byte(ip[8:24]))
	dst := netip.AddrFrom16([16]byte(ip[24:40]))
	if src.Is4In6() || dst.Is4In6() {
		return nil, 0, ErrV4Mapped
	}
	h.TOS = uint8(binary.BigEndian.Uint16(ip[0:2]) >> 4) // straddles bytes 0 and 1
	h.HopLimit = ip[7]
	h.Src, h.Dst = src, dst
	return ip[ipv6Len:end], sum(0, ip[8:40]), nil
}

// isIPv6Ext reports whether next is an IPv6 extension header type (IANA
// "IPv6 Extension Header Types"), so that an IPv6 packet which may still
// carry UDP further in is told apart from one that plainly does not.
func isIPv6Ext(next uint8) bool {
	switch next {
	case 0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254:
		return true
	}
	return false
}

// decodeUDP returns the UDP payload, cut to the UDP length, once its
// checksum holds.
func decodeUDP(datagram []byte, h *Header, addrs uint64) ([]byte, error) {
	if len(datagram) < udpLen {
		return nil, ErrShort
	}
	length := int(binary.BigEndian.Uint16(datagram[4:6]))
	if length < udpLen || length > len(datagram) {
		return nil, ErrLength
	}
	if !udpChecksumOK(datagram[:length], addrs+protoUDP+uint64(length), h.Src.Is4()) {
		return nil, ErrChecksum
	}
	h.SrcPort = binary.BigEndian.Uint16(datagram[0:2])
	h.DstPort = binary.BigEndian.Uint16(datagram[2:4])
	return datagram[udpLen:length], nil
}

// udpChecksumOK accepts a full checksum, no checksum on IPv4, and the
// pseudo-header sum alone (a CHECKSUM_PARTIAL packet from a local sender:
// Linux leaves the folded pseudo-header sum in the field for the device to
// finish, and veth passes it on unfinished).
func udpChecksumOK(udp []byte, pseudo uint64, v4 bool) bool {
	stored := binary.BigEndian.Uint16(udp[6:8])
	if stored == 0 {
		return v4
	}
	if fold(sum(pseudo, udp)) == 0xffff {
		return true
	}
	return stored == fold(pseudo)
}
