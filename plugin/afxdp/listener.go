package afxdp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/pkg/transport"
)

// scope says which destination addresses a listener answers for.
type scope uint8

const (
	scopeHost scope = iota // one address (the block's bind)
	scopeAll               // every address of the interface ("" or "::")
	scopeV4                // every IPv4 address of the interface ("0.0.0.0")
)

// listenKey identifies a CoreDNS UDP listener: what its *dnsserver.Server
// was bound to.
type listenKey struct {
	scope scope
	host  netip.Addr // scopeHost only
	port  uint16
}

func (k listenKey) String() string {
	switch k.scope {
	case scopeAll:
		return fmt.Sprintf(":%d", k.port)
	case scopeV4:
		return fmt.Sprintf("0.0.0.0:%d", k.port)
	}
	return netip.AddrPortFrom(k.host, k.port).String()
}

// keyOf reads a listener key from a server address such as "dns://:53" or
// "dns://[fd00::1]:53", or from a config's host and port.
func keyOf(hostport string) (listenKey, error) {
	hostport = strings.TrimPrefix(hostport, transport.DNS+"://")
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return listenKey{}, fmt.Errorf("listener %q: %w", hostport, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return listenKey{}, fmt.Errorf("listener %q: bad port", hostport)
	}
	k := listenKey{port: uint16(port)}
	if host == "" || host == "::" {
		k.scope = scopeAll
		return k, nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return listenKey{}, fmt.Errorf("listener %q: host is not an address", hostport)
	}
	addr = addr.Unmap()
	if addr == netip.IPv6Unspecified() { // "::" spelled otherwise, e.g. "0::0"
		k.scope = scopeAll
		return k, nil
	}
	if addr == netip.IPv4Unspecified() {
		k.scope = scopeV4
		return k, nil
	}
	k.host = addr.WithZone("")
	return k, nil
}

// keysOf lists the listeners a server block's config makes.
func keysOf(cfg *dnsserver.Config) ([]listenKey, error) {
	var keys []listenKey
	for _, h := range cfg.ListenHosts {
		k, err := keyOf(net.JoinHostPort(h, cfg.Port))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

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
