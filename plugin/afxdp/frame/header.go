package frame

import "net/netip"

// Wire constants shared by Decode and Encode.
const (
	etherLen  = 14
	vlanLen   = 4
	ipv4Len   = 20
	ipv6Len   = 40
	udpLen    = 8
	protoUDP  = 17
	replyHops = 64

	typeIPv4   = 0x0800
	typeIPv6   = 0x86dd
	typeVLAN   = 0x8100 // 802.1Q
	typeQinQ   = 0x88a8 // 802.1ad
	maxIPv4Len = 0xffff
	maxUDPLen  = 0xffff
)

// Header is the addressing of one UDP datagram in an Ethernet frame.
type Header struct {
	DstMAC, SrcMAC [6]byte
	// VLANProto is 0 when untagged, else the outer TPID as on the wire
	// (0x8100 or 0x88a8).
	VLANProto uint16
	// VLANTCI is the tag control information (PCP/DEI/VID) when tagged.
	VLANTCI uint16
	// Src and Dst are both IPv4 (Is4) or both IPv6; never 4-in-6 mapped.
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	TOS              uint8 // IPv4 TOS / IPv6 traffic class
	HopLimit         uint8 // IPv4 TTL / IPv6 hop limit
}

// Reply returns the header of a reply to h: MACs, addresses and ports
// swapped, the same VLAN tag, TOS 0, HopLimit 64.
//
// TOS is cleared rather than reflected because ECN bits must not be echoed
// and a query's DSCP says nothing about how the answer should be treated.
func (h *Header) Reply() Header {
	return Header{
		DstMAC:    h.SrcMAC,
		SrcMAC:    h.DstMAC,
		VLANProto: h.VLANProto,
		VLANTCI:   h.VLANTCI,
		Src:       h.Dst,
		Dst:       h.Src,
		SrcPort:   h.DstPort,
		DstPort:   h.SrcPort,
		HopLimit:  replyHops,
	}
}

// Len is the number of header bytes Encode writes before the payload (14 or
// 18 for Ethernet/VLAN, +20 for IPv4 or +40 for IPv6, +8 for UDP). Encode
// never writes IPv4 options or IPv6 extension headers. A header whose Src is
// not IPv4 is sized as IPv6; Encode rejects it if it is not valid IPv6 either.
func (h *Header) Len() int {
	return h.LinkLen() + h.l3Len() + udpLen
}

// LinkLen is the Ethernet header's part of Len, 14 or 18 with a VLAN tag:
// the part an MTU does not count.
func (h *Header) LinkLen() int {
	if h.VLANProto != 0 {
		return etherLen + vlanLen
	}
	return etherLen
}

func (h *Header) l3Len() int {
	if h.Src.Is4() {
		return ipv4Len
	}
	return ipv6Len
}
