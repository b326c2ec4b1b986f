package afxdp

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/priv"
)

func rcvBuf(t *testing.T, c *net.UDPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGrowListenerBuffers: the UDP sockets on the listener's port get the
// larger buffer; a socket on another port keeps its own.
func TestGrowListenerBuffers(t *testing.T) {
	priv.Require(t) // SO_RCVBUFFORCE needs CAP_NET_ADMIN
	listener, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	before := rcvBuf(t, other)
	port := uint16(listener.LocalAddr().(*net.UDPAddr).Port)
	if n := growListenerBuffers(port); n != 1 {
		t.Errorf("raised %d sockets, want 1", n)
	}
	if got := rcvBuf(t, listener); got < listenerRcvBuf {
		t.Errorf("listener's receive buffer %d, want at least %d", got, listenerRcvBuf)
	}
	if got := rcvBuf(t, other); got != before {
		t.Errorf("another port's buffer changed: %d -> %d", before, got)
	}
	if n := growListenerBuffers(port); n != 0 {
		t.Errorf("raised %d sockets again, want 0 (never lowered or redone)", n)
	}
}
