package afxdp

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

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
