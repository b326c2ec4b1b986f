package afxdp

import (
	"net"
	"net/netip"

	"github.com/afxdp/afxdp/plugin/afxdp/route"
)

// watchAddrs calls back whenever an address is added to or removed from any
// interface, so listeners bound to the wildcard follow the interface's
// addresses. Without a watch they keep the addresses seen at start.
func watchAddrs(onChange func()) *route.Watcher {
	w, err := route.Watch(route.Addrs, onChange)
	if err != nil {
		log.Warningf("cannot watch interface addresses (%v): wildcard listeners keep the addresses seen at start", err)
		return nil
	}
	return w
}

// interfaceAddrs lists the interface's unicast addresses.
func interfaceAddrs(name string) []netip.Addr {
	nif, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	as, err := nif.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
