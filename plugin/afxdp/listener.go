package afxdp

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/coredns/coredns/core/dnsserver"
)

// listener is a live CoreDNS server reached through one interface.
type listener struct {
	key    listenKey
	server *dnsserver.Server
	ctx    context.Context // Key and LoopKey set, as the kernel path sets them
	gen    *generation
	hot    *hotListener // nil where no block answers hot
	id     uint32       // never reused: the XDP program's hot entries are keyed by it
}

// listenerIDs numbers listeners for the XDP program's hot map, so that an
// entry of a replaced server never answers for its successor.
var listenerIDs atomic.Uint32

// newListener makes the listener of server s; retired (may be nil) keeps
// its hot counts once it is replaced; tier is what the interface allows.
func newListener(k listenKey, s *dnsserver.Server, g *generation, retired *hotCounts, tier xdpTier) *listener {
	ctx := context.WithValue(context.Background(), dnsserver.Key{}, s)
	ctx = context.WithValue(ctx, dnsserver.LoopKey{}, 0)
	return &listener{key: k, server: s, ctx: ctx, gen: g, hot: newHotListener(g, s, retired, tier), id: listenerIDs.Add(1)}
}

// xdpID is the served map's value for the listener: its id where the
// program answers its hot entries, else 0.
func (l *listener) xdpID() uint32 {
	if l == nil || l.hot == nil || !l.hot.xdp {
		return 0
	}
	return l.id
}

// table routes a query's destination to its listener. It is immutable:
// changes build a new one, so the packet path reads it without a lock.
type table struct {
	host map[netip.AddrPort]*listener
	all  map[uint16]*listener
	v4   map[uint16]*listener
	hot  bool // some listener answers hot
}

func newTable(ls map[listenKey]*listener) *table {
	t := &table{host: map[netip.AddrPort]*listener{}, all: map[uint16]*listener{}, v4: map[uint16]*listener{}}
	for k, l := range ls {
		t.hot = t.hot || l.hot != nil
		switch k.scope {
		case scopeHost:
			t.host[netip.AddrPortFrom(k.host, k.port)] = l
		case scopeAll:
			t.all[k.port] = l
		case scopeV4:
			t.v4[k.port] = l
		}
	}
	return t
}

// lookup prefers a listener bound to the address, as the kernel's socket
// lookup does.
func (t *table) lookup(dst netip.Addr, port uint16) *listener {
	if l := t.host[netip.AddrPortFrom(dst, port)]; l != nil {
		return l
	}
	if dst.Is4() {
		if l := t.v4[port]; l != nil {
			return l
		}
	}
	return t.all[port]
}
