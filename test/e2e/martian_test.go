package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/pkt"
)

// These tests play an attacker on the server's link: queries from sources
// the kernel would never answer (loopback, broadcast, multicast, the
// server's own addresses, port 0, spoofed sources that fail rp_filter) and
// frames for another host's MAC. The kernel listener stays open in the
// first two tests, so "no answer at all" means neither path answered.

// attack is a testbed serving example.org through AF_XDP with a raw socket
// on the client's link.
type attack struct {
	*testbed
	raw        *rawSocket
	cmac, smac [6]byte
	query      []byte
}

func newAttack(t *testing.T) *attack {
	tb := newTestbed(t, 1)
	tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone))
	tb.waitAFXDP(srv4)
	a := &attack{testbed: tb, raw: tb.rawSocket(), query: pkt.Query("www.example.org.", dns.TypeA)}
	a.cmac, a.smac = mac(tb, tb.cli, "veth-c"), mac(tb, tb.srv, "veth-s")
	// The client side sees every frame that arrives, whatever its MAC.
	tb.cli.Run("ip", "link", "set", "veth-c", "promisc", "on")
	return a
}

// frame is a query to the server from src:sport, addressed to dstMAC.
func (a *attack) frame(src netip.Addr, sport uint16, dstMAC [6]byte) []byte {
	dst := srv4
	if src.Is6() { // v4-mapped too: it arrives over IPv6
		dst = srv6
	}
	return pkt.Frame{Dst: dstMAC, Src: a.cmac, SrcIP: src, DstIP: dst, SrcPort: sport, DstPort: 53, Payload: a.query}.Build()
}

// send sends n copies of frame and returns the DNS answers (UDP from port
// 53) that arrived on the client's link meanwhile and just after.
func (a *attack) send(frame []byte, n int) int {
	a.t.Helper()
	for range n {
		if err := a.raw.send(frame); err != nil {
			a.t.Fatalf("sending: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	answers := 0
	for _, f := range a.raw.received(300 * time.Millisecond) {
		if isAnswer(f.data) {
			answers++
		}
	}
	return answers
}

// isAnswer: an untagged IPv4 or IPv6 UDP datagram from port 53.
func isAnswer(b []byte) bool {
	if len(b) < 14 {
		return false
	}
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0800:
		return len(b) >= 14+20+8 && b[14+9] == 17 && binary.BigEndian.Uint16(b[14+int(b[14]&0xf)*4:]) == 53
	case 0x86dd:
		return len(b) >= 14+40+8 && b[14+6] == 17 && binary.BigEndian.Uint16(b[14+40:]) == 53
	}
	return false
}

func (a *attack) passed(reason string) float64 {
	return metric(a.metrics(a.srv, 9153), "coredns_afxdp_xdp_passed_total", fmt.Sprintf(`reason=%q`, reason))
}

// TestMartianSources: queries from each source the kernel drops get no
// answer by either path, and each is counted as martian. Ordinary clients
// are still answered through AF_XDP.
func TestMartianSources(t *testing.T) {
	a := newAttack(t)
	const n = 20
	cases := []struct {
		src   string
		sport uint16
		// The kernel answers a directed-broadcast source when rp_filter
		// is off (fib_validate_source skips its lookup then); afxdp
		// leaves that to the kernel.
		kernelAnswers bool
	}{
		{"127.0.0.1", 40053, false}, {"255.255.255.255", 40053, false}, {"224.0.0.251", 40053, false},
		{"198.18.0.1", 40053, false}, {"0.0.0.0", 40053, false}, {"240.0.0.1", 40053, false},
		{"198.18.1.1", 40053, false}, {"198.18.0.255", 40053, true}, {"198.18.0.2", 0, false},
		{"::1", 40053, false}, {"ff02::fb", 40053, false}, {"fd00::1", 40053, false}, {"::", 40053, false},
		{"::ffff:198.18.0.2", 40053, false}, {"fd00:1::1", 40053, false}, {"fd00::2", 0, false},
	}
	for _, c := range cases {
		before, redirected := a.passed("martian"), a.redirected()
		if got := a.send(a.frame(netip.MustParseAddr(c.src), c.sport, a.smac), n); got != 0 && !c.kernelAnswers {
			t.Errorf("source %s port %d: %d answers, want none", c.src, c.sport, got)
		}
		if d := a.passed("martian") - before; d != n {
			t.Errorf("source %s port %d: martian counter moved by %v, want %d", c.src, c.sport, d, n)
		}
		if d := a.redirected() - redirected; d != 0 {
			t.Errorf("source %s port %d: %v redirected", c.src, c.sport, d)
		}
	}
	// Ordinary sources, through AF_XDP: the kernel's UDP/53 is dropped now.
	// The first queries from a source go to the kernel while afxdp asks
	// about its route (and, for a next hop the server never sent to, while
	// the kernel resolves it: a second or so).
	a.dropKernelDNS()
	for _, src := range []netip.Addr{cli4, netip.MustParseAddr("fd00::2")} {
		got := 0
		for end := time.Now().Add(5 * time.Second); got == 0 && time.Now().Before(end); {
			got = a.send(a.frame(src, 40053, a.smac), 1)
		}
		if got != 1 {
			t.Errorf("ordinary source %s: %d answers, want 1", src, got)
		}
	}
}

// TestOtherHostMAC: on a promiscuous interface XDP sees frames for other
// hosts; a query in one, aimed at a served address, is not answered.
func TestOtherHostMAC(t *testing.T) {
	a := newAttack(t)
	a.srv.Run("ip", "link", "set", "veth-s", "promisc", "on")
	const n = 20
	other := [6]byte{0x02, 0, 0, 0, 0, 0x99}
	for _, src := range []netip.Addr{cli4, netip.MustParseAddr("fd00::2")} {
		before := a.passed("martian")
		if got := a.send(a.frame(src, 40053, other), n); got != 0 {
			t.Errorf("%s to another MAC: %d answers, want none", src, got)
		}
		if d := a.passed("martian") - before; d != n {
			t.Errorf("%s to another MAC: martian counter moved by %v, want %d", src, d, n)
		}
	}
	a.dropKernelDNS()
	for _, dst := range [][6]byte{a.smac, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if got := a.send(a.frame(cli4, 40053, dst), 1); got != 1 {
			t.Errorf("to MAC %x: %d answers, want 1 through AF_XDP", dst, got)
		}
	}
}

// TestRPFilter: the kernel's reverse-path filter is followed, strict and
// loose, as it changes. The server reaches 198.18.1.0/24 through veth-su,
// and has no route at all to 198.19.200.0/24.
func TestRPFilter(t *testing.T) {
	a := newAttack(t)
	spoofed := netip.MustParseAddr("198.18.1.7")      // routed out of veth-su
	unroutable := netip.MustParseAddr("198.19.200.1") // no route
	set := func(all, dev int) {
		a.srv.Run("sysctl", "-qw", fmt.Sprintf("net.ipv4.conf.all.rp_filter=%d", all), fmt.Sprintf("net.ipv4.conf.veth-s.rp_filter=%d", dev))
		time.Sleep(1500 * time.Millisecond) // followed within a second
	}
	refused := func(src netip.Addr) {
		t.Helper()
		const n = 20
		rp, pending, redirected := a.passed("rp_filter"), a.passed("route_pending"), a.redirected()
		if got := a.send(a.frame(src, 40053, a.smac), n); got != 0 {
			t.Errorf("%s: %d answers, want none", src, got)
		}
		drp, dpending := a.passed("rp_filter")-rp, a.passed("route_pending")-pending
		if drp == 0 || drp+dpending != n || a.redirected() != redirected {
			t.Errorf("%s: rp_filter +%v, route_pending +%v, redirected +%v; want rp_filter > 0, %d in all, none redirected",
				src, drp, dpending, a.redirected()-redirected, n)
		}
	}

	set(0, 1) // strict, per interface: the larger value applies
	refused(spoofed)
	set(2, 0) // loose
	refused(unroutable)
	// Loose accepts what is routable at all, but the server's route to it
	// leaves by veth-su: the kernel answers it, there, and it is counted
	// as routed elsewhere (TestRouting has the whole story).
	elsewhere := func(what string) {
		t.Helper()
		a.send(a.frame(spoofed, 40053, a.smac), 1) // asked about meanwhile
		before, redirected := a.passed("routed_elsewhere"), a.redirected()
		if got := a.send(a.frame(spoofed, 40053, a.smac), 5); got != 0 {
			t.Errorf("%s, routable %s: %d answers on the client's link, want none", what, spoofed, got)
		}
		if d := a.passed("routed_elsewhere") - before; d != 5 || a.redirected() != redirected {
			t.Errorf("%s, routable %s: routed_elsewhere +%v, redirected +%v; want 5 and 0", what, spoofed, d, a.redirected()-redirected)
		}
	}
	elsewhere("loose")

	// Off: the same.
	set(0, 0)
	a.dropKernelDNS()
	elsewhere("rp_filter off")
	// Strict again, for an ordinary client: answered through AF_XDP from
	// the second query on.
	set(1, 1)
	a.send(a.frame(cli4, 40053, a.smac), 1)
	time.Sleep(50 * time.Millisecond)
	if got := a.send(a.frame(cli4, 40053, a.smac), 3); got != 3 {
		t.Errorf("strict, ordinary client: %d answers through AF_XDP, want 3", got)
	}
}
