package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// Oracles for the tests: how the kernel routes a reply and what its
// neighbour entries hold, read over rtnetlink. The XDP program asks the
// FIB itself; these check the kernel's side of what it finds (and that
// Resolve resolves).

// Path is the way the kernel would send a packet: the device it leaves by
// and the next hop's address on it (the gateway, or the destination itself
// when it is on-link).
type Path struct {
	OIF     int
	NextHop netip.Addr
}

// OutputRoute asks the kernel how it would send a packet from src (a local
// address) to dst, as it does for a reply from an unconnected socket bound
// to src: `ip route get DST from SRC [oif DEV]`. oif is 0, or the device
// that scopes a link-local dst. ok is false when there is no route
// (unreachable, prohibited, blackholed); an error means the kernel could
// not be asked.
func (c *Conn) OutputRoute(src, dst netip.Addr, oif int) (p Path, ok bool, err error) {
	fam, bits := family(dst)
	if s, _ := family(src); s != fam {
		return p, false, fmt.Errorf("output route %s -> %s: mixed families", src, dst)
	}
	body := make([]byte, unix.SizeofRtMsg)
	body[0], body[1], body[2] = fam, bits, bits // family, dst_len, src_len
	body = attr(body, unix.RTA_DST, dst.AsSlice())
	body = attr(body, unix.RTA_SRC, src.AsSlice())
	if oif != 0 {
		body = attr(body, unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, uint32(oif)))
	}
	msgs, err := c.request(unix.RTM_GETROUTE, 0, body)
	var errno Errno
	switch {
	case errors.As(err, &errno) && !transient(errno.Errno):
		return p, false, nil
	case err != nil:
		return p, false, fmt.Errorf("output route %s -> %s: %w", src, dst, err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		if m.Data[7] != unix.RTN_UNICAST {
			return p, false, nil // local, broadcast, multicast: not a reply on the wire
		}
		return parsePath(m, dst)
	}
	return p, false, fmt.Errorf("output route %s -> %s: no answer", src, dst)
}

func parsePath(m *syscall.NetlinkMessage, dst netip.Addr) (Path, bool, error) {
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return Path{}, false, fmt.Errorf("output route to %s: %w", dst, err)
	}
	p := Path{NextHop: dst}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_OIF:
			if len(a.Value) >= 4 {
				p.OIF = int(binary.NativeEndian.Uint32(a.Value))
			}
		case unix.RTA_GATEWAY:
			if gw, ok := netip.AddrFromSlice(a.Value); ok {
				p.NextHop = gw
			}
		case unix.RTA_VIA: // an IPv4 route through an IPv6 gateway: family, then address
			if len(a.Value) > 2 {
				if gw, ok := netip.AddrFromSlice(a.Value[2:]); ok {
					p.NextHop = gw
				}
			}
		}
	}
	return p, p.OIF != 0, nil
}

// Neighbour is the kernel's entry for a next hop on a device.
type Neighbour struct {
	MAC   net.HardwareAddr
	State uint16 // NUD_*
}

// usableStates are those in which the kernel sends to the entry's MAC at
// once. STALE, DELAY and PROBE among them: the kernel sends to the MAC it
// has while it re-confirms it.
const usableStates = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE |
	unix.NUD_PERMANENT | unix.NUD_NOARP

// Usable says whether the kernel would send to MAC without resolving the
// next hop first.
func (n Neighbour) Usable() bool {
	return len(n.MAC) == 6 && n.MAC[0]&1 == 0 && n.State&usableStates != 0
}

// Failed says whether the kernel found the next hop unreachable.
func (n Neighbour) Failed() bool { return n.State&unix.NUD_FAILED != 0 }

// Neighbour reads the kernel's entry for addr on the device index, as
// `ip neigh get ADDR dev DEV`. found is false when there is none.
func (c *Conn) Neighbour(index int, addr netip.Addr) (n Neighbour, found bool, err error) {
	fam, _ := family(addr)
	body := make([]byte, unix.SizeofNdMsg)
	body[0] = fam
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	body = attr(body, unix.NDA_DST, addr.AsSlice())
	msgs, err := c.request(unix.RTM_GETNEIGH, 0, body)
	var errno Errno
	switch {
	case errors.As(err, &errno) && errno.Errno == unix.ENOENT:
		return n, false, nil
	case err != nil:
		return n, false, fmt.Errorf("neighbour %s on interface %d: %w", addr, index, err)
	}
	for i := range msgs {
		if ch, ok := parseNeighbour(&msgs[i]); ok {
			return ch.Neighbour, true, nil
		}
	}
	return n, false, fmt.Errorf("neighbour %s on interface %d: no answer", addr, index)
}

// NeighbourChange is one announcement of the neighbour table.
type NeighbourChange struct {
	Index   int
	Addr    netip.Addr
	Deleted bool
	Neighbour
}

func parseNeighbour(m *syscall.NetlinkMessage) (ch NeighbourChange, ok bool) {
	t := m.Header.Type
	if (t != unix.RTM_NEWNEIGH && t != unix.RTM_DELNEIGH) || len(m.Data) < unix.SizeofNdMsg {
		return ch, false
	}
	ch.Index = int(int32(binary.NativeEndian.Uint32(m.Data[4:])))
	ch.State = binary.NativeEndian.Uint16(m.Data[8:])
	ch.Deleted = t == unix.RTM_DELNEIGH
	// syscall.ParseNetlinkRouteAttr knows no neighbour messages.
	attrs := nested(m.Data[unix.SizeofNdMsg:])
	ch.Addr, _ = netip.AddrFromSlice(attrs[unix.NDA_DST])
	if mac := attrs[unix.NDA_LLADDR]; mac != nil {
		ch.MAC = net.HardwareAddr(append([]byte(nil), mac...))
	}
	return ch, ch.Addr.IsValid()
}
