package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Hot answers: repeated cache hits answered in the receive loop without the
// plugin chain. Each test compares them with the chain's own answer to the
// same query at the same moment: the chain's is asked for over loopback,
// which reaches the same server (and so the same cache) through the kernel.

// hotCorefile is what operators of a caching resolver run.
var hotCorefile = fmt.Sprintf(`.:53 {
    afxdp veth-s
    errors
    cache
    forward . %s
    prometheus 127.0.0.1:9153
}
`, ups4)

// sizesZone writes a zone of TXT answers whose replies (uncompressed, no
// OPT) are n bytes long, for n around the chain's size limits, and returns
// the upstream Corefile block that serves it.
func sizesZone(t *testing.T, sizes []int) string {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("$ORIGIN sizes.example.\n@ 3600 IN SOA ns hostmaster 1 7200 3600 1209600 3600\n@ 3600 IN NS ns\nns 3600 IN A 198.18.1.2\n")
	for _, n := range sizes {
		name := fmt.Sprintf("s%d.sizes.example.", n)
		fmt.Fprintf(&b, "s%d 3600 IN TXT %s\n", n, txtOfReply(t, name, n))
	}
	path := filepath.Join(dir, "sizes.zone")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	return fmt.Sprintf("sizes.example:53 {\n    bind %s\n    file %s\n}\n", ups4, path)
}

// txtOfReply is the TXT rdata (presentation) that makes the answer to a TXT
// query for name exactly n bytes long, uncompressed.
func txtOfReply(t *testing.T, name string, n int) string {
	for l := 0; l < n; l++ {
		var chunks []string
		for rest := l; rest > 0; rest -= 255 {
			chunks = append(chunks, strings.Repeat("x", min(rest, 255)))
		}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		m.Response = true
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 3600}, Txt: chunks}}
		if m.Len() == n {
			return `"` + strings.Join(chunks, `" "`) + `"`
		}
		if m.Len() > n {
			break
		}
	}
	t.Fatalf("no TXT makes a %d-byte answer for %s", n, name)
	return ""
}

// rawExchange sends the packed query from a fresh UDP socket in ns and
// returns the raw answer.
func rawExchange(tb *testbed, ns interface {
	Do(func() error) error
}, server netip.AddrPort, query []byte) ([]byte, error) {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.Dial("udp", server.String())
		return err
	}); err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// sameButTTL compares two raw answers: the same bytes once IDs are zeroed
// and each record's TTL, which may differ by one second, is made equal.
func sameButTTL(a, b []byte) error {
	if len(a) != len(b) {
		return fmt.Errorf("lengths differ: %d and %d bytes", len(a), len(b))
	}
	ma, mb := new(dns.Msg), new(dns.Msg)
	if err := ma.Unpack(a); err != nil {
		return err
	}
	if err := mb.Unpack(b); err != nil {
		return err
	}
	ra, rb := append(append(ma.Answer, ma.Ns...), ma.Extra...), append(append(mb.Answer, mb.Ns...), mb.Extra...)
	if len(ra) != len(rb) {
		return fmt.Errorf("record counts differ")
	}
	for i := range ra {
		if ra[i].Header().Rrtype == dns.TypeOPT {
			continue
		}
		d := int64(ra[i].Header().Ttl) - int64(rb[i].Header().Ttl)
		if d < -1 || d > 1 {
			return fmt.Errorf("TTLs %d and %d", ra[i].Header().Ttl, rb[i].Header().Ttl)
		}
		rb[i].Header().Ttl = ra[i].Header().Ttl
	}
	ma.Id, mb.Id = 0, 0
	pa, _ := ma.Pack()
	pb, _ := mb.Pack()
	if string(pa) != string(pb) {
		return fmt.Errorf("answers differ\n%s\n%s", ma, mb)
	}
	// The header bytes, flags included, as sent.
	if string(a[2:12]) != string(b[2:12]) {
		return fmt.Errorf("headers differ: %x and %x", a[2:12], b[2:12])
	}
	return nil
}

// hotQuery is one query shape of the differential test.
type hotQuery struct {
	name           string
	qtype          uint16
	v6             bool
	edns           uint16 // 0: no OPT
	do, cd, ad, rd bool
	z              uint16 // OPT Z bits
	cookie         bool
	hot            bool // expected to be answered hot
}

func (q hotQuery) String() string {
	return fmt.Sprintf("%s/%s v6=%v edns=%d do=%v cd=%v ad=%v rd=%v z=%#x cookie=%v", q.name, dns.TypeToString[q.qtype],
		q.v6, q.edns, q.do, q.cd, q.ad, q.rd, q.z, q.cookie)
}

func (q hotQuery) pack(id uint16) []byte {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.Id = id
	m.RecursionDesired = q.rd
	m.CheckingDisabled = q.cd
	m.AuthenticatedData = q.ad
	if q.edns > 0 {
		m.SetEdns0(q.edns, q.do)
		o := m.IsEdns0()
		o.Hdr.Ttl |= uint32(q.z)
		if q.cookie {
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
		}
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

// TestHotSameAsChain: for each query shape, a hot answer equals the
// chain's answer to the same query at the same moment, ID aside and TTLs
// within a second; shapes that must not be answered hot are not.
func TestHotSameAsChain(t *testing.T) {
	sizes := []int{500, 512, 520, 1200, 1220, 1240, 1460, 1480, 1500}
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	tb.upstream(sizesZone(t, sizes))
	tb.start(tb.srv, hotCorefile)
	tb.waitAFXDP(srv4)

	queries := hotShapes(sizes)

	answeredHot := 0
	for i, q := range queries {
		server, local := srv4, srv4
		if q.v6 {
			server, local = srv6, srv6
		}
		at := netip.AddrPortFrom(server, 53)
		// Twice through AF_XDP: fill the cache, then the hot table.
		for k := range 2 {
			if _, err := rawExchange(tb, tb.cli, at, q.pack(uint16(1000+4*i+k))); err != nil {
				t.Fatalf("%v: filling: %v", q, err)
			}
		}
		before := tb.hotHits()
		viaXDP, err := rawExchange(tb, tb.cli, at, q.pack(uint16(1000+4*i+2)))
		if err != nil {
			t.Errorf("%v: through AF_XDP: %v", q, err)
			continue
		}
		viaChain, err := rawExchange(tb, tb.srv, netip.AddrPortFrom(local, 53), q.pack(uint16(1000+4*i+3)))
		if err != nil {
			t.Errorf("%v: through the chain: %v", q, err)
			continue
		}
		hot := tb.hotHits() > before
		if hot {
			answeredHot++
		}
		want := q.hot && fitsUncompressed(t, q, viaChain)
		if len(viaChain) > framePayload(q.v6) {
			// Over loopback the chain's answer is longer than one frame on
			// veth-s: through AF_XDP it is truncated (TC), never hot.
			if m := new(dns.Msg); m.Unpack(viaXDP) != nil || !m.Truncated || hot {
				t.Errorf("%v: %d-byte answer: through AF_XDP %d bytes, hot %v; want TC set, not hot", q, len(viaChain), len(viaXDP), hot)
			}
			continue
		}
		if err := sameButTTL(viaXDP, viaChain); err != nil {
			t.Errorf("%v: %v", q, err)
		}
		if hot != want {
			t.Errorf("%v: answered hot %v, want %v", q, hot, want)
		}
	}
	if out := tb.kernelDrops(); !strings.Contains(out, "packets 0 ") {
		t.Errorf("the kernel saw UDP/53 on veth-s:\n%s", out)
	}
	t.Logf("%d of %d query shapes answered hot, each the same as the chain's answer", answeredHot, len(queries))
}

// hotShapes are the query shapes of the differential tests: every header
// bit and OPT variant the hot path keys or echoes, the shapes it must
// leave to the chain, and answers around the chain's size limits.
func hotShapes(sizes []int) []hotQuery {
	var queries []hotQuery
	for _, name := range []string{"www.example.org.", "WwW.eXaMpLe.OrG."} {
		for _, v6 := range []bool{false, true} {
			queries = append(queries,
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, rd: false, hot: true},
				hotQuery{name: name, qtype: dns.TypeAAAA, v6: v6, edns: 1232, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, edns: 4096, do: true, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, edns: 511, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, edns: 1232, z: 0x7f7f, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, edns: 1232, cd: true, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, edns: 1232, do: true, cd: true, ad: true, rd: true, hot: true},
				hotQuery{name: name, qtype: dns.TypeA, v6: v6, edns: 1232, cookie: true, rd: true, hot: false},
			)
		}
	}
	queries = append(queries,
		hotQuery{name: "nosuch.example.org.", qtype: dns.TypeA, rd: true, hot: true},           // NXDOMAIN
		hotQuery{name: "www.example.org.", qtype: dns.TypeMX, edns: 1232, rd: true, hot: true}, // NODATA
		hotQuery{name: "alias.example.org.", qtype: dns.TypeA, rd: true, hot: true},            // CNAME chain
		hotQuery{name: "example.org.", qtype: dns.TypeANY, rd: true, hot: false},
		hotQuery{name: "example.org.", qtype: dns.TypeDS, rd: true, hot: false},
	)
	// Answers around the chain's size limits: hot only where the chain
	// sends them uncompressed and whole (sized below).
	for _, n := range sizes {
		name := fmt.Sprintf("s%d.sizes.example.", n)
		for _, v6 := range []bool{false, true} {
			for _, edns := range []uint16{0, 1232, 4096} {
				queries = append(queries, hotQuery{name: name, qtype: dns.TypeTXT, v6: v6, edns: edns, rd: true, hot: true})
			}
		}
	}

	return queries
}

// framePayload is the largest UDP payload in one 1500-byte frame.
func framePayload(v6 bool) int {
	if v6 {
		return 1500 - 40 - 8
	}
	return 1500 - 20 - 8
}

// fitsUncompressed: does the chain send this answer as it is, neither
// compressed nor truncated? Its size rules: the client's buffer (512
// without EDNS), then 1480 bytes to an IPv4 client and 1220 to an IPv6 one.
func fitsUncompressed(t *testing.T, q hotQuery, answer []byte) bool {
	m := new(dns.Msg)
	if err := m.Unpack(answer); err != nil {
		t.Fatalf("%v: %v", q, err)
	}
	m.Compress = false
	size := 512
	if q.edns > 512 {
		size = int(q.edns)
	}
	limit := 1480
	if q.v6 {
		limit = 1220
	}
	return !m.Truncated && m.Len() <= min(size, limit)
}

func (tb *testbed) hotHits() float64 {
	return metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_hot_hits_total")
}

// seriesDelta is what each sample of the metrics named by prefix moved
// between two scrapes.
func seriesDelta(before, after string, prefixes ...string) map[string]float64 {
	parse := func(text string) map[string]float64 {
		out := map[string]float64{}
		for _, l := range strings.Split(text, "\n") {
			i := strings.LastIndexByte(l, ' ')
			if i < 0 || strings.HasPrefix(l, "#") {
				continue
			}
			for _, p := range prefixes {
				if strings.HasPrefix(l, p) {
					var v float64
					fmt.Sscan(l[i+1:], &v)
					out[l[:i]] = v
				}
			}
		}
		return out
	}
	b, a := parse(before), parse(after)
	d := map[string]float64{}
	for k, v := range a {
		if v != b[k] {
			d[k] = v - b[k]
		}
	}
	return d
}

// TestHotMetrics: N cache hits through the chain and N hot answers move
// every CoreDNS series by the same amount, labels included (the request
// duration's sum aside: the hot path is faster).
func TestHotMetrics(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	tb.upstream("")
	tb.start(tb.srv, hotCorefile)
	tb.waitAFXDP(srv4)
	const n = 20
	prefixes := []string{"coredns_dns_", "coredns_cache_requests_total", "coredns_cache_hits_total"}
	comparable := func(d map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range d {
			if strings.Contains(k, "duration_seconds") && !strings.Contains(k, "duration_seconds_count") {
				continue
			}
			out[k] = v
		}
		return out
	}
	for _, q := range []hotQuery{
		{name: "www.example.org.", qtype: dns.TypeA, rd: true},
		{name: "www.example.org.", qtype: dns.TypeAAAA, edns: 1232, do: true, rd: true},
		{name: "nosuch.example.org.", qtype: dns.TypeA, edns: 4096, rd: true},
	} {
		at := netip.AddrPortFrom(srv4, 53)
		for k := range 2 { // fill the cache, then the hot table
			if _, err := rawExchange(tb, tb.cli, at, q.pack(uint16(k+1))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(400 * time.Millisecond)
		s0, hot0 := tb.metrics(tb.srv, 9153), tb.hotHits()
		for k := range n {
			if _, err := rawExchange(tb, tb.srv, at, q.pack(uint16(100+k))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(400 * time.Millisecond)
		s1, hot1 := tb.metrics(tb.srv, 9153), tb.hotHits()
		for k := range n {
			if _, err := rawExchange(tb, tb.cli, at, q.pack(uint16(200+k))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(400 * time.Millisecond) // hot answers reach the metrics within 250 ms
		s2, hot2 := tb.metrics(tb.srv, 9153), tb.hotHits()
		if hot1 != hot0 || hot2-hot1 != n {
			t.Fatalf("%v: hot hits +%v through the chain, +%v through AF_XDP; want 0 and %d", q, hot1-hot0, hot2-hot1, n)
		}
		chain, hot := comparable(seriesDelta(s0, s1, prefixes...)), comparable(seriesDelta(s1, s2, prefixes...))
		if len(chain) == 0 {
			t.Fatalf("%v: no CoreDNS series moved", q)
		}
		for k, v := range chain {
			if hot[k] != v {
				t.Errorf("%v: %s moved by %v through the chain, %v hot", q, k, v, hot[k])
			}
		}
		for k, v := range hot {
			if _, ok := chain[k]; !ok {
				t.Errorf("%v: %s moved by %v hot only", q, k, v)
			}
		}
		t.Logf("%v: %d series moved alike", q, len(chain))
	}
}

// TestHotEligibility: each plugin that could answer or observe a query
// differently turns hot answers off for its block, and says so once.
func TestHotEligibility(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	tb.upstream("")
	fwd := "forward . " + ups4.String()
	cases := []struct {
		name, corefile, log string
		hotNames            map[string]bool // names answered hot (others not)
	}{
		{"log", ".:53 {\n afxdp veth-s\n log\n cache\n " + fwd + "\n}\n", "hot answers off in server block .:53: log runs ahead of cache", nil},
		{"rewrite", ".:53 {\n afxdp veth-s\n rewrite name mail.example.org www.example.org\n cache\n " + fwd + "\n}\n", "rewrite runs ahead of cache", nil},
		{"loadbalance", ".:53 {\n afxdp veth-s\n loadbalance\n cache\n " + fwd + "\n}\n", "loadbalance runs ahead of cache", nil},
		{"acl", ".:53 {\n afxdp veth-s\n acl {\n  block net 198.18.0.2/32\n }\n cache\n " + fwd + "\n}\n", "acl runs ahead of cache", nil},
		{"no cache", ".:53 {\n afxdp veth-s\n " + fwd + "\n}\n", "no cache in the block", nil},
		{"prefetch", ".:53 {\n afxdp veth-s\n cache {\n  prefetch 2\n }\n " + fwd + "\n}\n", "cache prefetch", nil},
		{"keepttl", ".:53 {\n afxdp veth-s\n cache {\n  keepttl\n }\n " + fwd + "\n}\n", "cache keepttl", nil},
		{"hot off", ".:53 {\n afxdp veth-s {\n  hot off\n }\n cache\n " + fwd + "\n}\n", "", nil},
		{"view", ".:53 {\n afxdp veth-s\n view all {\n  expr true\n }\n cache\n " + fwd + "\n}\n", "hot answers off for listener dns://:53: view", nil},
		// A block without afxdp on the same listener: its zone is off, the
		// rest is on.
		{"block without afxdp", "mail.example.org:53 {\n cache\n " + fwd + "\n}\n.:53 {\n afxdp veth-s\n cache\n " + fwd + "\n}\n", "",
			map[string]bool{"mail.example.org.": false, "www.example.org.": true}},
		{"eligible", ".:53 {\n afxdp veth-s\n errors\n cache\n " + fwd + "\n prometheus 127.0.0.1:9153\n}\n", "",
			map[string]bool{"www.example.org.": true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb.t = t
			// The afxdp metrics, from a server of its own.
			srv := tb.start(tb.srv, c.corefile+"metrics.afxdp:5399 {\n prometheus 127.0.0.1:9153\n whoami\n}\n")
			tb.waitAFXDP(srv4)
			if c.log != "" && !srv.waitFor(c.log, 2*time.Second) {
				t.Errorf("no log line %q:\n%s", c.log, srv.output())
			}
			if c.log != "" && strings.Count(srv.output(), c.log) != 1 {
				t.Errorf("log line %q more than once:\n%s", c.log, srv.output())
			}
			names := c.hotNames
			if names == nil {
				names = map[string]bool{"www.example.org.": false}
			}
			for name, wantHot := range names {
				before := tb.hotHits()
				for range 4 {
					m := new(dns.Msg)
					m.SetQuestion(name, dns.TypeA)
					r, err := tb.query(tb.cli, srv4, 53, m, "udp")
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if c.name == "acl" && r.Rcode != dns.RcodeRefused {
						t.Errorf("acl: a blocked client got %s", dns.RcodeToString[r.Rcode])
					}
				}
				if hot := tb.hotHits() > before; hot != wantHot {
					t.Errorf("%s: answered hot %v, want %v", name, hot, wantHot)
				}
			}
			srv.signal(syscall.SIGTERM)
			srv.waitExit(10 * time.Second)
		})
	}
}

// TestHotTTL: an entry filled k seconds ago answers TTL−k; when the chain
// could already see its item expire, it passes to the chain.
func TestHotTTL(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "ttl.zone")
	z := "$ORIGIN ttl.example.\n@ 3600 IN SOA ns hostmaster 1 7200 3600 1209600 3600\n@ 3600 IN NS ns\nns 3600 IN A 198.18.1.2\nshort 6 IN A 198.18.40.4\n"
	if err := os.WriteFile(path, []byte(z), 0o644); err != nil {
		t.Fatal(err)
	}
	tb.upstream(fmt.Sprintf("ttl.example:53 {\n    bind %s\n    file %s\n}\n", ups4, path))
	tb.start(tb.srv, hotCorefile)
	tb.waitAFXDP(srv4)
	q := hotQuery{name: "short.ttl.example.", qtype: dns.TypeA, rd: true}
	at := netip.AddrPortFrom(srv4, 53)
	ask := func(id uint16) (uint32, bool) {
		t.Helper()
		before := tb.hotHits()
		b, err := rawExchange(tb, tb.cli, at, q.pack(id))
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil || len(m.Answer) != 1 {
			t.Fatalf("answer %v: %v", m, err)
		}
		return m.Answer[0].Header().Ttl, tb.hotHits() > before
	}
	// 6 s: above cache's 5 s floor, so the item keeps the record's TTL.
	const ttl0 = 6
	filled := time.Now()
	if ttl, _ := ask(1); ttl != ttl0 {
		t.Fatalf("first answer TTL %d, want %d (a miss)", ttl, ttl0)
	}
	// Just past each whole second after the fill: TTL−k, hot while that
	// is at least 2.
	for k := range ttl0 {
		time.Sleep(time.Until(filled.Add(time.Duration(k)*time.Second + 100*time.Millisecond)))
		ttl, hot := ask(uint16(10 + k))
		want := uint32(ttl0 - k)
		if hot != (want >= 2) || (ttl != want && ttl != want-1) {
			t.Errorf("%d s after the fill: TTL %d hot %v, want TTL %d (or one less) hot %v", k, ttl, hot, want, want >= 2)
		}
	}
}

// TestHotReload: after a reload that changes an answer, the new one is
// served from the first query on: a new generation starts with an empty
// table, as its cache does.
func TestHotReload(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	const corefile = ".:53 {\n afxdp veth-s\n cache\n template IN A test.example {\n  answer \"{{ .Name }} 60 IN A %s\"\n }\n prometheus 127.0.0.1:9153\n}\n"
	srv := tb.start(tb.srv, fmt.Sprintf(corefile, "198.18.50.1"))
	tb.waitAFXDP(srv4)
	q := hotQuery{name: "www.test.example.", qtype: dns.TypeA, rd: true}
	answer := func() (string, bool) {
		t.Helper()
		before := tb.hotHits()
		b, err := rawExchange(tb, tb.cli, netip.AddrPortFrom(srv4, 53), q.pack(7))
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil || len(m.Answer) != 1 {
			t.Fatalf("answer %v: %v", m, err)
		}
		return m.Answer[0].(*dns.A).A.String(), tb.hotHits() > before
	}
	for range 3 {
		answer()
	}
	if a, hot := answer(); a != "198.18.50.1" || !hot {
		t.Fatalf("before the reload: %s, hot %v; want 198.18.50.1 hot", a, hot)
	}
	if err := os.WriteFile(srv.file, fmt.Appendf(nil, corefile, "198.18.50.2"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.signal(syscall.SIGUSR1)
	if !srv.waitFor("Reloading complete", 10*time.Second) {
		t.Fatalf("no reload:\n%s", srv.output())
	}
	for k := range 4 {
		if a, _ := answer(); a != "198.18.50.2" {
			t.Fatalf("query %d after the reload: %s, want 198.18.50.2", k+1, a)
		}
	}
	if _, hot := answer(); !hot {
		t.Error("after the reload: never answered hot again")
	}
}
