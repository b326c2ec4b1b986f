package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/pkt"
)

// The XDP program looks up the reply's route (bpf_fib_lookup) for every
// query: nothing is learnt per source, so a source's first query is
// answered in place as its thousandth is, a route change applies from the
// next query, and a next hop without a neighbour entry is resolved (by
// afxdp asking the kernel) for the next query. These tests hold it to that.

// Sources the server routes through the client (198.19.0.0/16 and
// fd00:19::/64, via the client's address on the link); the client takes
// them all as its own (AnyIP local routes), so a socket can send from any.
var (
	manyNet4 = netip.MustParsePrefix("198.19.0.0/16")
	manyNet6 = netip.MustParsePrefix("fd00:19::/64")
)

// routeThroughClient routes manyNet4 and manyNet6 on the server through
// the client, and makes every address in them the client's own.
func (tb *testbed) routeThroughClient() {
	tb.srv.Run("ip", "route", "add", manyNet4.String(), "via", cli4.String())
	tb.srv.Run("ip", "-6", "route", "add", manyNet6.String(), "via", netns.Cli6.Addr().String())
	tb.cli.Run("ip", "route", "add", "local", manyNet4.String(), "dev", "lo")
	tb.cli.Run("ip", "-6", "route", "add", "local", manyNet6.String(), "dev", "lo")
	// IPv6 binds only to an interface's address without this.
	tb.cli.Run("sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1")
}

// manySource is the client address number k of manyNet4 (or manyNet6).
func manySource(v6 bool, k int) netip.Addr {
	if v6 {
		b := manyNet6.Addr().As16()
		b[12], b[13], b[14], b[15] = byte(k>>24), byte(k>>16), byte(k>>8), byte(k)
		return netip.AddrFrom16(b)
	}
	b := manyNet4.Addr().As4()
	b[2], b[3] = byte(k>>8), byte(k)
	return netip.AddrFrom4(b)
}

// nftCounters lists the packet counters of the rules with a comment in
// table (family inet) of ns, by comment.
func nftCounters(ns *netns.NS, table string) map[string]int {
	out := map[string]int{}
	for _, m := range nftCounterRE.FindAllStringSubmatch(ns.Run("nft", "list", "table", "inet", table), -1) {
		n, _ := strconv.Atoi(m[1])
		out[m[2]] += n
	}
	return out
}

var nftCounterRE = regexp.MustCompile(`counter packets (\d+) bytes \d+.*comment "([^"]+)"`)

// serveFile is the server block the tests here run: example.org from the
// zone file, through afxdp on veth-s.
func serveFile(extra string) string {
	return fmt.Sprintf(".:53 {\n afxdp veth-s%s\n file %s example.org\n prometheus 127.0.0.1:9153\n ready 127.0.0.1:8181\n}\n", extra, zone)
}

// TestManySources: 65,536 sources, each asking about three times, at a
// steady rate from a raw socket on the client's link (the server routes
// them all through the client). Every query is answered, at least 99 % of
// them through AF_XDP and at most 1 % by the kernel's listener (its UDP
// InDatagrams), new sources included: the route check keeps no state per
// source. (Before, with a verdict per source learnt in user space, 94.6 %
// went to the kernel here.)
func TestManySources(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.routeThroughClient()
	// The answers to the sources, counted and dropped as they arrive
	// (the client's kernel has no socket for them).
	tb.cli.Run("nft", `add table inet many { chain pre { type filter hook prerouting priority -300; iifname "veth-c" ip daddr 198.19.0.0/16 udp sport 53 counter drop comment "answers"; }; }`)
	tb.start(tb.srv, serveFile(""))
	tb.waitAFXDP(srv4)

	const (
		sources = 1 << 16
		repeats = 3
		rate    = 20000 // queries a second
		total   = sources * repeats
	)
	raw := tb.sendSocket()
	cmac, smac := mac(tb, tb.cli, "veth-c"), mac(tb, tb.srv, "veth-s")
	query := pkt.Query("www.example.org.", dns.TypeA)

	before, kernel0 := tb.metrics(tb.srv, 9153), kernelDatagrams(tb.srv)
	start := time.Now()
	sent, retried := 0, 0
	for sent < total {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("sent only %d of %d queries in 30 s", sent, total)
		}
		due := min(total, int(time.Since(start).Seconds()*rate)+1)
		for ; sent < due; sent++ {
			// Source k%sources: each one's first query in the first
			// third, again 3.3 s later, and again.
			q := append([]byte(nil), query...)
			q[0], q[1] = byte(sent>>8), byte(sent)
			f := pkt.Frame{Dst: smac, Src: cmac, SrcIP: manySource(false, sent%sources), DstIP: srv4,
				SrcPort: uint16(20000 + sent/sources), DstPort: 53, Payload: q}.Build()
			err := raw.send(f)
			for ; errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN); err = raw.send(f) {
				retried++
				time.Sleep(50 * time.Microsecond)
			}
			if err != nil {
				t.Fatalf("sending query %d: %v", sent, err)
			}
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	// The last answers arrive.
	answers := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if answers = nftCounters(tb.cli, "many")["answers"]; answers >= total {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // nothing more (twice answered) arrives
	answers = nftCounters(tb.cli, "many")["answers"]
	after, kernel := tb.metrics(tb.srv, 9153), kernelDatagrams(tb.srv)-kernel0
	d := func(name string, labels ...string) float64 {
		return metric(after, name, labels...) - metric(before, name, labels...)
	}
	xdp := d("coredns_afxdp_xdp_redirected_total") + d("coredns_afxdp_xdp_answered_total")
	t.Logf("%d queries from %d sources in %v (%.0f/s; %d sends retried): %d answered; %.0f (%.2f %%) over AF_XDP, %d (%.2f %%) by the kernel's listener",
		total, sources, took.Round(time.Millisecond), float64(total)/took.Seconds(), retried, answers,
		xdp, 100*xdp/total, kernel, 100*float64(kernel)/total)
	if m := moved(before, after, "coredns_afxdp_xdp_passed_total"); m != "" {
		t.Logf("passed to the kernel:\n%s", m)
	}
	if xdp < 0.99*total {
		t.Errorf("%.0f of %d queries (%.2f %%) over AF_XDP, want at least 99 %%", xdp, total, 100*xdp/total)
	}
	if float64(kernel) > 0.01*total {
		t.Errorf("%d of %d queries (%.2f %%) reached the kernel's listener, want at most 1 %%", kernel, total, 100*float64(kernel)/total)
	}
	if answers != total {
		t.Errorf("%d answers to %d queries, want every one answered once", answers, total)
	}
	if r := float64(total) / took.Seconds(); r < 0.9*rate {
		t.Errorf("sent at %.0f/s, meant %d/s: the sender could not keep the rate", r, rate)
	}
}

// knowClient has the server resolve the client's addresses on the link,
// the next hop of the sources routeThroughClient routes: the sources are
// new to the server, their next hop is not. (In a network just made, the
// client's first ARP request names the source it is sending from, and its
// first neighbour solicitation may come from its link-local address, so
// the server may have neither entry; TestNoNeighbour has that case.)
func (tb *testbed) knowClient() {
	tb.t.Helper()
	settle(tb)
	for _, a := range []netip.Addr{cli4, netns.Cli6.Addr()} {
		// A datagram to the discard port: the server's kernel resolves
		// the address to send it.
		if err := tb.srv.Do(func() error {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write([]byte("hello"))
			return err
		}); err != nil {
			tb.t.Fatal(err)
		}
		for end := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if strings.Contains(tb.srv.Run("ip", "neigh", "show", a.String(), "dev", "veth-s"), "REACHABLE") {
				break
			}
			if time.Now().After(end) {
				tb.t.Fatalf("the server did not resolve %s", a)
			}
		}
	}
}

// readyAfter polls /ready of the server namespace until it says 200 and
// returns when that was, or fails the test after d (or when c, if it is
// not an upgraded process's parent, has exited).
func (tb *testbed) readyAfter(c *coredns, upgraded bool, d time.Duration) time.Time {
	tb.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if at := time.Now(); readyConfirmed(tb.srv) {
			return at
		}
		select {
		case <-c.exited:
			if !upgraded {
				tb.t.Fatalf("coredns exited before it was ready:\n%s", c.output())
			}
		default:
		}
	}
	tb.t.Fatalf("/ready did not say 200 within %v:\n%s", d, c.output())
	return time.Time{}
}

// readyConfirmed: /ready says 200, and again 20 ms later. CoreDNS's ready
// plugin (v1.15.0, plugin/ready/setup.go) starts its listener in one
// OnStartup function and registers the plugins it asks in a later one: in
// between, asking nobody, it says 200. A poll that lands there (seen here
// on a loaded machine: the process had not yet started afxdp, nor its
// metrics listener) is not readiness; the second poll, after the plugins
// are registered, says 503 until afxdp is ready.
func readyConfirmed(ns *netns.NS) bool {
	if httpStatus(ns, 8181, "/ready") != http.StatusOK {
		return false
	}
	time.Sleep(20 * time.Millisecond)
	return httpStatus(ns, 8181, "/ready") == http.StatusOK
}

// firstQuery sends one query from src (a client address the server never
// heard from) and fails the test unless it is answered at the first try.
func (tb *testbed) firstQuery(what string, src, server netip.Addr) {
	tb.t.Helper()
	if err := tb.askFrom(src, server, "www.example.org.", time.Second); err != nil {
		tb.t.Errorf("%s: the first query from the new source %s: %v", what, src, err)
	}
}

// TestColdStartFirstQuery: right after a cold start (readiness says 200)
// and right after a SIGUSR2 upgrade, the first query from a source the
// server never heard from is answered through AF_XDP (the kernel's UDP/53
// is dropped), ten times each, IPv4 and IPv6. And from exec on, with the
// server's ICMP rate limits off and the kernel's UDP/53 open, a query
// every 20 ms is refused (port unreachable, before anything listens) or
// answered: none is silently lost.
func TestColdStartFirstQuery(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.routeThroughClient()
	tb.dropKernelDNS()
	tb.knowClient()
	src := 0
	next := func(v6 bool) netip.Addr { src++; return manySource(v6, src) }

	var toReady []time.Duration
	for k := range 10 {
		start := time.Now()
		c := tb.launch(tb.srv, serveFile(""))
		toReady = append(toReady, tb.readyAfter(c, false, 10*time.Second).Sub(start))
		r0 := tb.redirected()
		tb.firstQuery(fmt.Sprintf("cold start %d", k+1), next(false), srv4)
		tb.firstQuery(fmt.Sprintf("cold start %d", k+1), next(true), srv6)
		if r := tb.redirected(); r != r0+2 {
			t.Errorf("cold start %d: %v queries redirected, want 2", k+1, r-r0)
		}
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		c.waitExit(10 * time.Second)
		for end := time.Now().Add(3 * time.Second); tb.xdpAttached() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	slices.Sort(toReady)
	t.Logf("cold start to /ready 200: min %v, median %v, max %v", toReady[0].Round(time.Millisecond),
		toReady[len(toReady)/2].Round(time.Millisecond), toReady[len(toReady)-1].Round(time.Millisecond))

	// SIGUSR2 upgrades, as TestUpgradeTenTimes does them.
	dir := t.TempDir()
	bin, pidfile := filepath.Join(dir, "coredns"), filepath.Join(dir, "pid")
	b, err := os.ReadFile(corednsBin)
	if err == nil {
		err = os.WriteFile(bin, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	first := tb.launchWith(tb.srv, serveFile(""), launchOpts{bin: bin, args: []string{"-pidfile", pidfile}})
	killAtEnd(t, func() int { return readPID(pidfile) })
	tb.readyAfter(first, false, 10*time.Second)
	pid := first.cmd.Process.Pid
	var toServe []time.Duration
	for k := range 10 {
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		nextPID := 0
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if p := readPID(pidfile); p != pid && p != 0 && !alive(pid) {
				nextPID = p
				break
			}
		}
		if nextPID == 0 {
			t.Fatalf("upgrade %d: no new process took over from pid %d:\n%s", k+1, pid, first.output())
		}
		pid = nextPID
		tb.readyAfter(first, true, 5*time.Second)
		toServe = append(toServe, time.Since(start))
		r0 := tb.redirected()
		tb.firstQuery(fmt.Sprintf("upgrade %d", k+1), next(false), srv4)
		tb.firstQuery(fmt.Sprintf("upgrade %d", k+1), next(true), srv6)
		if r := tb.redirected(); r != r0+2 {
			t.Errorf("upgrade %d: %v queries redirected, want 2", k+1, r-r0)
		}
	}
	slices.Sort(toServe)
	t.Logf("SIGUSR2 to the old process gone and /ready 200: min %v, median %v, max %v", toServe[0].Round(time.Millisecond),
		toServe[len(toServe)/2].Round(time.Millisecond), toServe[len(toServe)-1].Round(time.Millisecond))
	syscall.Kill(pid, syscall.SIGKILL)
	for end := time.Now().Add(5 * time.Second); (alive(pid) || tb.xdpAttached()) && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}

	// From exec on: nothing lost. Without the rate limits the kernel
	// refuses every query while nothing listens (with them, it answered
	// the first 6 and then went silent).
	tb.srv.Run("nft", "delete", "table", "inet", "afx")
	tb.srv.Run("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0")
	for k := range 3 {
		var mu sync.Mutex
		var wg sync.WaitGroup
		var refused, answered, lost int
		var firstAnswer time.Duration
		var lostErr error
		start := time.Now()
		c := tb.launch(tb.srv, serveFile(""))
		readyc := make(chan time.Duration, 1)
		go func() {
			for time.Since(start) < 5*time.Second {
				if t := time.Since(start); readyConfirmed(tb.srv) {
					readyc <- t
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			readyc <- 0
		}()
		for n := 0; time.Since(start) < 1500*time.Millisecond; n++ {
			sent := time.Since(start)
			server, from := srv4, next(false)
			if n%2 == 1 {
				server, from = srv6, next(true)
			}
			wg.Go(func() {
				err := tb.askFrom(from, server, "www.example.org.", 2*time.Second)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					answered++
					if firstAnswer == 0 || sent < firstAnswer {
						firstAnswer = sent
					}
				case errors.Is(err, syscall.ECONNREFUSED):
					refused++
				default:
					lost++
					if lostErr == nil {
						lostErr = fmt.Errorf("sent %v after exec: %w", sent.Round(time.Millisecond), err)
					}
				}
			})
			time.Sleep(time.Until(start.Add(time.Duration(n+1) * 20 * time.Millisecond)))
		}
		wg.Wait()
		ready := <-readyc
		t.Logf("cold start %d with the kernel listener open: %d queries refused, %d answered, %d lost; the first answered was sent %v after exec (/ready at %v)",
			k+1, refused, answered, lost, firstAnswer.Round(time.Millisecond), ready.Round(time.Millisecond))
		if lost != 0 {
			t.Errorf("cold start %d: %d queries silently lost (first: %v)", k+1, lost, lostErr)
		}
		if refused == 0 || answered == 0 {
			t.Errorf("cold start %d: %d refused and %d answered: want both (the start was not seen)", k+1, refused, answered)
		}
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		c.waitExit(10 * time.Second)
		for end := time.Now().Add(3 * time.Second); tb.xdpAttached() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestRouteChangeFollowed: the server's route to a client moves from L1
// (veth-s, where afxdp serves) to L2 and back, while the client asks over
// L1. The answer to the very first query after each change leaves by the
// new route's link, and all eight of each round are answered there: over
// L1 through AF_XDP, over L2 by the kernel (routed_elsewhere).
func TestRouteChangeFollowed(t *testing.T) {
	tb := newRouted(t)
	client4, client6 := netip.MustParseAddr("198.18.14.1"), netip.MustParseAddr("fd00:14::1")
	tb.cli.Run("ip", "addr", "add", "198.18.14.1/32", "dev", "lo")
	tb.cli.Run("ip", "addr", "add", "fd00:14::1/128", "dev", "lo")
	// The answers to the client, counted by the link they arrive on.
	tb.cli.Run("nft", `add table inet rc { chain pre { type filter hook prerouting priority -300; `+
		`iifname "veth-c" ip daddr 198.18.14.1 udp sport 53 counter comment "L1v4"; iifname "c2" ip daddr 198.18.14.1 udp sport 53 counter comment "L2v4"; `+
		`iifname "veth-c" ip6 daddr fd00:14::1 udp sport 53 counter comment "L1v6"; iifname "c2" ip6 daddr fd00:14::1 udp sport 53 counter comment "L2v6"; }; }`)
	routes := map[string][2]string{ // by link: the IPv4 and IPv6 next hop
		"L1": {"198.18.10.2", "fd00:10::2"},
		"L2": {"198.18.11.2", "fd00:11::2"},
	}
	via := func(link string, v6 bool) {
		if v6 {
			tb.srv.Run("ip", "-6", "route", "replace", "fd00:14::/64", "via", routes[link][1])
		} else {
			tb.srv.Run("ip", "route", "replace", "198.18.14.0/24", "via", routes[link][0])
		}
	}
	via("L1", false)
	via("L1", true)
	// Served, and the server knows the client's addresses on L1 as
	// neighbours (its IPv6 one too: the client may have solicited the
	// server from its link-local address).
	tb.waitInPlace(rtNear4, rtSrv4)
	tb.waitInPlace(rtNear6, rtSrv6)
	const n = 8
	for _, link := range []string{"L1", "L2", "L1"} {
		for _, c := range []struct {
			fam            string
			client, server netip.Addr
		}{{"v4", client4, rtSrv4}, {"v6", client6, rtSrv6}} {
			other := map[string]string{"L1": "L2", "L2": "L1"}[link]
			before, counts := tb.routeCounts(), nftCounters(tb.cli, "rc")
			via(link, c.fam == "v6")
			for k := range n {
				if err := tb.askFrom(c.client, c.server, "www.example.org.", 2*time.Second); err != nil {
					t.Errorf("route via %s, query %d of %d from %s: %v", link, k+1, n, c.client, err)
				}
				if k == 0 {
					now := nftCounters(tb.cli, "rc")
					if now[link+c.fam]-counts[link+c.fam] != 1 || now[other+c.fam] != counts[other+c.fam] {
						t.Errorf("route via %s: the answer to the first query to %s after the change came over %s %+v -> %+v", link, c.client, other, counts, now)
					}
				}
			}
			d, now := tb.routeCounts().sub(before), nftCounters(tb.cli, "rc")
			on, off := now[link+c.fam]-counts[link+c.fam], now[other+c.fam]-counts[other+c.fam]
			t.Logf("route via %s, %s: answers over %s %d, over %s %d; %+v", link, c.client, link, on, other, off, d)
			if on != n || off != 0 {
				t.Errorf("route via %s: %d answers to %s over %s and %d over %s, want %d and 0", link, on, c.client, link, off, other, n)
			}
			want := routeCounts{redirected: n}
			if link == "L2" {
				want = routeCounts{elsewhere: n}
			}
			if d != want {
				t.Errorf("route via %s, %s: %+v, want %+v", link, c.client, d, want)
			}
		}
	}
}

// TestNoNeighbour: a client on the link whose neighbour entry the server
// lacks (flushed). Its first query goes to the kernel (dropped here), is
// counted no_neigh, and has afxdp ask the kernel to resolve it; the next
// one, a second later, is answered through AF_XDP. A link-local client
// needs no entry: it is answered to the MAC it came from, at once.
func TestNoNeighbour(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	tb.start(tb.srv, serveFile(""))
	settle(tb)
	tb.waitAFXDP(srv4)
	tb.waitAFXDP(srv6)
	counts := func() (noNeigh, redirected, kernel float64) {
		m := tb.metrics(tb.srv, 9153)
		return metric(m, "coredns_afxdp_xdp_passed_total", `reason="no_neigh"`), metric(m, "coredns_afxdp_xdp_redirected_total"),
			float64(kernelDropCount(tb))
	}
	for _, c := range []struct{ client, server netip.Addr }{{cli4, srv4}, {netns.Cli6.Addr(), srv6}} {
		tb.srv.Run("ip", "neigh", "flush", "dev", "veth-s")
		if out := tb.srv.Run("ip", "neigh", "show", c.client.String(), "dev", "veth-s"); strings.TrimSpace(out) != "" && !strings.Contains(out, "FAILED") {
			t.Fatalf("after the flush the server still has a neighbour entry for %s: %s", c.client, out)
		}
		nn0, r0, k0 := counts()
		if err := tb.askFrom(c.client, c.server, "www.example.org.", 500*time.Millisecond); err == nil {
			t.Errorf("%s: the first query without a neighbour entry was answered; want it passed to the kernel (which drops it here)", c.client)
		}
		nn, r, k := counts()
		if nn-nn0 != 1 || r != r0 || k-k0 != 1 {
			t.Errorf("%s, first query: no_neigh +%v, redirected +%v, at the kernel +%v; want 1, 0, 1", c.client, nn-nn0, r-r0, k-k0)
		}
		time.Sleep(time.Second)
		entry := strings.TrimSpace(tb.srv.Run("ip", "neigh", "show", c.client.String(), "dev", "veth-s"))
		if err := tb.askFrom(c.client, c.server, "www.example.org.", time.Second); err != nil {
			t.Errorf("%s: the second query, a second later: %v (neighbour entry %q)", c.client, err, entry)
		}
		nn2, r2, k2 := counts()
		t.Logf("%s: neighbour entry a second after the first query: %q; second query: redirected +%v", c.client, entry, r2-r)
		if nn2 != nn || r2-r != 1 || k2 != k {
			t.Errorf("%s, second query: no_neigh +%v, redirected +%v, at the kernel +%v; want 0, 1, 0", c.client, nn2-nn, r2-r, k2-k)
		}
	}

	// Link-local: the client's to the server's, with no neighbour entry.
	srvLL, cliLL := linkLocal(tb, tb.srv, "veth-s"), linkLocal(tb, tb.cli, "veth-c")
	tb.srv.Run("ip", "neigh", "flush", "dev", "veth-s")
	nn0, r0, _ := counts()
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	var r *dns.Msg
	err := tb.cli.Do(func() error {
		c, err := net.DialUDP("udp6", &net.UDPAddr{IP: cliLL.AsSlice(), Zone: "veth-c"}, &net.UDPAddr{IP: srvLL.AsSlice(), Port: 53, Zone: "veth-c"})
		if err != nil {
			return err
		}
		dc := &dns.Conn{Conn: c}
		defer dc.Close()
		dc.SetDeadline(time.Now().Add(time.Second))
		if err := dc.WriteMsg(m); err != nil {
			return err
		}
		r, err = dc.ReadMsg()
		return err
	})
	nn, rr, _ := counts()
	if err != nil || len(r.Answer) != 1 || nn != nn0 || rr != r0+1 {
		t.Errorf("link-local %s -> %s: %v %v; no_neigh +%v, redirected +%v; want answered in place at once", cliLL, srvLL, r, err, nn-nn0, rr-r0)
	}
}

// kernelDropCount is what the server's kernel dropped of UDP/53 on veth-s
// (dropKernelDNS's counter).
func kernelDropCount(tb *testbed) int {
	var n int
	if m := packetsRE.FindStringSubmatch(tb.kernelDrops()); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	return n
}

// linkLocal is dev's IPv6 link-local address in ns.
func linkLocal(tb *testbed, ns *netns.NS, dev string) netip.Addr {
	tb.t.Helper()
	m := regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/64`).FindStringSubmatch(ns.Run("ip", "-6", "addr", "show", "dev", dev, "scope", "link"))
	if m == nil {
		tb.t.Fatalf("%s has no link-local address", dev)
	}
	return netip.MustParseAddr(m[1])
}

// TestForwardingReset: the route check needs loopback forwarding on.
// afxdp turns it on at start; writing ip_forward or conf.all.forwarding
// (either family) turns it off again, and afxdp sets it back within a
// second or two, saying so, after which queries are answered through
// AF_XDP again. With `forwarding keep` it leaves the setting alone: it
// fails to start, naming the setting, while it is off, and at run time it
// reports a reset and passes the queries to the kernel meanwhile.
func TestForwardingReset(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	lo := func(fam string) string {
		return strings.TrimSpace(tb.srv.Run("sysctl", "-n", "net."+fam+".conf.lo.forwarding"))
	}
	tb.srv.Run("sysctl", "-qw", "net.ipv4.conf.lo.forwarding=0", "net.ipv6.conf.lo.forwarding=0")
	srv := tb.start(tb.srv, serveFile(""))
	for _, s := range []string{"net.ipv4.conf.lo.forwarding", "net.ipv6.conf.lo.forwarding"} {
		if !srv.waitFor("set "+s+"=1", time.Second) {
			t.Errorf("no log line saying %s was set", s)
		}
	}
	tb.waitAFXDP(srv4)
	tb.waitAFXDP(srv6)
	if lo("ipv4") != "1" || lo("ipv6") != "1" {
		t.Fatalf("loopback forwarding %s/%s after the start, want 1/1", lo("ipv4"), lo("ipv6"))
	}
	fwdDisabled := func() float64 {
		return metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_xdp_passed_total", `reason="fwd_disabled"`)
	}
	for _, c := range []struct {
		write, fam string
		server     netip.Addr
		client     netip.Addr
	}{
		{"net.ipv4.ip_forward", "ipv4", srv4, cli4},
		{"net.ipv4.conf.all.forwarding", "ipv4", srv4, cli4},
		{"net.ipv6.conf.all.forwarding", "ipv6", srv6, netns.Cli6.Addr()},
	} {
		logged := strings.Count(srv.output(), "was reset to 0")
		f0, r0 := fwdDisabled(), tb.redirected()
		tb.srv.Run("sysctl", "-qw", c.write+"=1")
		tb.srv.Run("sysctl", "-qw", c.write+"=0")
		reset := time.Now()
		// A query at once finds loopback forwarding off (unless afxdp's
		// once-a-second check came in between): passed to the kernel,
		// which drops it here.
		early := tb.askFrom(c.client, c.server, "www.example.org.", 200*time.Millisecond) == nil
		if f := fwdDisabled(); !early && f != f0+1 {
			t.Errorf("%s: the query right after the reset was lost but fwd_disabled moved by %v, want 1", c.write, f-f0)
		}
		var back time.Duration
		for time.Since(reset) < 3*time.Second {
			if strings.Count(srv.output(), "was reset to 0") > logged && lo(c.fam) == "1" {
				back = time.Since(reset)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if back == 0 {
			t.Errorf("%s=0: net.%s.conf.lo.forwarding is %s and no log line 3 s later", c.write, c.fam, lo(c.fam))
			continue
		}
		r1 := tb.redirected()
		for k := range 5 {
			if err := tb.askFrom(c.client, c.server, "www.example.org.", time.Second); err != nil {
				t.Errorf("%s, after afxdp set it back: query %d: %v", c.write, k+1, err)
			}
		}
		if r := tb.redirected(); r != r1+5 {
			t.Errorf("%s, after afxdp set it back: %v of 5 queries redirected", c.write, r-r1)
		}
		t.Logf("%s=1 then 0: set back and logged %v later; the query at once was answered: %v; fwd_disabled +%v, redirected +%v",
			c.write, back.Round(time.Millisecond), early, fwdDisabled()-f0, tb.redirected()-r0)
	}
	// The interface's own forwarding was never turned on for good.
	if v := strings.TrimSpace(tb.srv.Run("sysctl", "-n", "net.ipv4.conf.veth-s.forwarding")); v != "0" {
		t.Errorf("net.ipv4.conf.veth-s.forwarding is %s, want 0", v)
	}
	syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
	srv.waitExit(10 * time.Second)
	for end := time.Now().Add(3 * time.Second); tb.xdpAttached() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}

	// forwarding keep: start-up fails while either family's is off.
	keep := serveFile(" {\n  forwarding keep\n }")
	for _, c := range []struct{ v4, v6, want string }{
		{"0", "1", "net.ipv4.conf.lo.forwarding is 0"},
		{"1", "0", "net.ipv6.conf.lo.forwarding is 0"},
	} {
		tb.srv.Run("sysctl", "-qw", "net.ipv4.conf.lo.forwarding="+c.v4, "net.ipv6.conf.lo.forwarding="+c.v6)
		s := tb.launch(tb.srv, keep)
		if code := s.waitExit(10 * time.Second); code == 0 {
			t.Errorf("forwarding keep, lo forwarding %s/%s: exit code 0", c.v4, c.v6)
		}
		if !strings.Contains(s.output(), c.want) {
			t.Errorf("forwarding keep, lo forwarding %s/%s: the output lacks %q:\n%s", c.v4, c.v6, c.want, s.output())
		}
		for _, l := range strings.Split(s.output(), "\n") {
			if strings.Contains(l, c.want) {
				t.Logf("forwarding keep, lo forwarding %s/%s: %s", c.v4, c.v6, l)
			}
		}
		if lo("ipv4") != c.v4 || lo("ipv6") != c.v6 {
			t.Errorf("forwarding keep changed loopback forwarding: %s/%s, was %s/%s", lo("ipv4"), lo("ipv6"), c.v4, c.v6)
		}
		if tb.xdpAttached() {
			t.Error("a failed start left XDP attached")
		}
	}
	// Both on: it serves; a reset at run time is reported, not undone,
	// and the queries go to the kernel meanwhile.
	tb.srv.Run("sysctl", "-qw", "net.ipv4.conf.lo.forwarding=1", "net.ipv6.conf.lo.forwarding=1")
	s := tb.start(tb.srv, keep)
	tb.waitAFXDP(srv4)
	tb.srv.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	tb.srv.Run("sysctl", "-qw", "net.ipv4.ip_forward=0")
	if !s.waitFor("net.ipv4.conf.lo.forwarding is 0", 3*time.Second) {
		t.Errorf("forwarding keep: no report of the reset 3 s later:\n%s", s.output())
	}
	time.Sleep(1500 * time.Millisecond) // another check or two: still left alone
	if lo("ipv4") != "0" {
		t.Errorf("forwarding keep: net.ipv4.conf.lo.forwarding is %s after a reset, want it left 0", lo("ipv4"))
	}
	f0 := fwdDisabled()
	if err := tb.askFrom(cli4, srv4, "www.example.org.", 300*time.Millisecond); err == nil {
		t.Error("forwarding keep, loopback forwarding off: a query was answered; want it passed to the kernel (which drops it here)")
	}
	if f := fwdDisabled(); f != f0+1 {
		t.Errorf("forwarding keep, loopback forwarding off: fwd_disabled moved by %v, want 1", f-f0)
	}
	tb.srv.Run("sysctl", "-qw", "net.ipv4.conf.lo.forwarding=1")
	if err := tb.askFrom(cli4, srv4, "www.example.org.", time.Second); err != nil {
		t.Errorf("forwarding keep, loopback forwarding on again: %v", err)
	}
}
