// Package frame parses and builds the Ethernet, VLAN, IPv4/IPv6 and UDP
// headers around a DNS message in an AF_XDP frame. Decode and Encode
// allocate nothing.
//
// # Layers
//
// It knows nothing of rings, sockets, BPF or DNS: a frame is a byte slice
// in, a Header and the UDP payload out, and back. It uses the standard
// library alone (internal/layers holds it to that); tests build their
// frames with internal/pkt, written independently so that the two check
// each other.
//
// # Where to start
//
// header.go (Header: the addressing of one datagram, and Reply, which
// swaps it for the answer), then decode.go (Decode: every length checked,
// the UDP checksum verified as the kernel would), encode.go (Encode: the
// reply's lengths and checksums), checksum.go, and errors.go (the sentinel
// errors that say why a frame was refused, returned unwrapped so that a
// refusal allocates nothing).
package frame
