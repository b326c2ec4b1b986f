package route

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Watcher calls back when rtnetlink announces a change to links, addresses
// or routes. The callback re-reads what it needs, so a lost message
// (ENOBUFS) costs nothing but a resync: every read, even a failed one,
// calls it.
type Watcher struct {
	f *os.File
}

// Groups of rtnetlink announcements.
const (
	Addrs  = unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR
	Routes = unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE
	Links  = unix.RTMGRP_LINK
)

// Watch starts watching the groups (Addrs, Routes, Links, or'ed) in the
// calling thread's network namespace.
func Watch(groups uint32, onChange func()) (*Watcher, error) {
	return watch(groups, func([]byte, error) { onChange() })
}

// watch calls fn with each datagram read, or the read's error.
func watch(groups uint32, fn func(b []byte, err error)) (*Watcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink watch: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding rtnetlink watch: %w", err)
	}
	// Non-blocking and wrapped in an os.File: reads wait in Go's netpoller
	// and Close wakes them.
	w := &Watcher{f: os.NewFile(uintptr(fd), "rtnetlink")}
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := w.f.Read(buf)
			if errors.Is(err, os.ErrClosed) {
				return
			}
			fn(buf[:n], err)
		}
	}()
	return w, nil
}

// Stop closes the socket; the goroutine ends on its own. It does not wait
// for a callback in progress, which may be waiting for a lock the caller
// holds.
func (w *Watcher) Stop() {
	if w != nil {
		w.f.Close()
	}
}
