package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// redirected reads the XDP program's redirect counter from the server.
func (tb *testbed) redirected() float64 {
	return metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_xdp_redirected_total")
}

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
	tb.srv.Addr("veth-s", "fd00::1/64")
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
	tb.upstream(`slow.example:53 {
    bind 198.18.1.2
    erratic {
        delay 1 1s
    }
}
`)
	tb.start(tb.srv, `.:53 {
    afxdp veth-s {
        batch 16
        pending 32
        workers 64
    }
    cache
    forward . 198.18.1.2
    prometheus 127.0.0.1:9153
}
`)
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

// TestSIGTERMUnderLoad: SIGTERM while queries stream in ends the process
// cleanly and leaves no program on the interface.
func TestSIGTERMUnderLoad(t *testing.T) {
	tb := newTestbed(t, 2)
	srv := tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n}\n", zone))
	tb.waitAFXDP(srv4)
	if !tb.xdpAttached() {
		t.Fatal("no XDP program on veth-s while serving")
	}
	tb.steadyLoad(3*time.Second, 4, 200*time.Microsecond)
	time.Sleep(time.Second)
	srv.signal(syscall.SIGTERM)
	if code := srv.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if tb.xdpAttached() {
		t.Error("XDP program left after SIGTERM under load")
	}
}

// TestReloadTenTimes reloads ten times under a steady stream, every other
// time with changed afxdp settings: a plain reload swaps the servers and
// keeps the sockets, a changed one reopens the interface while the kernel
// listener answers. Not one query may be lost.
func TestReloadTenTimes(t *testing.T) {
	tb := newTestbed(t, 2)
	const corefile = ".:53 {\n afxdp veth-s {\n  batch %d\n }\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n"
	srv := tb.start(tb.srv, fmt.Sprintf(corefile, 64, zone))
	tb.waitAFXDP(srv4)
	l := tb.steadyLoad(12*time.Second, 4, time.Millisecond)
	time.Sleep(time.Second)
	for i := range 10 {
		if i%2 == 1 {
			if err := os.WriteFile(srv.file, fmt.Appendf(nil, corefile, 32+i, zone), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		srv.signal(syscall.SIGUSR1)
		time.Sleep(time.Second)
	}
	l.wait()
	t.Logf("sent %d, answered %d", l.sent.Load(), l.answered.Load())
	if n := strings.Count(srv.output(), "Reloading complete"); n != 10 {
		t.Errorf("%d reloads completed, want 10", n)
	}
	if n := strings.Count(srv.output(), "settings changed, reopening"); n != 5 {
		t.Errorf("%d reloads reopened the interface, want 5", n)
	}
	if l.lost() != 0 {
		t.Errorf("lost %d of %d queries across 10 reloads (first: %v)", l.lost(), l.sent.Load(), l.firstErr.Load())
	}
	if v := tb.redirected(); v < float64(l.sent.Load())/2 {
		t.Errorf("only %v of %d queries went through AF_XDP", v, l.sent.Load())
	}
	// Still served through AF_XDP after the reloads.
	r1 := tb.redirected()
	tb.ask(srv4, "www.example.org.", dns.TypeA)
	if r2 := tb.redirected(); r2 != r1+1 {
		t.Errorf("after the reloads a query was not redirected (%v -> %v)", r1, r2)
	}
}

// TestTransitIsForwarded: a query routed through the server to another host
// is forwarded by the kernel, never answered by afxdp.
func TestTransitIsForwarded(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.srv.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	tb.cli.Run("ip", "route", "add", "198.18.1.0/24", "via", "198.18.0.1")
	tb.ups.Run("ip", "route", "add", "198.18.0.0/24", "via", "198.18.1.1")
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
	if !strings.Contains(ups.output(), "198.18.0.2:") {
		t.Errorf("the upstream did not see the client's query:\n%s", ups.output())
	}
}
