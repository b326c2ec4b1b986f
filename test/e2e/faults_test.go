package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
)

// TestInterfaceDownUp: the interface goes down and comes back; the server
// keeps its program and sockets and answers through AF_XDP again.
func TestInterfaceDownUp(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	srv := tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone))
	tb.waitAFXDP(srv4)
	tb.srv.Run("ip", "link", "set", "veth-s", "down")
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	if _, err := tb.query(tb.cli, srv4, 53, m, "udp"); err == nil {
		t.Error("answered while the interface was down")
	}
	tb.srv.Run("ip", "link", "set", "veth-s", "up")
	// Linux drops an interface's static IPv6 addresses when it goes down
	// (keep_addr_on_down=0); put it back as an operator's tooling would.
	// afxdp follows: the wildcard listener serves it again.
	tb.srv.Addr("veth-s", netns.Srv6.String())
	before := tb.redirected()
	tb.waitAFXDP(srv4)
	tb.waitAFXDP(srv6)
	if after := tb.redirected(); after < before+2 {
		t.Errorf("after down/up: redirected %v -> %v", before, after)
	}
	if !tb.xdpAttached() {
		t.Error("the XDP program is gone after down/up")
	}
	if strings.Contains(srv.output(), "panic") {
		t.Errorf("panic:\n%s", srv.output())
	}
}

// TestUpstreamGone: with the upstream dead, cache hits are still answered
// and a miss gets SERVFAIL from forward, as on the kernel path; nothing
// hangs.
func TestUpstreamGone(t *testing.T) {
	tb, ups := newResolver(t, 2, "") // www.example.org A is cached
	ups.signal(syscall.SIGKILL)
	ups.waitExit(5 * time.Second)
	if r := tb.ask(srv4, "www.example.org.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("cache hit with the upstream gone: %v", r)
	}
	m := new(dns.Msg)
	m.SetQuestion("mail.example.org.", dns.TypeA)
	r, err := tb.queryTimeout(tb.cli, addrPort(srv4, 53), m, "udp", 8*time.Second)
	if err != nil {
		t.Fatalf("miss with the upstream gone: %v", err)
	}
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("miss with the upstream gone: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if r := tb.ask(srv6, "www.example.org.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("cache hit after the failed miss: %v", r)
	}
}

// TestPendingExhausted: slow misses take every pending slot of the queue.
// New queries are handed to the kernel listener instead of being dropped
// or blocking the receive loop, every one is answered, and afterwards the
// queue serves through AF_XDP again.
func TestPendingExhausted(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.upstream(fmt.Sprintf(`slow.example:53 {
    bind %s
    erratic {
        delay 1 1s
    }
}
`, ups4))
	// Without hot answers: the queue is handed to the kernel while blocked
	// misses hold its slots (TestMissStormHotAnswers has them on).
	tb.start(tb.srv, fmt.Sprintf(`.:53 {
    afxdp veth-s {
        batch 16
        pending 32
        workers 64
        hot off
    }
    cache
    forward . %s
    prometheus 127.0.0.1:9153
}
`, ups4))
	tb.waitAFXDP(srv4)
	wait := tb.slowQueries(100, "s", 10*time.Second, true)
	time.Sleep(500 * time.Millisecond)
	for range 10 { // hits, meanwhile: through the kernel while handed off
		tb.ask(srv4, "www.example.org.", dns.TypeA)
	}
	for _, err := range wait() {
		t.Errorf("slow query: %v", err)
	}
	m := tb.metrics(tb.srv, 9153)
	if t.Failed() {
		t.Logf("metrics:\n%s", moved("", m, "coredns_"))
	}
	if v := metric(m, "coredns_afxdp_handoffs_total"); v < 1 {
		t.Errorf("handoffs_total %v: the queue was never handed to the kernel", v)
	}
	if v := metric(m, "coredns_afxdp_dropped_total"); v != 0 {
		t.Errorf("dropped_total %v, want 0", v)
	}
	before := tb.redirected()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && tb.redirected() == before; {
		tb.ask(srv4, "www.example.org.", dns.TypeA)
	}
	if tb.redirected() == before {
		t.Error("the queue did not come back from the kernel")
	}
}

// TestMissStormHotAnswers: misses blocked on a slow upstream hold every
// slot; hot answers keep flowing from the receive loop, the queue is not
// handed to the kernel, and the misses that find no slot are shed and
// counted.
func TestMissStormHotAnswers(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.upstream(fmt.Sprintf("slow.example:53 {\n    bind %s\n    erratic {\n        delay 1 1s\n    }\n}\n", ups4))
	tb.dropKernelDNS()
	tb.start(tb.srv, fmt.Sprintf(".:53 {\n    afxdp veth-s {\n        batch 16\n        pending 32\n        workers 64\n    }\n    cache\n    forward . %s\n    prometheus 127.0.0.1:9153\n}\n", ups4))
	tb.waitAFXDP(srv4)
	for range 3 { // www.example.org A: cached, then hot
		tb.ask(srv4, "www.example.org.", dns.TypeA)
	}
	before, hot := tb.metrics(tb.srv, 9153), tb.hotHits()
	wait := tb.slowQueries(100, "s", 3*time.Second, false)
	time.Sleep(300 * time.Millisecond)
	for k := range 50 { // hits, meanwhile: all answered, hot
		if r := tb.ask(srv4, "www.example.org.", dns.TypeA); len(r.Answer) != 1 {
			t.Fatalf("hit %d during the storm: %v", k, r)
		}
	}
	if d := tb.hotHits() - hot; d != 50 {
		t.Errorf("%v of 50 hits during the storm answered hot", d)
	}
	wait()
	after := tb.metrics(tb.srv, 9153)
	if d := metric(after, "coredns_afxdp_handoffs_total") - metric(before, "coredns_afxdp_handoffs_total"); d != 0 {
		t.Errorf("handed to the kernel %v times during a miss storm with hot answers", d)
	}
	if d := metric(after, "coredns_afxdp_dropped_total", `reason="overload"`) - metric(before, "coredns_afxdp_dropped_total", `reason="overload"`); d < 1 {
		t.Errorf("no miss was shed (overload +%v) though 100 blocked on 32 slots", d)
	}
}

// TestTransitIsForwarded: a query routed through the server to another host
// is forwarded by the kernel, never answered by afxdp.
func TestTransitIsForwarded(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.srv.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	tb.cli.Run("ip", "route", "add", netns.Ups4.Masked().String(), "via", srv4.String())
	tb.ups.Run("ip", "route", "add", netns.Cli4.Masked().String(), "via", netns.SU4.Addr().String())
	ups := tb.upstream("")
	tb.start(tb.srv, ".:53 {\n afxdp veth-s\n whoami\n prometheus 127.0.0.1:9153\n}\n")
	tb.waitAFXDP(srv4)
	before := tb.metrics(tb.srv, 9153)
	r := tb.ask(ups4, "www.example.org.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.18.10.1" {
		t.Fatalf("transit query: %v (want the upstream's authoritative answer)", r)
	}
	after := tb.metrics(tb.srv, 9153)
	if d := metric(after, "coredns_afxdp_xdp_passed_total", `reason="other_address"`) - metric(before, "coredns_afxdp_xdp_passed_total", `reason="other_address"`); d != 1 {
		t.Errorf("other_address moved by %v, want 1", d)
	}
	if d := metric(after, "coredns_afxdp_rx_frames_total") - metric(before, "coredns_afxdp_rx_frames_total"); d != 0 {
		t.Errorf("afxdp received %v frames of transit traffic", d)
	}
	// The log line may reach us a moment after the answer.
	if !ups.waitFor(cli4.String()+":", time.Second) {
		t.Errorf("the upstream did not see the client's query:\n%s", ups.output())
	}
}

// TestMTUFollowed: the interface's MTU is lowered while large answers are
// being asked for; from the first query after the change is seen, they are
// answered truncated to fit (TC, then TCP), not sent too large and lost.
func TestMTUFollowed(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	tb.upstream(sizesZone(t, []int{1350}))
	tb.start(tb.srv, hotCorefile)
	tb.waitAFXDP(srv4)
	m := new(dns.Msg)
	m.SetQuestion("s1350.sizes.example.", dns.TypeTXT)
	m.SetEdns0(4096, false)
	r, err := tb.query(tb.cli, srv4, 53, m, "udp")
	if err != nil || r.Truncated || len(r.Answer) != 1 {
		t.Fatalf("at MTU 1500: %v %v, want the whole answer", r, err)
	}
	tb.srv.Run("ip", "link", "set", "veth-s", "mtu", "1280")
	time.Sleep(100 * time.Millisecond) // the change is announced over rtnetlink
	for k := range 5 {
		r, err := tb.query(tb.cli, srv4, 53, m, "udp")
		if err != nil {
			t.Fatalf("query %d at MTU 1280: %v", k, err)
		}
		if !r.Truncated {
			t.Fatalf("query %d at MTU 1280: not truncated: %d bytes", k, r.Len())
		}
	}
}

// TestQueueCountFollowed: the RX queue count grows at runtime (ethtool -L,
// within what the veth was made with); afxdp reopens the interface and
// serves every queue, without a restart and without losing a query (the
// kernel listener answers while the sockets are swapped). The kernel
// refuses to take away a queue an AF_XDP socket is bound to, so a count
// only shrinks once afxdp is gone from it.
func TestQueueCountFollowed(t *testing.T) {
	tb := newTestbed(t, 2)
	// Native XDP on veth needs the receiver's RX queues to cover the
	// sender's TX queues: shrink the client's side first, grow it last.
	tb.cli.Run("ethtool", "-L", "veth-c", "rx", "1", "tx", "1")
	tb.srv.Run("ethtool", "-L", "veth-s", "rx", "1", "tx", "1")
	tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone))
	tb.waitAFXDP(srv4)
	queues := func() float64 { return metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_queues") }
	if q := queues(); q != 1 {
		t.Fatalf("%v queues at start, want 1", q)
	}
	l := tb.steadyLoad(4*time.Second, 4, time.Millisecond)
	time.Sleep(time.Second)
	tb.srv.Run("ethtool", "-L", "veth-s", "rx", "2", "tx", "2")
	tb.cli.Run("ethtool", "-L", "veth-c", "rx", "2", "tx", "2")
	deadline := time.Now().Add(3 * time.Second)
	for queues() != 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if q := queues(); q != 2 {
		t.Fatalf("after ethtool -L 2: %v queues served", q)
	}
	l.wait()
	// veth_set_channels, with an XDP program attached, deletes the NAPI
	// contexts of the queues it reconfigures (veth_disable_range_safe ->
	// veth_napi_del_range), and the frames in their rings are freed
	// uncounted: a query or two in flight at that instant is the driver's
	// loss, not afxdp's (the reopen itself is covered by the kernel path).
	if l.lost() > 2 {
		t.Errorf("lost %d of %d queries across the queue count change", l.lost(), l.sent.Load())
	}
	// Both queues answer through AF_XDP: many sockets, many source ports,
	// spread over the queues by the veth's hash.
	m := tb.metrics(tb.srv, 9153)
	before := []float64{metric(m, "coredns_afxdp_rx_frames_total", `queue="0"`), metric(m, "coredns_afxdp_rx_frames_total", `queue="1"`)}
	tb.dropKernelDNS()
	for range 40 {
		tb.ask(srv4, "www.example.org.", dns.TypeA)
	}
	m = tb.metrics(tb.srv, 9153)
	for q, b := range before {
		if metric(m, "coredns_afxdp_rx_frames_total", fmt.Sprintf(`queue="%d"`, q)) == b {
			t.Errorf("queue %d received nothing after the change", q)
		}
	}
}
