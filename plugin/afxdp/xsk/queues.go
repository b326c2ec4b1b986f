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
	if len(ifname) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("interface name %q too long", ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("counting RX queues of %s: %w", ifname, err)
	}
	defer unix.Close(fd)
	ch := ethtoolChannels{Cmd: unix.ETHTOOL_GCHANNELS}
	e := ethtool(fd, ifname, &ch)
	if e == unix.ENODEV {
		return 0, fmt.Errorf("counting RX queues of %s: no such interface", ifname)
	}
	if e == 0 && ch.CombinedCount+ch.RxCount > 0 {
		return int(ch.CombinedCount + ch.RxCount), nil
	}
	if m, _ := filepath.Glob("/sys/class/net/" + ifname + "/queues/rx-*"); len(m) > 0 {
		return len(m), nil
	}
	return 1, nil
}
