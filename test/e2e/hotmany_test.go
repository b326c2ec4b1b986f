package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// manyZone writes a zone of n names, w0 to w(n-1) under many.example,
// each with an A record of its own, and returns the upstream block.
func manyZone(t *testing.T, n int) string {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("$ORIGIN many.example.\n@ 3600 IN SOA ns hostmaster 1 7200 3600 1209600 3600\n@ 3600 IN NS ns\nns 3600 IN A 198.18.1.2\n")
	for i := range n {
		fmt.Fprintf(&b, "w%d 3600 IN A %s\n", i, manyAddr(i))
	}
	path := filepath.Join(dir, "many.zone")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	return fmt.Sprintf("many.example:53 {\n    bind %s\n    file %s\n}\n", ups4, path)
}

func manyAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}) }

// TestHotXDPManyNames: with 10,000 distinct names hot, every one is
// answered by the XDP program once its refresh has taken them in, each
// with its own record and a TTL the chain's or one less, the same bytes
// as the chain's answer (TTL aside) for a sample; and CoreDNS's request
// counter counts every answer.
func TestHotXDPManyNames(t *testing.T) {
	const n = 10000
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	passOnPeer(t, tb)
	tb.upstream(manyZone(t, n))
	// cache's default capacity (9,984 positive items) would not hold them.
	corefile := strings.Replace(hotXDPCorefile, "    cache\n", "    cache {\n        success 20000\n    }\n", 1)
	tb.start(tb.srv, corefile)
	tb.waitAFXDP(srv4)

	var conn net.Conn
	if err := tb.cli.Do(func() (err error) {
		conn, err = net.Dial("udp", netip.AddrPortFrom(srv4, 53).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 1500)
	ask := func(i int, id uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("w%d.many.example.", i), dns.TypeA)
		m.Id = id
		p, _ := m.Pack()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
		for {
			k, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("w%d: %v", i, err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:k]); err != nil {
				t.Fatalf("w%d: %v", i, err)
			}
			if r.Id == id {
				return r
			}
		}
	}
	for i := range n { // fills the cache and the hot table
		ask(i, uint16(i))
	}
	// The refresh takes them into the program within a second.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_hot_xdp_entries") >= n {
			break
		}
	}
	reqBefore := metric(tb.metrics(tb.srv, 9153), "coredns_dns_requests_total")
	before := tb.xdpAnswered()
	for i := range n {
		r := ask(i, uint16(i+1))
		if len(r.Answer) != 1 {
			t.Fatalf("w%d: %v", i, r)
		}
		a, ok := r.Answer[0].(*dns.A)
		if !ok || a.A.String() != manyAddr(i).String() || a.Hdr.Ttl > 3600 || a.Hdr.Ttl < 3590 {
			t.Fatalf("w%d: answered %v", i, r.Answer[0])
		}
	}
	if got := tb.xdpAnswered() - before; got != n {
		t.Errorf("the program answered %v of %d queries for %d hot names", got, n, n)
	}
	// A sample against the chain (the kernel path from the server's own
	// namespace), ID and TTL aside.
	for i := 0; i < n; i += 250 {
		q := new(dns.Msg)
		q.SetQuestion(fmt.Sprintf("w%d.many.example.", i), dns.TypeA)
		p, _ := q.Pack()
		viaXDP, err := rawExchange(tb, tb.cli, netip.AddrPortFrom(srv4, 53), p)
		if err != nil {
			t.Fatal(err)
		}
		viaChain, err := rawExchange(tb, tb.srv, netip.AddrPortFrom(srv4, 53), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameButTTL(viaXDP, viaChain); err != nil {
			t.Errorf("w%d: %v", i, err)
		}
	}
	var got float64
	want := float64(n + 2*(n/250))
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got = metric(tb.metrics(tb.srv, 9153), "coredns_dns_requests_total") - reqBefore; got == want {
			break
		}
	}
	if got != want {
		t.Errorf("coredns_dns_requests_total moved by %v; %v queries were answered", got, want)
	}
}
