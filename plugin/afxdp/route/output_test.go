package route

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOutputRoute asks the kernel for the route of replies: the device
// and next hop it answers must be what `ip route get` says it uses.
func TestOutputRoute(t *testing.T) {
	h := newHost(t)
	h.ns.Run("ip", "route", "add", "198.19.5.0/24", "via", "198.18.0.9")
	h.ns.Run("ip", "route", "add", "blackhole", "198.19.6.0/24")
	h.ns.Run("ip", "route", "add", "unreachable", "198.19.7.0/24")
	h.ns.Run("ip", "-6", "route", "add", "fd00:5::/64", "via", "fe80::9", "dev", "ra")
	a := netip.MustParseAddr
	cases := []struct {
		src, dst string
		oif      int
		ok       bool
		want     Path
	}{
		{"198.18.0.1", "198.18.0.2", 0, true, Path{h.a.Index, a("198.18.0.2")}}, // on-link
		{"198.18.0.1", "198.18.1.7", 0, true, Path{h.b.Index, a("198.18.1.7")}}, // out of the other link
		{"198.18.0.1", "198.19.5.5", 0, true, Path{h.a.Index, a("198.18.0.9")}}, // through a gateway
		{"198.18.0.1", "198.19.200.9", 0, false, Path{}},                        // no route
		{"198.18.0.1", "198.19.6.1", 0, false, Path{}},                          // blackhole
		{"198.18.0.1", "198.19.7.1", 0, false, Path{}},                          // unreachable
		{"198.18.0.1", "198.18.1.1", 0, false, Path{}},                          // local
		{"fd00::1", "fd00::2", 0, true, Path{h.a.Index, a("fd00::2")}},          // on-link
		{"fd00::1", "fd00:5::5", 0, true, Path{h.a.Index, a("fe80::9")}},        // through a link-local gateway
		{"fd00::1", "fd00:99::1", 0, false, Path{}},                             // no route
		{"fd00::1", "fe80::7", h.b.Index, true, Path{h.b.Index, a("fe80::7")}},  // link-local, scoped
		{"fd00::1", "fe80::7", h.a.Index, true, Path{h.a.Index, a("fe80::7")}},  // the other scope
	}
	for _, c := range cases {
		got, ok, err := h.conn.OutputRoute(a(c.src), a(c.dst), c.oif)
		if err != nil {
			t.Errorf("%s -> %s: %v", c.src, c.dst, err)
			continue
		}
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s -> %s oif %d: %+v %v, want %+v %v", c.src, c.dst, c.oif, got, ok, c.want, c.ok)
		}
	}
	if _, _, err := h.conn.OutputRoute(a("fd00::1"), a("198.18.0.2"), 0); err == nil {
		t.Error("a mixed-family question was answered")
	}
}

// TestNeighbour reads the kernel's neighbour entries: a real resolution,
// entries an administrator set, and none.
func TestNeighbour(t *testing.T) {
	h := newHost(t)
	h.peer.Run("ip", "addr", "add", "198.18.0.2/24", "dev", "pa")
	peerMAC := strings.TrimSpace(h.peer.Run("cat", "/sys/class/net/pa/address"))
	a := netip.MustParseAddr

	if _, found, err := h.conn.Neighbour(h.a.Index, a("198.18.0.2")); err != nil || found {
		t.Fatalf("before any traffic: found %v, %v", found, err)
	}
	// A datagram makes the kernel resolve the peer; its answer confirms it.
	if err := h.ns.Do(func() error {
		c, err := net.Dial("udp", "198.18.0.2:9")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var n Neighbour
	var found bool
	var err error
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n, found, err = h.conn.Neighbour(h.a.Index, a("198.18.0.2")); err != nil || n.Usable() {
			break
		}
	}
	if err != nil || !found || n.MAC.String() != peerMAC || !n.Usable() || n.State != unix.NUD_REACHABLE {
		t.Fatalf("after a datagram: %+v found %v, %v; want %s reachable", n, found, err, peerMAC)
	}

	// Asked to, the kernel resolves an address it never sent to.
	h.peer.Run("ip", "addr", "add", "fd00::2/64", "dev", "pa", "nodad")
	if err := h.conn.Resolve(h.a.Index, a("fd00::2")); err != nil {
		t.Fatal(err)
	}
	// Probes repeat every second: the first may go before the link-local
	// addresses are out of duplicate address detection.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n, _, err = h.conn.Neighbour(h.a.Index, a("fd00::2")); err != nil || n.Usable() {
			break
		}
	}
	if err != nil || n.MAC.String() != peerMAC || !n.Usable() {
		t.Fatalf("resolved: %+v, %v; want %s", n, err, peerMAC)
	}

	h.ns.Run("ip", "neigh", "add", "198.18.0.7", "lladdr", "02:00:00:00:00:07", "dev", "ra", "nud", "stale")
	h.ns.Run("ip", "neigh", "add", "fd00::7", "lladdr", "02:00:00:00:00:08", "dev", "ra", "nud", "permanent")
	h.ns.Run("ip", "neigh", "add", "198.18.0.8", "dev", "ra", "nud", "incomplete")
	for _, c := range []struct {
		addr   string
		mac    string
		usable bool
	}{
		{"198.18.0.7", "02:00:00:00:00:07", true}, // STALE: the kernel would send to it
		{"fd00::7", "02:00:00:00:00:08", true},
		{"198.18.0.8", "", false},
	} {
		n, found, err := h.conn.Neighbour(h.a.Index, a(c.addr))
		if err != nil || !found || n.MAC.String() != c.mac || n.Usable() != c.usable {
			t.Errorf("%s: %+v found %v usable %v, %v; want %q usable %v", c.addr, n, found, n.Usable(), err, c.mac, c.usable)
		}
	}
	// On another device, the same address is another entry.
	if _, found, _ := h.conn.Neighbour(h.b.Index, a("198.18.0.7")); found {
		t.Error("198.18.0.7 found on the other link")
	}
}

// TestVLANs reads crafted link messages: the kernels tests run on may lack
// CONFIG_VLAN_8021Q, and then no VLAN device can be made.
func TestVLANs(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	for _, c := range []struct {
		name   string
		msg    syscall.NetlinkMessage
		parent int
		ok     bool
		want   VLAN
	}{
		{"802.1Q", linkMsg(7, 3, "vlan", 100, unix.ETH_P_8021Q, mac), 3, true, VLAN{7, 100, false, mac}},
		{"802.1ad", linkMsg(8, 3, "vlan", 200, unix.ETH_P_8021AD, mac), 3, true, VLAN{8, 200, true, mac}},
		{"over another device", linkMsg(7, 4, "vlan", 100, unix.ETH_P_8021Q, mac), 3, false, VLAN{}},
		{"not a VLAN", linkMsg(9, 3, "macvlan", 0, 0, mac), 3, false, VLAN{}},
	} {
		got, ok := parseVLAN(&c.msg, c.parent)
		if ok != c.ok || (ok && (got.Index != c.want.Index || got.ID != c.want.ID || got.AD != c.want.AD || got.MAC.String() != c.want.MAC.String())) {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
	// The real dump: no VLAN over a veth that has none.
	h := newHost(t)
	if got, err := h.conn.VLANs(h.a.Index); err != nil || len(got) != 0 {
		t.Errorf("VLANs over ra: %+v, %v", got, err)
	}
	h.ns.Run("ip", "link", "add", "br0", "type", "bridge")
	if br := h.link(t, "br0"); br.Kind != "bridge" || h.a.Kind != "veth" {
		t.Errorf("kinds: %q %q, want bridge, veth", br.Kind, h.a.Kind)
	}
}

// linkMsg is an RTM_NEWLINK as the kernel writes one for a device of kind
// over parent (IFLA_LINK), with a VLAN's data when id is not 0.
func linkMsg(index, parent int, kind string, id, proto uint16, mac net.HardwareAddr) syscall.NetlinkMessage {
	body := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(body[4:], uint32(index))
	body = attr(body, unix.IFLA_ADDRESS, mac)
	body = attr(body, unix.IFLA_LINK, binary.NativeEndian.AppendUint32(nil, uint32(parent)))
	info := attr(nil, unix.IFLA_INFO_KIND, append([]byte(kind), 0))
	if id != 0 {
		data := attr(nil, unix.IFLA_VLAN_ID, binary.NativeEndian.AppendUint16(nil, id))
		data = attr(data, unix.IFLA_VLAN_PROTOCOL, binary.BigEndian.AppendUint16(nil, proto))
		info = attr(info, unix.IFLA_INFO_DATA|unix.NLA_F_NESTED, data)
	}
	body = attr(body, unix.IFLA_LINKINFO|unix.NLA_F_NESTED, info)
	return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWLINK}, Data: body}
}
