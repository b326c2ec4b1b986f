package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// InputOK asks the kernel whether it would accept an IPv4 packet from src
// to dst arriving on the interface iif: the input route lookup it runs for
// every packet, with the reverse-path filter (rp_filter) and the martian
// checks of ip_route_input_slow, as `ip route get DST from SRC iif DEV`
// does. A refusal is (false, nil); an error means the kernel could not be
// asked.
func (c *Conn) InputOK(iif int, src, dst netip.Addr) (bool, error) {
	if !src.Is4() || !dst.Is4() {
		return false, fmt.Errorf("input route %s -> %s: IPv4 only", src, dst)
	}
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = unix.AF_INET
	body[1], body[2] = 32, 32 // dst_len, src_len
	s, d := src.As4(), dst.As4()
	body = attr(body, unix.RTA_DST, d[:])
	body = attr(body, unix.RTA_SRC, s[:])
	var idx [4]byte
	binary.NativeEndian.PutUint32(idx[:], uint32(iif))
	body = attr(body, unix.RTA_IIF, idx[:])

	msgs, err := c.request(unix.RTM_GETROUTE, 0, body)
	var errno Errno
	switch {
	case errors.As(err, &errno) && !transient(errno.Errno):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("input route %s -> %s on interface %d: %w", src, dst, iif, err)
	}
	for _, m := range msgs {
		if m.Header.Type == unix.RTM_NEWROUTE && len(m.Data) >= unix.SizeofRtMsg {
			// Delivered locally: rtm_type RTN_LOCAL. Anything else
			// (forwarded, broadcast) is not a query to this host.
			return m.Data[7] == unix.RTN_LOCAL, nil
		}
	}
	return false, fmt.Errorf("input route %s -> %s on interface %d: no answer", src, dst, iif)
}

// transient errnos say nothing about the packet: ask again later.
func transient(e syscall.Errno) bool {
	switch e {
	case unix.ENODEV, unix.ENOBUFS, unix.ENOMEM, unix.EAGAIN, unix.EINTR, unix.EBUSY:
		return true
	}
	return false
}
