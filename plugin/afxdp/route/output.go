package route

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// OutputIndex is the interface through which the kernel would send a
// packet to dst, as `ip route get DST` says; 0 when it has no route there.
func (c *Conn) OutputIndex(dst netip.Addr) (int, error) {
	dst = dst.Unmap()
	fam, bits := family(dst)
	body := make([]byte, unix.SizeofRtMsg)
	body[0], body[1] = fam, bits // family, dst_len
	body = attr(body, unix.RTA_DST, dst.AsSlice())
	msgs, err := c.request(unix.RTM_GETROUTE, 0, body)
	if err != nil {
		return 0, fmt.Errorf("route to %s: %w", dst, err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return 0, fmt.Errorf("route to %s: %w", dst, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == unix.RTA_OIF && len(a.Value) >= 4 {
				return int(binary.NativeEndian.Uint32(a.Value)), nil
			}
		}
	}
	return 0, nil
}
