package frame

import "encoding/binary"

// sum adds b, read as big-endian 16-bit words with an odd final byte padded
// by a zero, to the one's-complement accumulator acc (RFC 1071).
//
// It adds 32-bit words into 64 bits and folds only at the end: 2^16 ≡ 1
// (mod 2^16-1), so a 32-bit word is congruent to the sum of its two halves,
// and no carry can be lost for any input shorter than 16 GiB. Pieces summed
// one after another must all have even length except the last.
func sum(acc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		acc += v>>32 + v&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces acc to 16 bits with end-around carry.
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// checksum is the Internet checksum of the data summed into acc.
func checksum(acc uint64) uint16 {
	return ^fold(acc)
}

// udpChecksum is the checksum to put in a UDP header. A computed zero is
// sent as 0xffff because zero on the wire means "no checksum" (RFC 768);
// both are the same value in one's complement.
func udpChecksum(acc uint64) uint16 {
	if c := checksum(acc); c != 0 {
		return c
	}
	return 0xffff
}
