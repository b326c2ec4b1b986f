package fibtest

import "net/netip"

// The standard table's MACs.
var (
	ServerMAC      = [6]byte{0x02, 0, 0, 0, 0, 0x01} // srv's
	ClientMAC      = [6]byte{0x02, 0, 0, 0, 0, 0x02} // the clients on srv, q100 and ad100
	RouterMAC      = [6]byte{0x02, 0, 0, 0, 0, 0x0e} // the router on srv
	OtherMAC       = [6]byte{0x02, 0, 0, 0, 0, 0x0a} // oth's
	OtherRouterMAC = [6]byte{0x02, 0, 0, 0, 0, 0x1e} // the router on oth
	Tag100MAC      = [6]byte{0x02, 0, 0, 0, 1, 0x00} // q100's
	TagAD100MAC    = [6]byte{0x02, 0, 0, 0, 1, 0x01} // ad100's
)

// SmallMTU is the locked MTU of the routes to SmallMTU4 and SmallMTU6.
const SmallMTU = 300

// The standard table's addresses: the server's, and a source for each
// outcome of a lookup of the route back to it.
var (
	Server4, Server6         = addr("198.18.0.1"), addr("fd00::1")       // srv's
	Client4, Client6         = addr("198.18.0.2"), addr("fd00::2")       // on srv's link, neighbour ClientMAC
	Router4, Router6         = addr("198.18.0.254"), addr("fd00::fe")    // on srv's link, neighbour RouterMAC
	Other4, Other6           = addr("198.18.1.1"), addr("fd00:1::1")     // oth's
	Via4, Via6               = addr("198.18.9.9"), addr("fd00:9::9")     // routed via Router
	Elsewhere4, Elsewhere6   = addr("198.18.2.2"), addr("fd00:2::2")     // routed via the router on oth
	NoNeigh4, NoNeigh6       = addr("198.18.0.3"), addr("fd00::3")       // on srv's link, no neighbour entry
	Gone4, Gone6             = addr("198.18.0.253"), addr("fd00::fd")    // a router on srv's link without a neighbour entry
	ViaGone4, ViaGone6       = addr("198.18.5.5"), addr("fd00:5::5")     // routed via Gone
	GoneOther4, GoneOther6   = addr("198.18.1.3"), addr("fd00:1::3")     // a router on oth's link without a neighbour entry
	ViaGoneOth4, ViaGoneOth6 = addr("198.18.7.7"), addr("fd00:7::7")     // routed via GoneOther
	Unreach4, Unreach6       = addr("198.18.3.3"), addr("fd00:3::3")     // an unreachable route
	Blackhole4, Blackhole6   = addr("198.18.4.4"), addr("fd00:4::4")     // a blackhole route
	Prohibit4, Prohibit6     = addr("198.18.6.6"), addr("fd00:6::6")     // a prohibit route
	SmallMTU4, SmallMTU6     = addr("198.18.8.8"), addr("fd00:8::8")     // via Router, route MTU SmallMTU (locked)
	Throw4, Throw6           = addr("198.18.11.11"), addr("fd00:11::11") // a throw route: no route at all
	Tagged4, Tagged6         = addr("198.18.100.2"), addr("fd00:100::2") // on q100's link, neighbour ClientMAC
	TaggedAD4, TaggedAD6     = addr("198.18.101.2"), addr("fd00:101::2") // on ad100's link, neighbour ClientMAC
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// Standard is the table of the program's tests: srv, where queries
// arrive; oth, another device; q100 and ad100, which stand in for the
// 802.1Q and 802.1ad VLAN 100 devices over srv (this kernel is built
// without VLAN devices; the program knows a device by its index and
// MAC, whatever kind it is). IPv4 has a default route via Router (so
// that any other source is answered through it), IPv6 none (so that
// any other source has no route).
func Standard() *Table {
	return &Table{
		Links: []Link{
			{Name: "srv", MAC: ServerMAC, Addrs: []netip.Prefix{pfx("198.18.0.1/24"), pfx("fd00::1/64")}},
			{Name: "oth", MAC: OtherMAC, Addrs: []netip.Prefix{pfx("198.18.1.1/24"), pfx("fd00:1::1/64")}},
			{Name: "q100", MAC: Tag100MAC, Addrs: []netip.Prefix{pfx("198.18.100.1/24"), pfx("fd00:100::1/64")}},
			{Name: "ad100", MAC: TagAD100MAC, Addrs: []netip.Prefix{pfx("198.18.101.1/24"), pfx("fd00:101::1/64")}},
		},
		Routes: []Route{
			{Prefix: pfx("0.0.0.0/0"), Via: Router4, Dev: "srv"},
			{Prefix: pfx("198.18.9.0/24"), Via: Router4, Dev: "srv"},
			{Prefix: pfx("fd00:9::/64"), Via: Router6, Dev: "srv"},
			{Prefix: pfx("198.18.2.0/24"), Via: addr("198.18.1.2"), Dev: "oth"},
			{Prefix: pfx("fd00:2::/64"), Via: addr("fd00:1::2"), Dev: "oth"},
			{Prefix: pfx("198.18.5.0/24"), Via: Gone4, Dev: "srv"},
			{Prefix: pfx("fd00:5::/64"), Via: Gone6, Dev: "srv"},
			{Prefix: pfx("198.18.7.0/24"), Via: GoneOther4, Dev: "oth"},
			{Prefix: pfx("fd00:7::/64"), Via: GoneOther6, Dev: "oth"},
			{Prefix: pfx("198.18.3.0/24"), Kind: Unreachable},
			{Prefix: pfx("fd00:3::/64"), Kind: Unreachable},
			{Prefix: pfx("198.18.4.0/24"), Kind: Blackhole},
			{Prefix: pfx("fd00:4::/64"), Kind: Blackhole},
			{Prefix: pfx("198.18.6.0/24"), Kind: Prohibit},
			{Prefix: pfx("fd00:6::/64"), Kind: Prohibit},
			{Prefix: pfx("198.18.8.0/24"), Via: Router4, Dev: "srv", MTU: SmallMTU},
			{Prefix: pfx("fd00:8::/64"), Via: Router6, Dev: "srv", MTU: SmallMTU},
			{Prefix: pfx("198.18.11.0/24"), Kind: Throw},
			{Prefix: pfx("fd00:11::/64"), Kind: Throw},
		},
		Neighs: []Neigh{
			{Dev: "srv", Addr: Client4, MAC: ClientMAC},
			{Dev: "srv", Addr: Client6, MAC: ClientMAC},
			{Dev: "srv", Addr: Router4, MAC: RouterMAC},
			{Dev: "srv", Addr: Router6, MAC: RouterMAC},
			{Dev: "oth", Addr: addr("198.18.1.2"), MAC: OtherRouterMAC},
			{Dev: "oth", Addr: addr("fd00:1::2"), MAC: OtherRouterMAC},
			{Dev: "q100", Addr: Tagged4, MAC: ClientMAC},
			{Dev: "q100", Addr: Tagged6, MAC: ClientMAC},
			{Dev: "ad100", Addr: TaggedAD4, MAC: ClientMAC},
			{Dev: "ad100", Addr: TaggedAD6, MAC: ClientMAC},
		},
	}
}
