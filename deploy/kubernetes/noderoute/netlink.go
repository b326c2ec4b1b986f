package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RouteProtocol marks the routes noderoute installs (`ip route show proto
// 175`): it replaces and deletes only those, never a route someone else
// made for the same address.
const RouteProtocol = 175

// netlinkConn is an rtnetlink socket of the calling thread's network
// namespace.
type netlinkConn struct {
	fd  int
	seq uint32
	buf []byte
}

func openNetlink() (*netlinkConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rtnetlink bind: %w", err)
	}
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &netlinkConn{fd: fd, buf: make([]byte, 1<<16)}, nil
}

func (c *netlinkConn) Close() error { return unix.Close(c.fd) }

// request sends one message and returns the replies (every part of a dump).
func (c *netlinkConn) request(typ, flags uint16, body []byte) ([]syscall.NetlinkMessage, error) {
	c.seq++
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], c.seq)
	msg = append(msg, body...)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out []syscall.NetlinkMessage
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != c.seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("rtnetlink: short error")
				}
				if e := -int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return nil, syscall.Errno(e)
				}
				return out, nil
			}
			m.Data = append([]byte(nil), m.Data...)
			out = append(out, m)
			if m.Header.Flags&unix.NLM_F_MULTI == 0 {
				return out, nil
			}
		}
	}
}

func attr(b []byte, typ uint16, val []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(val)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func family(a netip.Addr) (fam, bits byte) {
	if a.Is4() {
		return unix.AF_INET, 32
	}
	return unix.AF_INET6, 128
}

// rtmsg is struct rtmsg.
func rtmsg(fam, dstLen, table, protocol, scope, typ byte) []byte {
	return []byte{fam, dstLen, 0, 0, table, protocol, scope, typ, 0, 0, 0, 0}
}

// ReplaceRoute routes dst (a host route) via gw, in the main table, marked
// as noderoute's.
func (c *netlinkConn) ReplaceRoute(dst, gw netip.Addr) error {
	fam, bits := family(dst)
	if dst.Is4() != gw.Is4() {
		return fmt.Errorf("route %s via %s: families differ", dst, gw)
	}
	b := rtmsg(fam, bits, unix.RT_TABLE_MAIN, RouteProtocol, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST)
	b = attr(b, unix.RTA_DST, dst.AsSlice())
	b = attr(b, unix.RTA_GATEWAY, gw.AsSlice())
	if _, err := c.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK, b); err != nil {
		return fmt.Errorf("route %s via %s: %w", dst, gw, err)
	}
	return nil
}

// DeleteRoute removes noderoute's host route to dst, if there is one.
func (c *netlinkConn) DeleteRoute(dst netip.Addr) error {
	fam, bits := family(dst)
	b := rtmsg(fam, bits, unix.RT_TABLE_MAIN, RouteProtocol, unix.RT_SCOPE_NOWHERE, 0)
	b = attr(b, unix.RTA_DST, dst.AsSlice())
	_, err := c.request(unix.RTM_DELROUTE, unix.NLM_F_ACK, b)
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting route %s: %w", dst, err)
	}
	return nil
}

// Routes returns noderoute's host routes in the main table: destination
// to gateway.
func (c *netlinkConn) Routes() (map[netip.Addr]netip.Addr, error) {
	out := map[netip.Addr]netip.Addr{}
	for _, fam := range []byte{unix.AF_INET, unix.AF_INET6} {
		msgs, err := c.request(unix.RTM_GETROUTE, unix.NLM_F_DUMP, rtmsg(fam, 0, 0, 0, 0, 0))
		if err != nil {
			return nil, fmt.Errorf("listing routes: %w", err)
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
				continue
			}
			dstLen, table, proto := m.Data[1], uint32(m.Data[4]), m.Data[5]
			if proto != RouteProtocol {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(m)
			if err != nil {
				return nil, err
			}
			var dst, gw netip.Addr
			for _, a := range attrs {
				switch a.Attr.Type {
				case unix.RTA_DST:
					dst, _ = netip.AddrFromSlice(a.Value)
				case unix.RTA_GATEWAY:
					gw, _ = netip.AddrFromSlice(a.Value)
				case unix.RTA_TABLE:
					if len(a.Value) == 4 {
						table = binary.NativeEndian.Uint32(a.Value)
					}
				}
			}
			if table == unix.RT_TABLE_MAIN && dst.IsValid() && int(dstLen) == dst.BitLen() {
				out[dst] = gw
			}
		}
	}
	return out, nil
}

// AddAddr adds a as a host address (/32, /128) of the interface, scope
// global so that replies can come from it; an address already there is
// left as it is.
func (c *netlinkConn) AddAddr(ifindex int, a netip.Addr) error {
	fam, bits := family(a)
	var flags byte
	if a.Is6() {
		flags = unix.IFA_F_NODAD
	}
	b := []byte{fam, bits, flags, unix.RT_SCOPE_UNIVERSE}
	b = binary.NativeEndian.AppendUint32(b, uint32(ifindex))
	b = attr(b, unix.IFA_LOCAL, a.AsSlice())
	b = attr(b, unix.IFA_ADDRESS, a.AsSlice())
	_, err := c.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK, b)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("adding %s: %w", a, err)
	}
	return nil
}
