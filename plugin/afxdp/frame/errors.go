package frame

import "errors"

// The errors are plain sentinels, returned unwrapped, so that rejecting a
// frame on the hot path costs no allocation; callers can count them by kind.
var (
	// ErrShort: the frame ends before the headers it claims (Ethernet, VLAN
	// tag, fixed IP header), or the IP datagram is too short for a UDP header.
	ErrShort = errors.New("frame: truncated headers")
	// ErrNotIP: the EtherType, after at most one VLAN tag, is neither IPv4
	// nor IPv6. A second stacked VLAN tag also lands here.
	ErrNotIP = errors.New("frame: not IPv4 or IPv6")
	// ErrNotUDP: the IP protocol / IPv6 upper-layer header is not UDP.
	ErrNotUDP = errors.New("frame: not UDP")
	// ErrIPVersion: the IP version nibble disagrees with the EtherType.
	ErrIPVersion = errors.New("frame: IP version does not match EtherType")
	// ErrIPHeader: the IPv4 IHL is below 5 or points beyond the frame.
	ErrIPHeader = errors.New("frame: bad IPv4 header length")
	// ErrFragment: an IPv4 fragment (MF set or nonzero offset).
	ErrFragment = errors.New("frame: IPv4 fragment")
	// ErrIPv6Ext: the IPv6 next header is an extension header (hop-by-hop,
	// routing, fragment, ...); extension headers are not parsed.
	ErrIPv6Ext = errors.New("frame: IPv6 extension header")
	// ErrV4Mapped: an IPv6 source or destination is IPv4-mapped
	// (::ffff:0:0/96). Such addresses must not appear on the wire and would
	// make the reply's address family ambiguous.
	ErrV4Mapped = errors.New("frame: IPv4-mapped address in IPv6 header")
	// ErrLength: an IP or UDP length field is inconsistent: the IP length
	// exceeds the frame or is smaller than the IP header, or the UDP length
	// is below 8 or exceeds the IP payload. Encode also returns it for a
	// negative payload length.
	ErrLength = errors.New("frame: inconsistent length field")
	// ErrChecksum: the IPv4 header checksum is wrong, or the UDP checksum
	// is (and is not the partial pseudo-header sum of a local sender), or
	// zero on IPv6. The kernel drops such a datagram; so does afxdp.
	ErrChecksum = errors.New("frame: bad UDP checksum")
	// ErrTooBig: Encode's buffer cannot hold headers and payload, or the
	// payload would push the UDP/IP length beyond 65535.
	ErrTooBig = errors.New("frame: datagram too big")
	// ErrFamily: Encode was given addresses that are not both valid IPv4 or
	// both valid (unmapped) IPv6.
	ErrFamily = errors.New("frame: addresses not of one family")
)
