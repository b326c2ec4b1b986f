package datapath

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Drop reasons: why a received query got no reply frame.
type Drop int

const (
	DropDecode     Drop = iota // the frame codec rejected a frame the filter let through
	DropChecksum               // a bad UDP checksum (the kernel would drop it too)
	DropOverload               // every pending slot was taken (misses piling up)
	DropTooLarge               // the reply does not fit in one frame / the MTU
	DropNoFrame                // every TX frame was in flight
	DropTxRingFull             // the TX ring had no room
	DropTxError                // the kernel refused to transmit (interface down)
	NumDrops
)

var dropNames = [NumDrops]string{"decode", "checksum", "overload", "too_large", "no_free_frame", "tx_ring_full", "tx_error"}

func (d Drop) String() string { return dropNames[d] }

// counters are one queue's, updated with atomics on the packet path and read
// on a scrape.
type counters struct {
	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64
	drops             [NumDrops]atomic.Uint64
	handoffs          atomic.Uint64 // times the queue was handed to the kernel because it was saturated
}

// QueueStats is a snapshot of one queue.
type QueueStats struct {
	Queue             int
	RxFrames, RxBytes uint64
	TxFrames, TxBytes uint64
	Drops             [NumDrops]uint64
	Handoffs          uint64
	Pending           int // queries received and not yet finished
	Workers           int // goroutines in the pool
	TxFreeFrames      int // TX frames not in flight
	XDP               unix.XDPStatistics
	XDPErr            error
}

func (c *counters) snapshot(s *QueueStats) {
	s.RxFrames, s.RxBytes = c.rxFrames.Load(), c.rxBytes.Load()
	s.TxFrames, s.TxBytes = c.txFrames.Load(), c.txBytes.Load()
	for i := range c.drops {
		s.Drops[i] = c.drops[i].Load()
	}
	s.Handoffs = c.handoffs.Load()
}

// Add adds other's counters to s, for counts that must survive a socket: a
// reopen's closed datapath. The gauges and the kernel's statistics are not
// added, they are the live socket's alone.
func (s *QueueStats) Add(other *QueueStats) {
	s.RxFrames += other.RxFrames
	s.RxBytes += other.RxBytes
	s.TxFrames += other.TxFrames
	s.TxBytes += other.TxBytes
	for i := range s.Drops {
		s.Drops[i] += other.Drops[i]
	}
	s.Handoffs += other.Handoffs
}
