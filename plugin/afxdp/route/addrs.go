package route

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// LocalAddrs lists every address of every interface in the namespace, and
// for IPv4 the directed broadcast addresses: the sources the kernel refuses
// on input because they are its own.
func (c *Conn) LocalAddrs() ([]netip.Addr, error) {
	body := make([]byte, unix.SizeofIfAddrmsg) // family AF_UNSPEC: both
	msgs, err := c.request(unix.RTM_GETADDR, unix.NLM_F_DUMP, body)
	if err != nil {
		return nil, fmt.Errorf("listing local addresses: %w", err)
	}
	var out []netip.Addr
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWADDR || len(m.Data) < unix.SizeofIfAddrmsg {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, fmt.Errorf("listing local addresses: %w", err)
		}
		v4, bits := m.Data[0] == unix.AF_INET, int(m.Data[1])
		for _, a := range attrs {
			ip, ok := netip.AddrFromSlice(a.Value)
			switch {
			case !ok:
			// IPv4's IFA_ADDRESS is the peer on a point-to-point link;
			// IFA_LOCAL is the local address. IPv6 has only IFA_ADDRESS.
			case a.Attr.Type == unix.IFA_LOCAL && v4:
				out = append(out, ip)
				if b, ok := directedBroadcast(ip, bits); ok {
					out = append(out, b)
				}
			case a.Attr.Type == unix.IFA_ADDRESS && !v4, a.Attr.Type == unix.IFA_BROADCAST && v4:
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

// directedBroadcast is the broadcast address the kernel adds to its local
// table for an IPv4 prefix shorter than /31 (fib_add_ifaddr), whether or
// not the address was given one.
func directedBroadcast(a netip.Addr, bits int) (netip.Addr, bool) {
	if bits >= 31 {
		return netip.Addr{}, false
	}
	b := a.As4()
	host := ^uint32(0) >> bits
	v := binary.BigEndian.Uint32(b[:]) | host
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b), true
}

// Link is what afxdp needs to know of an interface.
type Link struct {
	Index  int
	Name   string
	MAC    net.HardwareAddr
	MTU    int
	Master int    // the index of its bridge (or other master), 0 if none
	Kind   string // "bridge", "vlan", "veth", ...; empty for a plain device
	Up     bool
}

// Link reads the interface with this index.
func (c *Conn) Link(index int) (Link, error) {
	body := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	msgs, err := c.request(unix.RTM_GETLINK, 0, body)
	if err != nil {
		return Link{}, fmt.Errorf("reading interface %d: %w", index, err)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		l := Link{Index: index, Up: binary.NativeEndian.Uint32(m.Data[8:])&unix.IFF_UP != 0}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return Link{}, fmt.Errorf("reading interface %d: %w", index, err)
		}
		for _, a := range attrs {
			switch a.Attr.Type &^ unix.NLA_F_NESTED {
			case unix.IFLA_ADDRESS:
				l.MAC = net.HardwareAddr(a.Value)
			case unix.IFLA_IFNAME:
				l.Name = string(a.Value[:max(0, len(a.Value)-1)])
			case unix.IFLA_MTU:
				l.MTU = int(binary.NativeEndian.Uint32(a.Value))
			case unix.IFLA_MASTER:
				l.Master = int(binary.NativeEndian.Uint32(a.Value))
			case unix.IFLA_LINKINFO:
				kind := nested(a.Value)[unix.IFLA_INFO_KIND]
				l.Kind = string(kind[:max(0, len(kind)-1)])
			}
		}
		return l, nil
	}
	return Link{}, fmt.Errorf("reading interface %d: no answer", index)
}
