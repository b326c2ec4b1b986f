package afxdp

import (
	"net"
	"net/netip"
	"time"
)

// After a SIGUSR2 handover the old process's UDP reader can sit in a
// blocking recvmsg on the listener it shares with the new process: caddy
// passes the socket with os.File.Fd, which clears O_NONBLOCK on the shared
// file description, so the read deadline CoreDNS sets to stop the server
// no longer interrupts it. Stock CoreDNS is woken by the next query; with
// afxdp the kernel listener sees none once the new process serves, and
// the old process would never exit. So the old process sends its own
// listeners a datagram that every server ignores (a DNS response: QR=1)
// until one of them wakes its reader, for as long as a graceful stop can
// take.
const (
	wakeEvery = 20 * time.Millisecond
	wakeFor   = 15 * time.Second
)

var wakeMsg = []byte{0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0} // a header: response, no records

// wakeTargets is where the kernel listeners of keys can be reached from
// this host.
func wakeTargets(keys []listenKey) []netip.AddrPort {
	var out []netip.AddrPort
	for _, k := range keys {
		switch k.scope {
		case scopeHost:
			out = append(out, netip.AddrPortFrom(k.host, k.port))
		case scopeAll:
			out = append(out, netip.AddrPortFrom(netip.IPv6Loopback(), k.port),
				netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), k.port))
		default:
			out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), k.port))
		}
	}
	return out
}

func wakeReaders(targets []netip.AddrPort) {
	conns := make([]*net.UDPConn, 0, len(targets))
	for _, t := range targets {
		if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(t)); err == nil {
			conns = append(conns, c)
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for end := time.Now().Add(wakeFor); time.Now().Before(end); time.Sleep(wakeEvery) {
		for _, c := range conns {
			c.Write(wakeMsg)
		}
	}
}
