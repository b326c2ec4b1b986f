package datapath

import (
	"fmt"
	"slices"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// Options tune one interface.
type Options struct {
	Queues     []int      // RX queues to serve; nil means all
	XDPMode    bpf.Mode   // how to attach the filter
	Socket     xsk.Config // UMEM and rings, per queue
	Batch      int        // frames taken from the RX ring at once
	MaxWorkers int        // goroutines per queue that run the Handler (misses block one each)
	MaxPending int        // queries per queue received but not yet answered
	Takeover   Takeover   // when to take the interface over from another afxdp process
	Forwarding Forwarding // whether loopback forwarding (the route check needs it) may be turned on
}

// Forwarding says what Open does when loopback forwarding is off: the
// program's per-query route lookup (bpf_fib_lookup from loopback, as a
// local socket's reply is routed) needs it on.
type Forwarding int

const (
	// ForwardingSet turns it on (and on again when something resets it),
	// saying so in the log. It forwards nothing between interfaces.
	ForwardingSet Forwarding = iota
	// ForwardingKeep leaves it alone: Open fails naming the setting when
	// it is off, and a reset at run time is reported, not undone.
	ForwardingKeep
)

func (f Forwarding) String() string {
	if f == ForwardingKeep {
		return "keep"
	}
	return "set"
}

// DefaultOptions serve all queues in auto modes.
func DefaultOptions() Options {
	return Options{
		XDPMode:    bpf.ModeAuto,
		Socket:     xsk.DefaultConfig,
		Batch:      64,
		MaxWorkers: 512,
		MaxPending: 1024,
	}
}

// Equal reports whether o and other ask for the same datapath: a claim of an
// interface by a second server block must agree with the first, and a reload
// reopens the interface only when they differ. A nil and an empty Queues both
// mean every queue.
func (o Options) Equal(other Options) bool {
	return slices.Equal(o.Queues, other.Queues) && o.XDPMode == other.XDPMode && o.Socket == other.Socket &&
		o.Batch == other.Batch && o.MaxWorkers == other.MaxWorkers && o.MaxPending == other.MaxPending &&
		o.Takeover == other.Takeover && o.Forwarding == other.Forwarding
}

// Validate checks the options that do not depend on the interface.
func (o Options) Validate() error {
	if err := o.Socket.Validate(); err != nil {
		return err
	}
	if o.Batch < 1 || o.Batch > o.Socket.RingSize {
		return fmt.Errorf("batch %d: must be in [1, ring size %d]", o.Batch, o.Socket.RingSize)
	}
	if o.MaxWorkers < 1 {
		return fmt.Errorf("workers %d: must be at least 1", o.MaxWorkers)
	}
	if o.MaxPending < o.Batch {
		return fmt.Errorf("pending %d: must be at least the batch (%d)", o.MaxPending, o.Batch)
	}
	for _, q := range o.Queues {
		if q < 0 || q >= bpf.MaxQueues {
			return fmt.Errorf("queue %d: must be in [0, %d)", q, bpf.MaxQueues)
		}
	}
	return nil
}
