package afxdp

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// addrWatch calls back whenever an address is added to or removed from any
// interface, so listeners bound to the wildcard follow the interface's
// addresses. It listens to rtnetlink's address groups; the callback re-reads
// the addresses, so a lost message (ENOBUFS) costs nothing but a resync.
type addrWatch struct {
	f *os.File
}

func watchAddrs(onChange func()) *addrWatch {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		log.Warningf("cannot watch interface addresses (%v): wildcard listeners keep the addresses seen at start", err)
		return nil
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		log.Warningf("cannot watch interface addresses (%v): wildcard listeners keep the addresses seen at start", err)
		return nil
	}
	w := &addrWatch{f: os.NewFile(uintptr(fd), "rtnetlink")}
	go func() {
		buf := make([]byte, 1<<16)
		for {
			_, err := w.f.Read(buf)
			if errors.Is(err, os.ErrClosed) {
				return
			}
			onChange()
		}
	}()
	return w
}

// stop closes the socket; the goroutine ends on its own. It does not wait:
// the callback may be waiting for the registry lock its caller holds.
func (w *addrWatch) stop() {
	if w != nil {
		w.f.Close()
	}
}
