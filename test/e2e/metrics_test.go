package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestMetricsCountQueries scrapes /metrics around N queries through AF_XDP
// and one query to a port afxdp does not serve.
func TestMetricsCountQueries(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	tb.start(tb.srv, fmt.Sprintf(`example.org:53 {
    afxdp veth-s
    file %s
    prometheus 127.0.0.1:9153
}
`, zone))
	tb.waitAFXDP(srv4)

	before := tb.metrics(tb.srv, 9153)
	const n = 50
	for i := range n {
		server := srv4
		if i%2 == 1 {
			server = srv6
		}
		tb.ask(server, fmt.Sprintf("h%d.example.org.", i), dns.TypeA)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	tb.query(tb.cli, srv4, 5353, m, "udp") // nothing listens there: no answer expected
	after := tb.metrics(tb.srv, 9153)

	delta := func(name string, labels ...string) float64 {
		return metric(after, name, labels...) - metric(before, name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"coredns_afxdp_rx_frames_total", nil, n},
		{"coredns_afxdp_tx_frames_total", nil, n},
		{"coredns_afxdp_xdp_redirected_total", nil, n},
		{"coredns_afxdp_xdp_passed_total", []string{`reason="other_port"`}, 1},
		{"coredns_dns_requests_total", []string{`proto="udp"`, `server="dns://:53"`}, n},
		{"coredns_dns_responses_total", []string{`rcode="NOERROR"`}, n},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if d := delta("coredns_afxdp_rx_bytes_total"); d < n*60 {
		t.Errorf("rx_bytes moved by %v for %d frames", d, n)
	}
	for _, g := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"coredns_afxdp_queues", nil, 2},
		{"coredns_afxdp_xdp_mode", []string{`mode="native"`}, 1},
		{"coredns_afxdp_zerocopy", nil, 0},
	} {
		if got := metric(after, g.name, g.labels...); got != g.want {
			t.Errorf("%s%v = %v, want %v", g.name, g.labels, got, g.want)
		}
	}
	for _, name := range []string{"coredns_afxdp_xsk_rx_ring_full_total", "coredns_afxdp_dropped_total", "coredns_afxdp_pending", "coredns_afxdp_workers", "coredns_afxdp_tx_free_frames"} {
		if !strings.Contains(after, name+"{") {
			t.Errorf("%s is not exported", name)
		}
	}
}

// TestAddressesFollowInterface adds an address to the served interface while
// CoreDNS runs: a wildcard listener serves it through AF_XDP at once.
func TestAddressesFollowInterface(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone))
	tb.waitAFXDP(srv4)
	tb.srv.Addr("veth-s", "198.18.0.9/24")
	added := srv4.Next().Next().Next().Next().Next().Next().Next().Next() // 198.18.0.9
	var err error
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		m := new(dns.Msg)
		m.SetQuestion("www.example.org.", dns.TypeA)
		if _, err = tb.query(tb.cli, added, 53, m, "udp"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("new address %s not served through AF_XDP: %v", added, err)
	}
	tb.srv.Run("ip", "addr", "del", "198.18.0.9/24", "dev", "veth-s")
	time.Sleep(200 * time.Millisecond)
	if v := metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_served_addresses"); v != 3 {
		t.Errorf("served_addresses %v after removing the address, want 3 (198.18.0.1, fd00::1, the link-local)", v)
	}
}
