package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

// An asymmetric testbed: the client and the server share two links, L1
// (veth-c — veth-s, where afxdp serves) and L2 (c2 — s2). The client has
// addresses of its own on its loopback that the server reaches in three
// ways: the near one on L1 directly (symmetric), the far one through the
// client's end of L2 (asymmetric: queries come in on L1, replies must
// leave on L2), and the routed one through a router on L1 that is only a
// neighbour entry (another next hop on the same link). The client drops
// answers to the far address that arrive on L1, so only a reply that
// follows the server's routes gets through.
var (
	rtSrv4, rtSrv6       = netip.MustParseAddr("198.18.10.1"), netip.MustParseAddr("fd00:10::1")
	rtNear4, rtNear6     = netip.MustParseAddr("198.18.10.2"), netip.MustParseAddr("fd00:10::2")
	rtFar4, rtFar6       = netip.MustParseAddr("198.18.12.1"), netip.MustParseAddr("fd00:12::1")
	rtRouted4, rtRouted6 = netip.MustParseAddr("198.18.13.1"), netip.MustParseAddr("fd00:13::1")
	rtRouterMAC          = [6]byte{0x02, 0, 0, 0, 0x10, 0x03}
)

func newRouted(t *testing.T) *testbed {
	priv.Require(t)
	tb := &testbed{t: t, cli: netns.New(t, "rcli"), srv: netns.New(t, "rsrv")}
	netns.Veth(t, tb.cli, "veth-c", tb.srv, "veth-s", 1)
	netns.Veth(t, tb.cli, "c2", tb.srv, "s2", 1)
	tb.cli.Addr("veth-c", "198.18.10.2/24", "fd00:10::2/64")
	tb.cli.Addr("c2", "198.18.11.2/24", "fd00:11::2/64")
	tb.cli.Addr("lo", "198.18.12.1/32", "fd00:12::1/128", "198.18.13.1/32", "fd00:13::1/128")
	tb.srv.Addr("veth-s", "198.18.10.1/24", "fd00:10::1/64")
	tb.srv.Addr("s2", "198.18.11.1/24", "fd00:11::1/64")
	// rp_filter off on both sides, whatever the host's defaults a new
	// namespace inherits: the server takes the far client's queries on L1,
	// the client takes the answers to the far address on L2.
	tb.cli.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.veth-c.rp_filter=0", "net.ipv4.conf.c2.rp_filter=0")
	tb.srv.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.veth-s.rp_filter=0", "net.ipv4.conf.s2.rp_filter=0")
	router := net.HardwareAddr(rtRouterMAC[:]).String()
	for _, cmd := range [][]string{
		{"ip", "route", "add", "198.18.12.0/24", "via", "198.18.11.2"},
		{"ip", "route", "add", "fd00:12::/64", "via", "fd00:11::2"},
		{"ip", "route", "add", "198.18.13.0/24", "via", "198.18.10.3"},
		{"ip", "route", "add", "fd00:13::/64", "via", "fd00:10::3"},
		{"ip", "neigh", "add", "198.18.10.3", "lladdr", router, "dev", "veth-s", "nud", "permanent"},
		{"ip", "neigh", "add", "fd00:10::3", "lladdr", router, "dev", "veth-s", "nud", "permanent"},
		// Nothing from the routed client reaches the kernel's listener:
		// its answers came through AF_XDP.
		{"nft", `add table inet afx { chain in { type filter hook input priority 0; iifname "veth-s" ip saddr 198.18.13.0/24 udp dport 53 drop; iifname "veth-s" ip6 saddr fd00:13::/64 udp dport 53 drop; }; }`},
	} {
		tb.srv.Run(cmd...)
	}
	// The client takes answers to the far address only from L2 (by
	// default it would take them from any link: rp_filter is 0).
	tb.cli.Run("nft", `add table inet afx { chain in { type filter hook input priority 0; iifname "veth-c" ip daddr 198.18.12.1 udp sport 53 counter drop; iifname "veth-c" ip6 daddr fd00:12::1 udp sport 53 counter drop; }; }`)
	tb.cli.Run("ip", "link", "set", "veth-c", "promisc", "on")
	settle(tb)
	tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone))
	return tb
}

// settle waits for the links' IPv6 duplicate address detection (of the
// link-local addresses), whose end changes routes and addresses.
func settle(tb *testbed) {
	tb.t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if tb.srv.Run("ip", "-6", "addr", "show", "tentative")+tb.cli.Run("ip", "-6", "addr", "show", "tentative") == "" {
			return
		}
		if time.Now().After(end) {
			tb.t.Fatal("IPv6 addresses still tentative after 5s")
		}
	}
}

// askFrom sends a query from the client's address src to server and waits
// up to wait for the answer (none when wait is 0).
func (tb *testbed) askFrom(src, server netip.Addr, name string, wait time.Duration) error {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	q, err := m.Pack()
	if err != nil {
		return err
	}
	return tb.cli.Do(func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 53)))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(q); err != nil || wait == 0 {
			return err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("%s -> %s: %w", src, server, err)
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil || r.Id != m.Id || r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%s -> %s: bad answer %v (%v)", src, server, r.String(), err)
		}
		return nil
	})
}

// routeCounts are the server's counters that say where queries went.
type routeCounts struct{ redirected, elsewhere, noNeigh float64 }

func (tb *testbed) routeCounts() routeCounts {
	text := tb.metrics(tb.srv, 9153)
	passed := func(reason string) float64 {
		return metric(text, "coredns_afxdp_xdp_passed_total", fmt.Sprintf("reason=%q", reason))
	}
	return routeCounts{metric(text, "coredns_afxdp_xdp_redirected_total"), passed("routed_elsewhere"), passed("no_neigh")}
}

func (c routeCounts) sub(o routeCounts) routeCounts {
	return routeCounts{c.redirected - o.redirected, c.elsewhere - o.elsewhere, c.noNeigh - o.noNeigh}
}

// askAll sends n queries from src and fails the test unless each is
// answered; it returns how the counters moved.
func (tb *testbed) askAll(src, server netip.Addr, n int) routeCounts {
	tb.t.Helper()
	before := tb.routeCounts()
	for k := range n {
		if err := tb.askFrom(src, server, "www.example.org.", 2*time.Second); err != nil {
			tb.t.Errorf("query %d of %d: %v", k+1, n, err)
		}
	}
	return tb.routeCounts().sub(before)
}

// waitInPlace polls until queries from src are answered through AF_XDP:
// afxdp serves a moment after CoreDNS prints its banner.
func (tb *testbed) waitInPlace(src, server netip.Addr) {
	tb.t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		before := tb.routeCounts()
		if tb.askFrom(src, server, "www.example.org.", 500*time.Millisecond) == nil && tb.routeCounts().redirected > before.redirected {
			return
		}
	}
	tb.t.Fatalf("queries from %s to %s never answered through AF_XDP", src, server)
}

// TestRouting: queries whose replies the server routes out of another link
// are all answered, by the kernel, out of that link, and counted as
// routed_elsewhere, from the first on; queries from the client on the link
// are answered through AF_XDP (IPv6 from its first query: the route is
// looked up per query, nothing is learnt per source); a client behind
// another next hop on the link is answered through AF_XDP, to that next
// hop's MAC.
func TestRouting(t *testing.T) {
	tb := newRouted(t)
	const n = 20
	tb.waitInPlace(rtNear4, rtSrv4)
	for _, c := range []struct{ near, far, routed, server netip.Addr }{
		{rtNear4, rtFar4, rtRouted4, rtSrv4},
		{rtNear6, rtFar6, rtRouted6, rtSrv6},
	} {
		if d := tb.askAll(c.near, c.server, n); d.redirected != n || d.elsewhere != 0 || d.noNeigh != 0 {
			t.Errorf("symmetric %s: %+v, want %d redirected, none routed elsewhere", c.near, d, n)
		}
		if d := tb.askAll(c.far, c.server, n); d.redirected != 0 || d.elsewhere != n {
			t.Errorf("asymmetric %s: %+v, want %d routed elsewhere, none redirected", c.far, d, n)
		}
		tb.routedVia(c.routed, c.server)
	}
	if out := tb.cli.Run("nft", "list", "table", "inet", "afx"); len(nonZero.FindAllString(out, -1)) != 0 || !strings.Contains(out, "packets 0 ") {
		t.Errorf("answers to the far address came back on L1:\n%s", out)
	}

	// Loose rp_filter accepts the far client (routable, if not through
	// L1): the program passes it as before and the kernel, applying
	// rp_filter itself, answers out of L2.
	tb.srv.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2")
	if d := tb.askAll(rtFar4, rtSrv4, n); d.redirected != 0 || d.elsewhere != n {
		t.Errorf("asymmetric, loose rp_filter: %+v, want %d routed elsewhere", d, n)
	}
	if d := tb.askAll(rtNear4, rtSrv4, n); d.redirected != n {
		t.Errorf("symmetric, loose rp_filter: %+v, want %d redirected", d, n)
	}
}

// routedVia checks that queries from src, which the server routes through
// the router on L1, are answered through AF_XDP to the router's MAC from
// the server's: the client sees those answers only on the wire (not for
// its MAC), and the server's kernel never sees the queries.
func (tb *testbed) routedVia(src, server netip.Addr) {
	tb.t.Helper()
	raw := tb.rawSocket()
	srvMAC := mac(tb, tb.srv, "veth-s")
	before := tb.routeCounts()
	const n = 10
	answers, wrong := 0, 0
	for end := time.Now().Add(10 * time.Second); answers < n && time.Now().Before(end); {
		if err := tb.askFrom(src, server, "www.example.org.", 0); err != nil {
			tb.t.Fatal(err)
		}
		for _, f := range raw.received(50 * time.Millisecond) {
			if !isAnswer(f.data) {
				continue
			}
			if dst, from := [6]byte(f.data[0:6]), [6]byte(f.data[6:12]); (dst != rtRouterMAC || from != srvMAC || answerTo(f.data) != src) && wrong == 0 {
				wrong++
				tb.t.Errorf("answer to %s: from MAC %x to %x, for %s; want from %x to %x", src, from, dst, answerTo(f.data), srvMAC, rtRouterMAC)
			}
			answers++
		}
	}
	d := tb.routeCounts().sub(before)
	if answers < n || d.redirected < float64(answers) || d.elsewhere != 0 {
		tb.t.Errorf("routed %s: %d answers seen, %+v; want %d answered through AF_XDP", src, answers, d, n)
	}
}

var nonZero = regexp.MustCompile(`packets [1-9]`)

// answerTo is the IP destination of an answer isAnswer accepted.
func answerTo(b []byte) netip.Addr {
	if binary.BigEndian.Uint16(b[12:14]) == 0x0800 {
		return netip.AddrFrom4([4]byte(b[14+16 : 14+20]))
	}
	return netip.AddrFrom16([16]byte(b[14+24 : 14+40]))
}
