package afxdp

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// listenerRcvBuf is the receive buffer afxdp gives the kernel listeners it
// serves for. They answer alone while sockets change hands (an upgrade, a
// reopen), and at that moment they take the whole rate: 100 ms of 20,000
// queries a second is about 2 MiB of socket buffer (each datagram is
// charged its skb, not its bytes), ten times Linux's default.
const listenerRcvBuf = 4 << 20

// growListenerBuffers raises the receive buffer of this process's UDP
// sockets on port to listenerRcvBuf (never lowers one): CoreDNS made them
// and offers no hook, so they are found among the process's descriptors.
// It returns how many it raised.
func growListenerBuffers(port uint16) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || !udpOnPort(fd, port) {
			continue
		}
		// The kernel reports twice what was set, as it stores it.
		if cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil || cur >= listenerRcvBuf {
			continue
		}
		// FORCE: above net.core.rmem_max, with CAP_NET_ADMIN (which
		// afxdp has).
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, listenerRcvBuf/2) == nil {
			n++
		}
	}
	return n
}

func udpOnPort(fd int, port uint16) bool {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_DGRAM {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port == int(port)
	case *unix.SockaddrInet6:
		return a.Port == int(port)
	}
	return false
}
