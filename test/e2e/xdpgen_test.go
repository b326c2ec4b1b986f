package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

// The benchmark's load generator, bench/xdpgen, validated against the
// server's own counters: a real CoreDNS (the Corefile operators run:
// afxdp, errors, cache, forward to the upstream, prometheus), cache hits
// at a fixed rate that every system answers in full, and what xdpgen says
// it sent, got back and with which RCODEs must be what CoreDNS counted.
// And against dnsperf, the generator operators know, at the same rate.

const (
	genRate     = 5000            // queries/s: far below every system's peak (BENCHMARKS.md)
	genDuration = 2 * time.Second // 10,000 queries a run
)

// genQueries is the query set, in kxdpgun's and dnsperf's format ("name
// type"): names of the example zone that come back NOERROR with records,
// NOERROR without (NODATA) and NXDOMAIN, all answered from the cache once
// warm.
var genQueries = []string{
	"www.example.org A", "www.example.org AAAA", "mail.example.org A", "mail.example.org AAAA",
	"ns1.example.org A", "ns1.example.org AAAA", "example.org MX", "example.org TXT", "example.org NS",
	"example.org SOA", "alias.example.org A", "a.wild.example.org A", "_dns._udp.example.org SRV",
	"nx1.example.org A", "nx2.example.org AAAA",
}

// kernelCorefile is hotCorefile without afxdp: CoreDNS on the kernel's
// UDP socket.
var kernelCorefile = strings.Replace(hotCorefile, "    afxdp veth-s\n", "", 1)

func TestKernelCorefile(t *testing.T) {
	if kernelCorefile == hotCorefile || strings.Contains(kernelCorefile, "afxdp") {
		t.Errorf("kernelCorefile still has afxdp:\n%s", kernelCorefile)
	}
}

// genSources are the clients xdpgen sends from, per family; the server
// routes them back through the client's address.
var genSources = map[bool]string{false: "198.19.0.0/24", true: "fd00:19::/120"}

// genBench is a server in the test network, warmed for genQueries, with
// xdpgen built and the query file written.
type genBench struct {
	*testbed
	afxdp   bool
	genBin  string // xdpgen, built
	queries string // the query file
}

func newGenBench(t *testing.T, afxdp bool) *genBench {
	t.Helper()
	tb := newTestbed(t, 1)
	g := &genBench{testbed: tb, afxdp: afxdp, genBin: buildXdpgen(t), queries: queryFile(t)}
	tb.srv.Run("ip", "route", "add", genSources[false], "via", netns.Cli4.Addr().String(), "dev", "veth-s")
	tb.srv.Run("ip", "-6", "route", "add", genSources[true], "via", netns.Cli6.Addr().String(), "dev", "veth-s")
	tb.upstream("")
	if afxdp {
		// Whatever is answered came through AF_XDP: the kernel drops
		// UDP/53 on veth-s (and counts it).
		tb.dropKernelDNS()
		tb.start(tb.srv, hotCorefile)
		tb.waitAFXDP(srv4)
		tb.waitAFXDP(srv6)
	} else {
		tb.start(tb.srv, kernelCorefile)
		if !tb.answers(srv4, 5*time.Second) || !tb.answers(srv6, 5*time.Second) {
			t.Fatal("CoreDNS on the kernel path does not answer")
		}
	}
	// Warm: each query once through the chain, so that every one of the
	// load's is a cache hit.
	for _, q := range genQueries {
		f := strings.Fields(q)
		tb.ask(srv4, dns.Fqdn(f[0]), dns.StringToType[f[1]])
	}
	return g
}

// in is g for subtest t: its failures are t's.
func (g *genBench) in(t *testing.T) *genBench {
	tb := *g.testbed
	tb.t = t
	sub := *g
	sub.testbed = &tb
	return &sub
}

// buildXdpgen builds bench/xdpgen into the test's directory.
func buildXdpgen(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "xdpgen")
	if out, err := exec.Command("go", "build", "-o", bin, "../../bench/xdpgen").CombinedOutput(); err != nil {
		t.Fatalf("building xdpgen: %v\n%s", err, out)
	}
	return bin
}

func queryFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queries.txt")
	if err := os.WriteFile(path, []byte(strings.Join(genQueries, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// genResult is the part of xdpgen's -json output the tests read.
type genResult struct {
	Sent      uint64            `json:"sent"`
	Answered  uint64            `json:"answered"`
	Lost      uint64            `json:"lost"`
	Unmatched uint64            `json:"unmatched"`
	Other     uint64            `json:"other"`
	Behind    uint64            `json:"behind"`
	TxErrors  uint64            `json:"tx_errors"`
	Rcodes    map[string]uint64 `json:"rcodes"`
	XDPMode   string            `json:"xdp_mode"`
}

// xdpgen runs the command in the client's namespace at genRate for
// genDuration, to the server's address of the family, from genSources.
func (g *genBench) xdpgen(v6 bool) genResult {
	g.t.Helper()
	server := srv4
	if v6 {
		server = srv6
	}
	ctx, cancel := context.WithTimeout(context.Background(), genDuration+30*time.Second)
	defer cancel()
	args := []string{"ip", "netns", "exec", g.cli.Name, g.genBin, "-iface", "veth-c", "-server", server.String(),
		"-sources", genSources[v6], "-queries", g.queries, "-rate", fmt.Sprint(genRate), "-duration", genDuration.String(),
		"-timeout", "1s", "-idle", "20us", "-json"}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("xdpgen: %v\n%s", err, stderr.String())
	}
	var r genResult
	if err := json.Unmarshal(out, &r); err != nil {
		g.t.Fatalf("xdpgen's output: %v\n%s", err, out)
	}
	return r
}

// counts are the server's counters that a run of queries moves.
type counts struct {
	requests, responses, cacheHits, cacheMisses float64
	rcodes                                      map[string]float64
	// afxdp's: frames received and replies sent over AF_XDP, frames the
	// XDP program redirected, queries or replies dropped in user space.
	rx, tx, redirected, dropped float64
}

func readCounts(text string) counts {
	c := counts{
		requests:    metric(text, "coredns_dns_requests_total"),
		responses:   metric(text, "coredns_dns_responses_total"),
		cacheHits:   metric(text, "coredns_cache_hits_total"),
		cacheMisses: metric(text, "coredns_cache_misses_total"),
		rx:          metric(text, "coredns_afxdp_rx_frames_total"),
		tx:          metric(text, "coredns_afxdp_tx_frames_total"),
		redirected:  metric(text, "coredns_afxdp_xdp_redirected_total"),
		dropped:     metric(text, "coredns_afxdp_dropped_total"),
		rcodes:      map[string]float64{},
	}
	for _, rc := range dns.RcodeToString {
		if v := metric(text, "coredns_dns_responses_total", `rcode="`+rc+`"`); v != 0 {
			c.rcodes[rc] = v
		}
	}
	return c
}

func (a counts) minus(b counts) counts {
	d := counts{requests: a.requests - b.requests, responses: a.responses - b.responses,
		cacheHits: a.cacheHits - b.cacheHits, cacheMisses: a.cacheMisses - b.cacheMisses,
		rx: a.rx - b.rx, tx: a.tx - b.tx, redirected: a.redirected - b.redirected, dropped: a.dropped - b.dropped,
		rcodes: map[string]float64{}}
	for rc, v := range a.rcodes {
		if v -= b.rcodes[rc]; v != 0 {
			d.rcodes[rc] = v
		}
	}
	return d
}

// settled scrapes the server until its counters have not moved for a
// second and returns them. Hot answers reach CoreDNS's series in batches,
// within 250 ms (within 750 ms from the XDP program): a count read right
// after the load would miss the last batch, so the comparison waits for
// the series to stand still, for at most 10 s.
func (g *genBench) settled() counts {
	g.t.Helper()
	last := readCounts(g.metrics(g.srv, 9153))
	still := time.Now()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		time.Sleep(250 * time.Millisecond)
		c := readCounts(g.metrics(g.srv, 9153))
		if c.requests != last.requests || c.responses != last.responses || c.cacheHits != last.cacheHits || c.rx != last.rx {
			last, still = c, time.Now()
			continue
		}
		if time.Since(still) >= time.Second {
			return c
		}
	}
	g.t.Fatalf("the server's counters still moved 10 s after the load: %+v", last)
	return counts{}
}

// checkRate: xdpgen sent at the rate it was given, for as long (open loop;
// it may lag a little on a busy machine, it never sends more).
func checkRate(t *testing.T, sent uint64) {
	t.Helper()
	want := uint64(genRate * genDuration.Seconds())
	if sent > want || sent < want*9/10 {
		t.Errorf("xdpgen sent %d queries in %s at %d/s, want %d (at least 90 %%)", sent, genDuration, genRate, want)
	}
}

// TestXdpgenCountsMatchServer: xdpgen's counts of a run of cache hits at a
// fixed rate are CoreDNS's own, exactly: every query it sent was a request
// the server counted and a cache hit, every one was answered, and the
// RCODEs it read are the responses the server counted by RCODE. Through
// afxdp (IPv4 and IPv6; the kernel drops UDP/53, and afxdp's own counters
// of frames received, sent and redirected agree too) and through the
// kernel (CoreDNS without afxdp).
//
// Exact, not within a tolerance: the counters are read once they have
// stood still for a second (settled), and nothing else queries the server
// meanwhile, so any difference is a query miscounted by one side.
func TestXdpgenCountsMatchServer(t *testing.T) {
	for _, c := range []struct {
		name  string
		afxdp bool
		v6    []bool
	}{
		{"afxdp", true, []bool{false, true}},
		{"kernel", false, []bool{false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGenBench(t, c.afxdp)
			for _, v6 := range c.v6 {
				t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
					g.in(t).checkRun(t, v6)
				})
			}
		})
	}
}

func (g *genBench) checkRun(t *testing.T, v6 bool) {
	if g.afxdp {
		g.resetKernelDrops()
	}
	before := g.settled()
	r := g.xdpgen(v6)
	d := g.settled().minus(before)
	t.Logf("xdpgen: sent %d, answered %d, lost %d, unmatched %d, behind %d, rcodes %v, XDP %s", r.Sent, r.Answered, r.Lost, r.Unmatched, r.Behind, r.Rcodes, r.XDPMode)
	t.Logf("server: requests %v, responses %v %v, cache hits %v, misses %v; afxdp rx %v, tx %v, redirected %v, dropped %v",
		d.requests, d.responses, d.rcodes, d.cacheHits, d.cacheMisses, d.rx, d.tx, d.redirected, d.dropped)

	checkRate(t, r.Sent)
	if r.Answered != r.Sent || r.Lost != 0 || r.Unmatched != 0 || r.Other != 0 || r.TxErrors != 0 {
		t.Errorf("xdpgen: sent %d, answered %d, lost %d, unmatched %d, other %d, tx errors %d: want every query answered and nothing else",
			r.Sent, r.Answered, r.Lost, r.Unmatched, r.Other, r.TxErrors)
	}
	sent, answered := float64(r.Sent), float64(r.Answered)
	type agree struct {
		what      string
		got, want float64
	}
	checks := []agree{
		{"coredns_dns_requests_total", d.requests, sent},
		{"coredns_dns_responses_total", d.responses, answered},
		{"coredns_cache_hits_total", d.cacheHits, sent},
		{"coredns_cache_misses_total", d.cacheMisses, 0},
	}
	if g.afxdp { // and all of it over AF_XDP
		checks = append(checks,
			agree{"coredns_afxdp_xdp_redirected_total", d.redirected, sent},
			agree{"coredns_afxdp_rx_frames_total", d.rx, sent},
			agree{"coredns_afxdp_tx_frames_total", d.tx, answered},
			agree{"coredns_afxdp_dropped_total", d.dropped, 0})
	}
	for _, m := range checks {
		if m.got != m.want {
			t.Errorf("%s moved by %v; xdpgen says %v", m.what, m.got, m.want)
		}
	}
	for rc, n := range r.Rcodes {
		if d.rcodes[rc] != float64(n) {
			t.Errorf("xdpgen read %d %s answers, the server counted %v", n, rc, d.rcodes[rc])
		}
	}
	for rc, n := range d.rcodes {
		if _, ok := r.Rcodes[rc]; !ok {
			t.Errorf("the server counted %v %s answers, xdpgen read none", n, rc)
		}
	}
	// The query set's NXDOMAINs: a run that read every answer NOERROR
	// parsed no RCODE.
	if r.Rcodes["NXDOMAIN"] == 0 || r.Rcodes["NOERROR"] == 0 {
		t.Errorf("rcodes %v: the query set has NOERROR and NXDOMAIN answers", r.Rcodes)
	}
	if g.afxdp {
		g.allOverAFXDP(t)
	}
}

// allOverAFXDP: the server's kernel saw no UDP/53 on veth-s since the
// last resetKernelDrops (it drops what it sees: dropKernelDNS).
func (g *genBench) allOverAFXDP(t *testing.T) {
	t.Helper()
	if out := g.kernelDrops(); !strings.Contains(out, "packets 0 ") {
		t.Errorf("the kernel saw UDP/53 on veth-s (not all through AF_XDP):\n%s", out)
	}
}

// dnsperfResult is dnsperf's summary.
type dnsperfResult struct {
	sent, completed, lost uint64
	rcodes                map[string]uint64
}

var (
	dnsperfCount  = regexp.MustCompile(`(?m)^\s*Queries (sent|completed|lost):\s+(\d+)`)
	dnsperfRcodes = regexp.MustCompile(`(?m)^\s*Response codes:[ \t]*(.*)$`)
	dnsperfRcode  = regexp.MustCompile(`([A-Z][A-Z0-9]*) (\d+) \(`)
)

// parseDnsperf reads dnsperf's "Statistics:" block: the three query counts
// must all be there, and the response codes line if anything completed.
func parseDnsperf(out string) (dnsperfResult, error) {
	r := dnsperfResult{rcodes: map[string]uint64{}}
	i := strings.LastIndex(out, "Statistics:")
	if i < 0 {
		return r, fmt.Errorf("no Statistics block")
	}
	out = out[i:]
	seen := map[string]bool{}
	for _, m := range dnsperfCount.FindAllStringSubmatch(out, -1) {
		n, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil || seen[m[1]] {
			return r, fmt.Errorf("queries %s: %q", m[1], m[0])
		}
		seen[m[1]] = true
		switch m[1] {
		case "sent":
			r.sent = n
		case "completed":
			r.completed = n
		case "lost":
			r.lost = n
		}
	}
	if len(seen) != 3 {
		return r, fmt.Errorf("want Queries sent, completed and lost; found %v", seen)
	}
	if m := dnsperfRcodes.FindStringSubmatch(out); m != nil {
		for _, rc := range dnsperfRcode.FindAllStringSubmatch(m[1], -1) {
			n, _ := strconv.ParseUint(rc[2], 10, 64)
			r.rcodes[rc[1]] += n
		}
	}
	var sum uint64
	for _, n := range r.rcodes {
		sum += n
	}
	if sum != r.completed {
		return r, fmt.Errorf("response codes %v add up to %d, %d queries completed", r.rcodes, sum, r.completed)
	}
	return r, nil
}

func TestParseDnsperf(t *testing.T) {
	out := `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 198.18.0.1 -d q.txt -l 2 -Q 5000
[Timeout] Query timed out: msg id 85
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         10000
  Queries completed:    9998 (99.98%)
  Queries lost:         2 (0.02%)

  Response codes:       NOERROR 8664 (86.66%), NXDOMAIN 1334 (13.34%)
  Average packet size:  request 33, response 81
  Run time (s):         2.000171
  Queries per second:   4998.572
`
	r, err := parseDnsperf(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.sent != 10000 || r.completed != 9998 || r.lost != 2 || len(r.rcodes) != 2 || r.rcodes["NOERROR"] != 8664 || r.rcodes["NXDOMAIN"] != 1334 {
		t.Errorf("%+v", r)
	}
	for _, bad := range []string{
		"",
		strings.Replace(out, "Statistics:", "Stats:", 1),
		strings.Replace(out, "  Queries lost:         2 (0.02%)\n", "", 1),
		strings.Replace(out, "NXDOMAIN 1334", "NXDOMAIN 1333", 1),
	} {
		if r, err := parseDnsperf(bad); err == nil {
			t.Errorf("parsed %+v from\n%s", r, bad)
		}
	}
	// Nothing completed: no response codes.
	none := "Statistics:\n\n  Queries sent:         100\n  Queries completed:    0 (0.00%)\n  Queries lost:         100 (100.00%)\n\n  Response codes:       \n"
	if r, err := parseDnsperf(none); err != nil || r.sent != 100 || r.completed != 0 || len(r.rcodes) != 0 {
		t.Errorf("%+v, %v", r, err)
	}
}

// dnsperf runs dnsperf in the client's namespace, on the kernel's UDP, at
// genRate for genDuration, with the same query file as xdpgen.
func (g *genBench) dnsperf(bin string) dnsperfResult {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), genDuration+30*time.Second)
	defer cancel()
	args := []string{"ip", "netns", "exec", g.cli.Name, bin, "-s", srv4.String(), "-p", "53", "-d", g.queries,
		"-l", fmt.Sprint(int(genDuration.Seconds())), "-Q", fmt.Sprint(genRate), "-t", "2"}
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		g.t.Fatalf("dnsperf: %v\n%s", err, out)
	}
	r, err := parseDnsperf(string(out))
	if err != nil {
		g.t.Fatalf("dnsperf's output: %v\n%s", err, out)
	}
	return r
}

// within: |got-want| at most frac of want.
func within(got, want, frac float64) bool { return math.Abs(got-want) <= frac*want }

// TestXdpgenAgainstDnsperf: xdpgen and dnsperf, at the same rate with the
// same queries against the same CoreDNS (afxdp, cache hits), one after the
// other: each one's answered count is within 2 % of what the server counted
// for its run, and their answered shares are within 2 points of each
// other. So xdpgen counts as the generator operators know does.
func TestXdpgenAgainstDnsperf(t *testing.T) {
	priv.Require(t)
	bin := priv.Tool(t, "dnsperf", "dnsperf")
	g := newGenBench(t, true)

	before := g.settled()
	x := g.xdpgen(false)
	mid := g.settled()
	p := g.dnsperf(bin)
	after := g.settled()
	dx, dp := mid.minus(before), after.minus(mid)
	t.Logf("xdpgen: sent %d, answered %d, rcodes %v; server: requests %v, responses %v", x.Sent, x.Answered, x.Rcodes, dx.requests, dx.responses)
	t.Logf("dnsperf: sent %d, completed %d, lost %d, rcodes %v; server: requests %v, responses %v", p.sent, p.completed, p.lost, p.rcodes, dp.requests, dp.responses)

	checkRate(t, x.Sent)
	if p.sent == 0 || x.Sent == 0 {
		t.Fatalf("xdpgen sent %d, dnsperf %d", x.Sent, p.sent)
	}
	for _, c := range []struct {
		who             string
		answered, count float64
	}{
		{"xdpgen's answered", float64(x.Answered), dx.requests},
		{"dnsperf's Queries completed", float64(p.completed), dp.requests},
	} {
		if !within(c.answered, c.count, 0.02) {
			t.Errorf("%s %v, the server counted %v requests in its run: more than 2 %% apart", c.who, c.answered, c.count)
		}
	}
	xs, ps := float64(x.Answered)/float64(x.Sent), float64(p.completed)/float64(p.sent)
	if math.Abs(xs-ps) > 0.02 {
		t.Errorf("answered share: xdpgen %.4f, dnsperf %.4f: more than 2 points apart", xs, ps)
	}
	g.allOverAFXDP(t)
}
