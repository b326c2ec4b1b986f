package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestServesIPv4AndIPv6(t *testing.T) {
	tb, _ := newResolver(t, 2, "")

	r := tb.ask(srv4, "www.example.org.", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.18.10.1" {
		t.Fatalf("A over IPv4: %v", r)
	}
	r = tb.ask(srv6, "www.example.org.", dns.TypeAAAA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "fd00:10::1" {
		t.Fatalf("AAAA over IPv6: %v", r)
	}
	if out := tb.kernelDrops(); !strings.Contains(out, "packets 0 ") {
		t.Errorf("the kernel saw UDP/53 on veth-s:\n%s", out)
	}
	m := tb.metrics(tb.srv, 9153)
	if v := metric(m, "coredns_afxdp_xdp_redirected_total"); v < 3 {
		t.Errorf("xdp_redirected_total %v, want >= 3", v)
	}
}

func TestCacheMissThenHit(t *testing.T) {
	tb, ups := newResolver(t, 2, "") // www A is cached; ask for something else

	first := tb.ask(srv4, "mail.example.org.", dns.TypeA)
	if len(first.Answer) != 1 || first.Answer[0].Header().Ttl != 3600 {
		t.Fatalf("first answer (a miss) should carry the zone TTL 3600: %v", first)
	}
	// The upstream's log line comes a moment after its answer.
	if !ups.waitFor("mail.example.org.", time.Second) {
		t.Fatalf("upstream did not log mail.example.org:\n%s", ups.output())
	}
	time.Sleep(1100 * time.Millisecond)
	second := tb.ask(srv6, "mail.example.org.", dns.TypeA)
	if len(second.Answer) != 1 || second.Answer[0].Header().Ttl >= 3600 {
		t.Fatalf("second answer should come from cache with a lower TTL: %v", second)
	}
	if n := strings.Count(ups.output(), "mail.example.org."); n != 1 {
		t.Fatalf("upstream asked %d times: the hit was not served from cache", n)
	}
}

func TestNXDOMAIN(t *testing.T) {
	tb, _ := newResolver(t, 2, "")
	r := tb.ask(srv4, "nosuch.example.org.", dns.TypeA)
	if r.Rcode != dns.RcodeNameError || len(r.Ns) == 0 {
		t.Fatalf("want NXDOMAIN with the SOA: %v", r)
	}
}

func TestTruncationAndTCPRetry(t *testing.T) {
	tb, _ := newResolver(t, 2, "")

	for _, bufsize := range []uint16{0, 1232, 4096} {
		m := new(dns.Msg)
		m.SetQuestion("big.example.org.", dns.TypeTXT)
		if bufsize > 0 {
			m.SetEdns0(bufsize, false)
		}
		r, err := tb.query(tb.cli, srv4, 53, m, "udp")
		if err != nil {
			t.Fatalf("bufsize %d: %v", bufsize, err)
		}
		// 24 TXT records of ~110 bytes fit neither 512, nor 1232, nor one
		// 1500-byte frame (afxdp never fragments; the kernel would).
		if !r.Truncated {
			t.Errorf("bufsize %d: answer of %d bytes without TC", bufsize, r.Len())
		}
		r, err = tb.query(tb.cli, srv4, 53, m, "tcp")
		if err != nil {
			t.Fatalf("TCP retry, bufsize %d: %v", bufsize, err)
		}
		if r.Truncated || len(r.Answer) != 24 {
			t.Errorf("TCP retry, bufsize %d: TC=%v with %d answers, want 24", bufsize, r.Truncated, len(r.Answer))
		}
	}
}

func TestTwoServerBlocks(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	tb.start(tb.srv, fmt.Sprintf(`example.org:53 {
    afxdp veth-s
    file %s
}
example.net:53 {
    afxdp veth-s
    template IN A example.net {
        answer "{{ .Name }} 60 IN A 198.18.20.1"
    }
}
`, zone))
	tb.waitAFXDP(srv4)
	if r := tb.ask(srv4, "www.example.org.", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("example.org block: %v", r)
	}
	if r := tb.ask(srv6, "host.example.net.", dns.TypeA); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.18.20.1" {
		t.Errorf("example.net block: %v", r)
	}
	if r := tb.ask(srv4, "example.com.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("a zone no block serves must be REFUSED: %v", r)
	}
}

func TestACLAndLog(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	srv := tb.start(tb.srv, fmt.Sprintf(`example.org:53 {
    afxdp veth-s
    acl {
        block type A net 198.18.0.2/32
    }
    log
    file %s
}
`, zone))
	tb.waitAFXDP(srv6)
	if r := tb.ask(srv4, "www.example.org.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("acl should refuse A from 198.18.0.2: %v", r)
	}
	if r := tb.ask(srv4, "www.example.org.", dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("acl should allow AAAA: %v", r)
	}
	if r := tb.ask(srv6, "www.example.org.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("acl should allow fd00::2: %v", r)
	}
	if !srv.waitFor(`198.18.0.2:`, time.Second) || !srv.waitFor(`[fd00::2]:`, time.Second) {
		t.Errorf("log does not show the client addresses:\n%s", srv.output())
	}
	if !srv.waitFor(`"A IN www.example.org. udp`, time.Second) {
		t.Errorf("log does not show the query as udp:\n%s", srv.output())
	}
}

func TestSlowUpstreamDoesNotStallHits(t *testing.T) {
	// One queue: the misses and the hits share it.
	tb, _ := newResolver(t, 1, `slow.example:53 {
    bind 198.18.1.2
    erratic {
        delay 1 3s
    }
}
`) // www.example.org is now cached
	wait := tb.slowQueries(30, "m", 6*time.Second, false)
	time.Sleep(300 * time.Millisecond) // the misses are now waiting on the upstream
	start := time.Now()
	for range 20 {
		tb.ask(srv4, "www.example.org.", dns.TypeA)
	}
	// Each hit would wait for the 3 s upstream delay if the misses held the
	// queue; 20 of them in well under one delay show they do not.
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("20 cache hits took %v while misses were pending", took)
	}
	for _, err := range wait() {
		t.Errorf("slow miss: %v", err)
	}
}
