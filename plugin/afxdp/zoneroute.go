package afxdp

import (
	"reflect"
	"strings"

	"github.com/coredns/coredns/core/dnsserver"
)

// zoneRoute maps each zone of one *dnsserver.Server (every block sharing
// the listener, with afxdp or without) to its block's policy, so a query is
// routed to its block as the server routes it.
type zoneRoute map[string]*blockPolicy

// routeOf reads the server's zones. It is unexported in CoreDNS; reflection
// reads the map's keys and compares its configs' pointers with the blocks
// afxdp knows, without touching them. A zone of a block afxdp does not know
// (one without afxdp on this listener) gets an "off" policy; a view
// anywhere turns the whole listener off, as its filters route per client.
func routeOf(s *dnsserver.Server, known map[*dnsserver.Config]*blockPolicy) (zoneRoute, string) {
	zones := reflect.ValueOf(s).Elem().FieldByName("zones")
	if !zones.IsValid() || zones.Kind() != reflect.Map {
		return nil, "a CoreDNS whose server has no zones map"
	}
	byPtr := make(map[uintptr]*blockPolicy, len(known))
	for cfg, p := range known {
		byPtr[reflect.ValueOf(cfg).Pointer()] = p
	}
	r := zoneRoute{}
	it := zones.MapRange()
	for it.Next() {
		cfgs := it.Value()
		if cfgs.Len() != 1 {
			return nil, "view" // several blocks for one zone: per-client filters choose
		}
		p := byPtr[cfgs.Index(0).Pointer()]
		if p == nil {
			p = &blockPolicy{why: "a server block without afxdp"}
		} else if p.why == "view" {
			return nil, "view"
		}
		r[it.Key().String()] = p
	}
	return r, ""
}

// route finds the block that answers name (lowercased, fully qualified) as
// dnsserver.Server.ServeDNS does for a query that is not DS: the most
// specific zone, else the root.
func (r zoneRoute) route(name string) *blockPolicy {
	for off := 0; ; {
		if p := r[name[off:]]; p != nil {
			return p
		}
		i := strings.IndexByte(name[off:], '.')
		if i < 0 || off+i+1 >= len(name) {
			return r["."]
		}
		off += i + 1
	}
}
