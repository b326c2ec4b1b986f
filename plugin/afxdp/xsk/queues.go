package xsk

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

type ethtoolChannels struct {
	Cmd                                         uint32
	MaxRx, MaxTx, MaxOther, MaxCombined         uint32
	RxCount, TxCount, OtherCount, CombinedCount uint32
}

// RXQueues is the number of active RX queues of an interface: each needs its
// own socket, or its queries fall back to the kernel. It asks the driver
// (ethtool channels: combined + rx, which is what veth and NICs report) in
// the caller's network namespace, and falls back to sysfs, then to 1.
func RXQueues(ifname string) (int, error) {
	c, err := NewQueueCounter(ifname)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.Count()
}

// QueueCounter counts an interface's RX queues, again and again, in the
// network namespace it was made in, whichever goroutine asks later.
type QueueCounter struct {
	fd   int
	name string
}

// NewQueueCounter makes a counter in the calling thread's namespace.
func NewQueueCounter(ifname string) (*QueueCounter, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("interface name %q too long", ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("counting RX queues of %s: %w", ifname, err)
	}
	return &QueueCounter{fd: fd, name: ifname}, nil
}

// Count asks the driver now.
func (c *QueueCounter) Count() (int, error) {
	ch := ethtoolChannels{Cmd: unix.ETHTOOL_GCHANNELS}
	e := ethtool(c.fd, c.name, &ch)
	if e == unix.ENODEV {
		return 0, fmt.Errorf("counting RX queues of %s: no such interface", c.name)
	}
	if e == 0 && ch.CombinedCount+ch.RxCount > 0 {
		return int(ch.CombinedCount + ch.RxCount), nil
	}
	if m, _ := filepath.Glob("/sys/class/net/" + c.name + "/queues/rx-*"); len(m) > 0 {
		return len(m), nil
	}
	return 1, nil
}

// Close closes the counter's socket.
func (c *QueueCounter) Close() error { return unix.Close(c.fd) }
