// Package pkt builds Ethernet frames for tests: well-formed ones and, by
// editing the result, hostile ones.
//
// For tests only: no package's own code may import it. It must never import
// the frame codec (plugin/afxdp/frame) nor share code with it: it is written
// independently so that the two can check each other. The standard library
// alone.
//
// Where to start: pkt.go (Frame, its Build, UDPChecksum and Query), then
// htons.go (the byte order AF_PACKET sockets take).
package pkt
