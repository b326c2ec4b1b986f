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
	f := r.size - (r.cachedProd - r.cachedCons)
	if f >= n {
		return f
	}
	r.cachedCons = atomic.LoadUint32(r.consumer)
	return r.size - (r.cachedProd - r.cachedCons)
}

// submit publishes n produced entries.
func (r *ring) submit(n uint32) {
	r.cachedProd += n
	atomic.StoreUint32(r.producer, r.cachedProd)
}

// avail is how many entries a consumer may read.
func (r *ring) avail() uint32 {
	a := r.cachedProd - r.cachedCons
	if a > 0 {
		return a
	}
	r.cachedProd = atomic.LoadUint32(r.producer)
	return r.cachedProd - r.cachedCons
}

// release gives n consumed entries back to the producer.
func (r *ring) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// pending is, for a producer ring, how many published entries the kernel has
// not consumed yet.
func (r *ring) pending() uint32 {
	return r.cachedProd - atomic.LoadUint32(r.consumer)
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
