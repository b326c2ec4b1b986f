package xsk

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ring is the shared part of the four single-producer/single-consumer rings
// the kernel maps into our memory. The index words are read and written with
// atomics: Go's atomics are sequentially consistent, which gives the
// acquire/release ordering the kernel's side expects (a descriptor is written
// before the producer index that publishes it, and read after it).
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	mask     uint32
	size     uint32

	// Cached copies of the indices, refreshed only when the cached view says
	// the ring is full (producer side) or empty (consumer side).
	cachedProd uint32
	cachedCons uint32
}

// The index arithmetic, pure so that it can be tested without a socket.
// The kernel's producer and consumer indexes are free-running uint32
// counters: they only ever grow, and wrap from 2^32-1 to 0; an entry's
// place in the ring's array is its index masked by size-1 (the size is a
// power of two). The number of entries between a consumer index and a
// producer index is their difference in uint32 arithmetic, which stays
// right across the wrap because the two are never more than the ring's
// size (at most 2^16) apart. Each is a line, inlined where it is used: the
// hot path allocates nothing and calls nothing.

// ringUsed is how many entries lie between the consumer index cons and the
// producer index prod: published and not yet consumed.
func ringUsed(prod, cons uint32) uint32 { return prod - cons }

// ringFree is how many entries a producer at prod may still write into a
// ring of size entries whose consumer is at cons.
func ringFree(size, prod, cons uint32) uint32 { return size - ringUsed(prod, cons) }

// ringSlot is the place in the ring's array of the entry i after index idx,
// in a ring whose mask is its size less one.
func ringSlot(idx, i, mask uint32) uint32 { return (idx + i) & mask }

// batchLen is how many entries one batch moves: what there is (have), at
// most room.
func batchLen(have uint32, room int) uint32 { return min(have, uint32(room)) }

func newRing(mem []byte, off unix.XDPRingOffset, size uint32) ring {
	return ring{
		producer: wordAt(mem, off.Producer),
		consumer: wordAt(mem, off.Consumer),
		flags:    wordAt(mem, off.Flags),
		mask:     size - 1,
		size:     size,
	}
}

// needWakeup reports the kernel asking for a syscall to make progress
// (XDP_USE_NEED_WAKEUP).
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// free is how many entries a producer may write, at least n if possible.
func (r *ring) free(n uint32) uint32 {
	f := ringFree(r.size, r.cachedProd, r.cachedCons)
	if f >= n {
		return f
	}
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return ringFree(r.size, r.cachedProd, r.cachedCons)
}

// submit publishes n produced entries.
func (r *ring) submit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// avail is how many entries a consumer may read.
func (r *ring) avail() uint32 {
	a := ringUsed(r.cachedProd, r.cachedCons)
	if a > 0 {
		return a
	}
	r.cachedProd = atomic.LoadUint32(r.producer)
	return ringUsed(r.cachedProd, r.cachedCons)
}

// release gives n consumed entries back to the producer.
func (r *ring) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// pending is, for a producer ring, how many published entries the kernel has
// not consumed yet.
func (r *ring) pending() uint32 {
	return ringUsed(r.cachedProd, atomic.LoadUint32(r.consumer))
}

// addrRing is a fill or completion ring: UMEM addresses.
type addrRing struct {
	ring
	addrs []uint64
}

// descRing is an RX or TX ring: descriptors of frames in the UMEM.
type descRing struct {
	ring
	descs []unix.XDPDesc
}

func mapAddrRing(mem []byte, off unix.XDPRingOffset, size uint32) addrRing {
	return addrRing{
		ring:  newRing(mem, off, size),
		addrs: entriesAt[uint64](mem, off.Desc, size),
	}
}

func mapDescRing(mem []byte, off unix.XDPRingOffset, size uint32) descRing {
	return descRing{
		ring:  newRing(mem, off, size),
		descs: entriesAt[unix.XDPDesc](mem, off.Desc, size),
	}
}
