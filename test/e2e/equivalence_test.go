package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestSameAnswerAsKernel asks one server the same questions twice: from the
// client through AF_XDP, and from inside the server's namespace over
// loopback, which reaches the same listener through the kernel. Apart from
// the message ID the answers must be identical.
func TestSameAnswerAsKernel(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS() // on veth-s only: loopback still reaches the kernel listener
	tb.start(tb.srv, fmt.Sprintf(`example.org:53 {
    afxdp veth-s
    file %s
    prometheus 127.0.0.1:9153
}
version.bind:53 {
    afxdp veth-s
    chaos afxdp-test hostmaster@example.org
}
`, zone))
	tb.waitAFXDP(srv4)

	type q struct {
		name   string
		qtype  uint16
		class  uint16
		edns   uint16 // 0: no OPT record
		do     bool
		ednsV  uint8
		cookie bool
	}
	queries := []q{
		{name: "www.example.org.", qtype: dns.TypeA},
		{name: "www.example.org.", qtype: dns.TypeAAAA, edns: 1232},
		{name: "www.example.org.", qtype: dns.TypeA, edns: 4096, do: true},
		{name: "WwW.ExAmPlE.oRg.", qtype: dns.TypeA},
		{name: "example.org.", qtype: dns.TypeSOA},
		{name: "example.org.", qtype: dns.TypeNS, edns: 1232},
		{name: "example.org.", qtype: dns.TypeMX},
		{name: "example.org.", qtype: dns.TypeTXT},
		{name: "example.org.", qtype: dns.TypeANY},
		{name: "example.org.", qtype: dns.TypeDS},
		{name: "example.org.", qtype: dns.TypeDNSKEY, edns: 1232, do: true},
		{name: "alias.example.org.", qtype: dns.TypeA},
		{name: "x.y.wild.example.org.", qtype: dns.TypeA},
		{name: "_dns._udp.example.org.", qtype: dns.TypeSRV},
		{name: "nosuch.example.org.", qtype: dns.TypeA, edns: 1232, do: true},
		{name: "www.example.org.", qtype: dns.TypeHINFO},
		{name: "big.example.org.", qtype: dns.TypeTXT},
		{name: "big.example.org.", qtype: dns.TypeTXT, edns: 1232},
		{name: `a\.b.example.org.`, qtype: dns.TypeA},
		{name: `\000\255.example.org.`, qtype: dns.TypeA},
		{name: strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + ".example.org.", qtype: dns.TypeA},
		{name: "example.com.", qtype: dns.TypeA},
		{name: ".", qtype: dns.TypeNS},
		{name: "version.bind.", qtype: dns.TypeTXT, class: dns.ClassCHAOS},
		{name: "www.example.org.", qtype: dns.TypeA, class: dns.ClassCHAOS},
		{name: "www.example.org.", qtype: dns.TypeA, edns: 1232, ednsV: 1},
		{name: "www.example.org.", qtype: dns.TypeA, edns: 1232, cookie: true},
	}
	for _, query := range queries {
		label := fmt.Sprintf("%s/%s/edns%d/do=%v/v%d", query.name, dns.TypeToString[query.qtype], query.edns, query.do, query.ednsV)
		m := new(dns.Msg)
		m.SetQuestion(query.name, query.qtype)
		if query.class != 0 {
			m.Question[0].Qclass = query.class
		}
		if query.edns > 0 {
			m.SetEdns0(query.edns, query.do)
			m.IsEdns0().SetVersion(query.ednsV)
			if query.cookie {
				m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
			}
		}
		viaXDP, err := tb.query(tb.cli, srv4, 53, m, "udp")
		if err != nil {
			t.Errorf("%s through AF_XDP: %v", label, err)
			continue
		}
		viaKernel, err := tb.query(tb.srv, srv4, 53, m, "udp")
		if err != nil {
			t.Errorf("%s through the kernel: %v", label, err)
			continue
		}
		viaXDP.Id, viaKernel.Id = 0, 0
		if a, b := viaXDP.String(), viaKernel.String(); a != b {
			t.Errorf("%s: answers differ\nAF_XDP:\n%s\nkernel:\n%s", label, a, b)
		}
	}
	if out := tb.kernelDrops(); !strings.Contains(out, "packets 0 ") {
		t.Errorf("the kernel saw UDP/53 on veth-s:\n%s", out)
	}
	m := tb.metrics(tb.srv, 9153)
	if v := metric(m, "coredns_afxdp_xdp_redirected_total"); v < float64(len(queries)) {
		t.Errorf("redirected %v, want >= %d", v, len(queries))
	}
}
