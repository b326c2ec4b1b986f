package pkt

// Htons is v in network byte order as a little-endian host reads it: what
// AF_PACKET sockets take as their protocol (e.g. Htons(unix.ETH_P_ALL)).
func Htons(v uint16) uint16 { return v<<8 | v>>8 }
