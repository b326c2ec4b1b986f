// Package xsk is a small AF_XDP layer: one socket on one RX queue with its
// own UMEM and its fill, completion, RX and TX rings.
//
// # Layers
//
// It knows nothing of DNS, of BPF programs (the caller puts the socket in
// its XSKMAP through FD) or of CoreDNS, and imports no other package of
// this module: frames are bytes and descriptors. Only golang.org/x/sys
// and the standard library.
//
// # Concurrency
//
// The RX side (Receive, Refill, Wait) belongs to one goroutine, the TX
// side (NextTx, Send, Release, Flush) to one goroutine at a time (the
// caller serialises it); Stats, Interrupt and the accessors are safe
// anywhere. Close must come after both sides have stopped.
//
// # Where to start
//
// ring.go is the ring protocol shared with the kernel: producer and
// consumer indexes that run freely over uint32 and wrap at 2^32, cached
// copies refreshed only when a ring looks full or empty, and the pure
// index arithmetic that the unprivileged tests cover. Then rxtx.go (the
// batch operations on those rings: Receive, Refill, NextTx, Send, Flush),
// socket.go (Open, New, Bind, Close), umem.go (the frame memory and the
// ring mappings) and config.go (the sizes and their checks). unsafe.go is
// every place where memory is shared with the kernel: the file to read for
// memory safety. queues.go counts an interface's RX queues.
package xsk
