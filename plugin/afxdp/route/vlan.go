package route

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// VLAN is a VLAN device: the device the kernel delivers a frame tagged
// with ID (802.1ad when AD) to when it arrives on the device it is over.
type VLAN struct {
	Index int
	ID    uint16
	AD    bool
	MAC   net.HardwareAddr
}

// VLANs lists the VLAN devices over the device parent.
func (c *Conn) VLANs(parent int) ([]VLAN, error) {
	body := make([]byte, unix.SizeofIfInfomsg)
	msgs, err := c.request(unix.RTM_GETLINK, unix.NLM_F_DUMP, body)
	if err != nil {
		return nil, fmt.Errorf("listing VLAN devices: %w", err)
	}
	var out []VLAN
	for i := range msgs {
		if v, ok := parseVLAN(&msgs[i], parent); ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func parseVLAN(m *syscall.NetlinkMessage, parent int) (v VLAN, ok bool) {
	if m.Header.Type != unix.RTM_NEWLINK || len(m.Data) < unix.SizeofIfInfomsg {
		return v, false
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(m)
	if err != nil {
		return v, false
	}
	v.Index = int(int32(binary.NativeEndian.Uint32(m.Data[4:])))
	link, vlan := 0, false
	for _, a := range attrs {
		switch a.Attr.Type &^ unix.NLA_F_NESTED {
		case unix.IFLA_LINK:
			if len(a.Value) >= 4 {
				link = int(binary.NativeEndian.Uint32(a.Value))
			}
		case unix.IFLA_ADDRESS:
			v.MAC = net.HardwareAddr(a.Value)
		case unix.IFLA_LINKINFO:
			vlan = parseVLANInfo(a.Value, &v)
		}
	}
	return v, vlan && link == parent
}

// parseVLANInfo reads IFLA_LINKINFO: kind "vlan", and its ID and protocol.
func parseVLANInfo(b []byte, v *VLAN) bool {
	info := nested(b)
	if string(info[unix.IFLA_INFO_KIND]) != "vlan\x00" {
		return false
	}
	data := nested(info[unix.IFLA_INFO_DATA])
	id := data[unix.IFLA_VLAN_ID]
	if len(id) < 2 {
		return false
	}
	v.ID = binary.NativeEndian.Uint16(id)
	if p := data[unix.IFLA_VLAN_PROTOCOL]; len(p) >= 2 {
		v.AD = binary.BigEndian.Uint16(p) == unix.ETH_P_8021AD
	}
	return true
}

// nested reads a run of rtnetlink attributes by type (the last of each).
func nested(b []byte) map[uint16][]byte {
	out := make(map[uint16][]byte)
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofRtAttr || l > len(b) {
			break
		}
		out[binary.NativeEndian.Uint16(b[2:])&^unix.NLA_F_NESTED] = b[unix.SizeofRtAttr:l]
		l = (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		b = b[min(l, len(b)):]
	}
	return out
}
