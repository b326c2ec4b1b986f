package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/plugin/afxdp/route"
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
	a.dropKernelDNS()
	for _, src := range []netip.Addr{cli4, netip.MustParseAddr("fd00::2")} {
		if got := a.firstAnswered(src); got != 1 {
			t.Errorf("ordinary source %s: %d answers, want 1", src, got)
		}
	}
}

// firstAnswered sends one query from src on the link and returns how many
// answers came back. The route is looked up for every query, so the first
// is answered in place, unless the server's kernel has no neighbour entry
// for src yet (it never heard from that address: waitAFXDP talked IPv4
// only): then that query must be counted no_neigh, and the next one, once
// the kernel has resolved src (asked by afxdp), is answered in place.
func (a *attack) firstAnswered(src netip.Addr) int {
	a.t.Helper()
	noNeigh := a.passed("no_neigh")
	got := a.send(a.frame(src, 40053, a.smac), 1)
	if got != 0 {
		return got
	}
	if d := a.passed("no_neigh") - noNeigh; d != 1 {
		a.t.Errorf("%s: no answer and no_neigh moved by %v, want 1", src, d)
		return got
	}
	a.t.Logf("%s: the server had no neighbour entry: the first query went to the kernel", src)
	time.Sleep(time.Second)
	return a.send(a.frame(src, 40053, a.smac), 1)
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

// TestRPFilter: the program answers in place only a query whose reply
// leaves by veth-s; every other one goes to the kernel, which applies its
// reverse-path filter itself. Under each setting (strict, loose and off,
// per interface and for all), for each kind of source, afxdp's outcome
// must agree with the kernel's own verdict on the source (route.Conn's
// InputOK, as `ip route get SRC iif veth-s` asks, is the oracle): answered
// in place only a source the kernel accepts, and a passed query reaches the
// kernel's UDP input exactly when the kernel accepts it. The server
// reaches 198.18.1.0/24 through veth-su, 198.19.5.0/24 through the client
// and 198.19.200.0/24 not at all.
func TestRPFilter(t *testing.T) {
	a := newAttack(t)
	// Counted, not dropped: the input hook sees what passed the kernel's
	// input route lookup, rp_filter included.
	a.srv.Run("nft", `add table inet rpf { chain in { type filter hook input priority 0; iifname "veth-s" udp dport 53 counter; }; }`)
	a.srv.Run("ip", "route", "add", "198.19.5.0/24", "via", cli4.String())
	var conn *route.Conn
	iif := 0
	if err := a.srv.Do(func() error {
		nif, err := net.InterfaceByName("veth-s")
		if err != nil {
			return err
		}
		iif = nif.Index
		conn, err = route.Open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	sources := []struct {
		what   string
		src    netip.Addr
		reason string // the xdp_passed reason; "" for answered in place
	}{
		{"on the link", cli4, ""},
		{"routed through the client", netip.MustParseAddr("198.19.5.9"), ""},
		{"routed out of veth-su", netip.MustParseAddr("198.18.1.7"), "routed_elsewhere"},
		{"unroutable", netip.MustParseAddr("198.19.200.1"), "not_fwded"},
	}
	const n = 5
	accepted := map[bool]int{}
	for _, rp := range []struct {
		name     string
		all, dev int
	}{
		{"strict on veth-s", 0, 1}, {"strict for all", 1, 0}, {"loose", 2, 0},
		{"strict for all, loose on veth-s (the larger applies)", 1, 2}, {"off", 0, 0},
	} {
		a.srv.Run("sysctl", "-qw", fmt.Sprintf("net.ipv4.conf.all.rp_filter=%d", rp.all), fmt.Sprintf("net.ipv4.conf.veth-s.rp_filter=%d", rp.dev))
		for _, s := range sources {
			ok, err := conn.InputOK(iif, s.src, srv4)
			if err != nil {
				t.Fatalf("%s, %s: asking the kernel: %v", rp.name, s.src, err)
			}
			accepted[ok]++
			before, kernel0 := a.metrics(a.srv, 9153), a.kernelInput()
			answers := a.send(a.frame(s.src, 40053, a.smac), n)
			after, kernel := a.metrics(a.srv, 9153), a.kernelInput()-kernel0
			redirected := metric(after, "coredns_afxdp_xdp_redirected_total") - metric(before, "coredns_afxdp_xdp_redirected_total")
			label := fmt.Sprintf("reason=%q", s.reason)
			passed := metric(after, "coredns_afxdp_xdp_passed_total", label) - metric(before, "coredns_afxdp_xdp_passed_total", label)
			where := fmt.Sprintf("rp_filter %s, %s %s (the kernel accepts it: %v)", rp.name, s.what, s.src, ok)
			t.Logf("%s: %v redirected, %v passed, %d at the kernel's input, %d answers", where, redirected, passed, kernel, answers)
			if s.reason == "" {
				if !ok {
					t.Errorf("%s: the kernel refuses it, yet afxdp answers it in place", where)
				}
				if redirected != n || answers != n || kernel != 0 {
					t.Errorf("%s: %v redirected, %d answers, %d at the kernel's input; want %d, %d, 0", where, redirected, answers, kernel, n, n)
				}
				continue
			}
			// Passed: the kernel has the last word, and no answer comes
			// back on this link (the kernel's would leave by veth-su, or
			// find no route).
			want := 0
			if ok {
				want = n
			}
			if redirected != 0 || passed != n || kernel != want || answers != 0 {
				t.Errorf("%s: %v redirected, %s +%v, %d at the kernel's input, %d answers; want 0, %d, %d, 0\n%s",
					where, redirected, s.reason, passed, kernel, answers, n, want, moved(before, after, "coredns_afxdp_xdp"))
			}
		}
	}
	// The matrix holds sources the kernel refuses and sources it accepts.
	if accepted[true] == 0 || accepted[false] == 0 {
		t.Errorf("the kernel accepted %d and refused %d of the sources: the matrix tests nothing", accepted[true], accepted[false])
	}
}

// kernelInput is what rpf's counter in the server's input hook counted.
func (a *attack) kernelInput() int {
	out := a.srv.Run("nft", "list", "chain", "inet", "rpf", "in")
	var p int
	if m := packetsRE.FindStringSubmatch(out); m != nil {
		fmt.Sscan(m[1], &p)
	}
	return p
}

var packetsRE = regexp.MustCompile(`packets (\d+)`)
