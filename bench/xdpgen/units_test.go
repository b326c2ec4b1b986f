package main

import (
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func toAddr(a *[16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(*a)
	}
	return netip.AddrFrom4([4]byte(a[:4]))
}

// TestWalk: a walk stays in the prefix and visits every address once per
// cycle, then starts again.
func TestWalk(t *testing.T) {
	for _, p := range []string{"198.19.0.0/24", "198.19.4.0/30", "198.18.7.9/32", "fd00:19::/120", "fd00:19::/112"} {
		pfx := netip.MustParsePrefix(p)
		s := newSources(pfx, false, 1)
		n := int(s.size())
		seen := map[netip.Addr]bool{}
		var first netip.Addr
		var a [16]byte
		for i := range n {
			s.pick(&a)
			ip := toAddr(&a, pfx.Addr().Is6())
			if i == 0 {
				first = ip
			}
			if !pfx.Contains(ip) {
				t.Fatalf("%s: %s outside", p, ip)
			}
			if seen[ip] {
				t.Fatalf("%s: %s twice in one cycle (pick %d)", p, ip, i)
			}
			seen[ip] = true
		}
		s.pick(&a)
		if ip := toAddr(&a, pfx.Addr().Is6()); ip != first {
			t.Errorf("%s: cycle restarts at %s, want %s", p, ip, first)
		}
	}
	// A prefix wider than 64 host bits: in the prefix, no repeats.
	pfx := netip.MustParsePrefix("fd00:19::/48")
	s := newSources(pfx, false, 1)
	seen := map[netip.Addr]bool{}
	for range 100000 {
		var a [16]byte
		s.pick(&a)
		ip := netip.AddrFrom16(a)
		if !pfx.Contains(ip) || seen[ip] {
			t.Fatalf("%s: %s outside or repeated", pfx, ip)
		}
		seen[ip] = true
	}
}

// TestRandomSources: random draws stay in the prefix and spread over it.
func TestRandomSources(t *testing.T) {
	for _, p := range []string{"198.19.0.0/16", "198.19.0.0/22", "fd00:19::/48", "fd00:19::/118", "0.0.0.0/0"} {
		pfx := netip.MustParsePrefix(p)
		s := newSources(pfx, true, 42)
		seen := map[netip.Addr]bool{}
		for range 4096 {
			var a [16]byte
			s.pick(&a)
			ip := toAddr(&a, pfx.Addr().Is6())
			if !pfx.Contains(ip) {
				t.Fatalf("%s: %s outside", p, ip)
			}
			seen[ip] = true
		}
		// 4096 draws from >= 1024 addresses cover most of a small prefix
		// and repeat little in a large one.
		if len(seen) < 1000 {
			t.Errorf("%s: only %d distinct sources in 4096 draws", p, len(seen))
		}
	}
}

func TestPorts(t *testing.T) {
	p := newPorts(1024, 65535, false, 1)
	seen := make([]bool, 65536)
	for range 65535 - 1024 + 1 {
		v := p.pick()
		if v < 1024 || seen[v] {
			t.Fatalf("port %d outside or twice", v)
		}
		seen[v] = true
	}
	if v := p.pick(); v != 1024 {
		t.Errorf("walk restarts at %d", v)
	}
	r := newPorts(5000, 5009, true, 3)
	for range 1000 {
		if v := r.pick(); v < 5000 || v > 5009 {
			t.Fatalf("random port %d outside 5000-5009", v)
		}
	}
	for _, c := range []struct {
		in     string
		lo, hi uint16
		ok     bool
	}{{"1024-65535", 1024, 65535, true}, {"53", 53, 53, true}, {"0-10", 0, 0, false}, {"10-9", 0, 0, false}, {"1-65536", 0, 0, false}, {"x", 0, 0, false}} {
		lo, hi, err := parsePortRange(c.in)
		if (err == nil) != c.ok || (c.ok && (lo != c.lo || hi != c.hi)) {
			t.Errorf("parsePortRange(%q) = %d, %d, %v", c.in, lo, hi, err)
		}
	}
}

func TestParseStream(t *testing.T) {
	for _, c := range []struct {
		in   string
		p    string
		rate uint64
	}{{"198.19.0.0/16:1000", "198.19.0.0/16", 1000}, {"fd00:19::/48:0", "fd00:19::/48", 0}, {"198.19.0.7:5", "198.19.0.7/32", 5}, {"198.19.1.1/16:3", "198.19.0.0/16", 3}} {
		p, r, err := parseStream(c.in)
		if err != nil || p.String() != c.p || r != c.rate {
			t.Errorf("parseStream(%q) = %s, %d, %v", c.in, p, r, err)
		}
	}
	for _, in := range []string{"198.19.0.0/16", "198.19.0.0/16:x", "nope:5", ":5"} {
		if _, _, err := parseStream(in); err == nil {
			t.Errorf("parseStream(%q) succeeded", in)
		}
	}
}

// TestDue: the pacing arithmetic is floor(e*rate/1e9) exactly, without
// overflow up to the longest run at high rates.
func TestDue(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		rate := rng.Uint64N(1e9)
		e := rng.Int64N(int64(11 * time.Minute))
		want := new(big.Int).Mul(big.NewInt(e), new(big.Int).SetUint64(rate))
		want.Div(want, big.NewInt(1e9))
		if got := due(rate, e); want.Cmp(new(big.Int).SetUint64(got)) != 0 {
			t.Fatalf("due(%d, %d) = %d, want %s", rate, e, got, want)
		}
	}
	for _, rate := range []uint64{1, 3, 2000, 999_999, 1e8} {
		if got := due(rate, int64(time.Second)); got != rate {
			t.Errorf("due(%d, 1s) = %d", rate, got)
		}
		if got := due(rate, int64(10*time.Minute)); got != 600*rate {
			t.Errorf("due(%d, 10m) = %d", rate, got)
		}
	}
	if due(1000, -5) != 0 || due(1000, 0) != 0 {
		t.Error("queries due before the start")
	}
}

// TestPacer: a generator that keeps up sends exactly rate*seconds, evenly;
// one that stalls sends at most the backlog and counts the rest behind;
// wait names the first instant the next query is due.
func TestPacer(t *testing.T) {
	for _, rate := range []uint64{1000, 2000, 33333, 1_000_000} {
		p := pacer{rate: rate, maxBacklog: backlogFor(rate)}
		var sent uint64
		var e int64
		for e = 0; e <= int64(time.Second); e += 37_000 {
			n := p.take(e, 1<<30)
			p.sent(n)
			sent += n
			if d := due(rate, e); sent != d {
				t.Fatalf("rate %d at %dns: sent %d, due %d", rate, e, sent, d)
			}
			if w := p.wait(e); w < 0 || due(rate, e+w) < p.issued+1 || (w > 0 && due(rate, e+w-1) >= p.issued+1) {
				t.Fatalf("rate %d at %dns: wait %d wrong (issued %d)", rate, e, w, p.issued)
			}
		}
		if p.behind != 0 {
			t.Errorf("rate %d: %d behind while keeping up", rate, p.behind)
		}
		// A batch limit spreads the backlog over later calls.
		if n := p.take(e+int64(time.Millisecond), 3); n > 3 {
			t.Errorf("take(max 3) = %d", n)
		}
	}
	p := pacer{rate: 10000, maxBacklog: 64}
	p.sent(p.take(0, 100))
	n := p.take(int64(time.Second), 1000) // a 1 s stall: 10,000 due
	if n != 64 || p.behind != 10000-64 {
		t.Errorf("after a stall: take %d, behind %d; want 64, %d", n, p.behind, 10000-64)
	}
	p.sent(n)
	if p.take(int64(time.Second), 1000) != 0 {
		t.Error("queries due twice")
	}
	if (&pacer{}).take(5, 77) != 77 || (&pacer{}).wait(5) != 0 {
		t.Error("rate 0 is not as fast as possible")
	}
	// Batches: nothing leaves before minBatch queries are due, then at
	// least minBatch at a time, and wait says when the next batch is due.
	p = pacer{rate: 100_000, maxBacklog: backlogFor(100_000), minBatch: batchFor(100_000, 16)}
	var sent uint64
	for e := int64(0); e <= int64(time.Second); e += 1000 {
		n := p.take(e, txBatch)
		if n != 0 && n < 16 {
			t.Fatalf("at %dns: a batch of %d", e, n)
		}
		p.sent(n)
		sent += n
		if d := due(p.rate, e); d-sent >= 16+10 {
			t.Fatalf("at %dns: %d due, %d sent", e, d, sent)
		}
		if w := p.wait(e); n > 0 && (due(p.rate, e+w) < p.issued+16 || due(p.rate, e+w-1) >= p.issued+16) {
			t.Fatalf("at %dns: wait %d for the next batch wrong (issued %d)", e, w, p.issued)
		}
	}
	if sent < 100_000-16 || p.behind != 0 {
		t.Errorf("batched: sent %d in 1 s at 100,000/s, %d behind", sent, p.behind)
	}
	if batchFor(2000, 16) != 1 || batchFor(100_000, 16) != 16 || batchFor(1e6, 1) != 1 || batchFor(1e9, 1000) != txBatch || batchFor(10, 16) != 0 {
		t.Error("batchFor")
	}
	if backlogFor(2000) != 64 || backlogFor(1e6) != 2000 || backlogFor(1e9) != 4096 {
		t.Error("backlogFor")
	}
}

// TestTable: replies match on the whole key; a slot reused after
// tableSize queries evicts its old query; cancel frees a slot.
func TestTable(t *testing.T) {
	tab := new(table)
	a := addr16(netip.MustParseAddr("198.19.0.1"))
	b := addr16(netip.MustParseAddr("198.19.0.2"))
	id, ev := tab.put(100, a, 4000, 0)
	if ev != -1 || tab.outstanding != 1 {
		t.Fatalf("put: evicted %d, outstanding %d", ev, tab.outstanding)
	}
	id2, _ := tab.put(200, b, 4001, 1)
	if id2 == id {
		t.Fatal("two queries in flight share an ID")
	}
	for _, r := range []reply{{addr: *a, port: 4001, id: id}, {addr: *b, port: 4000, id: id}, {addr: *a, port: 4000, id: id + 7}} {
		if _, ok := tab.take(&r); ok {
			t.Errorf("matched %+v", r)
		}
	}
	e, ok := tab.take(&reply{addr: *a, port: 4000, id: id})
	if !ok || e.sent != 100 || e.stream != 0 || tab.outstanding != 1 {
		t.Fatalf("take: %+v %v, outstanding %d", e, ok, tab.outstanding)
	}
	if _, ok := tab.take(&reply{addr: *a, port: 4000, id: id}); ok {
		t.Error("a reply matched twice")
	}
	e, ok = tab.take(&reply{addr: *b, port: 4001, id: id2})
	if !ok || e.stream != 1 || tab.outstanding != 0 {
		t.Fatalf("take: %+v %v, outstanding %d", e, ok, tab.outstanding)
	}
	// Fill the table; the next query evicts the oldest one still in flight.
	tab = new(table)
	first, _ := tab.put(1, a, 1, 3)
	for i := 1; i < tableSize; i++ {
		if _, ev := tab.put(int64(i+1), b, 2, 0); ev != -1 {
			t.Fatalf("evicted at %d", i)
		}
	}
	id, ev = tab.put(tableSize+1, b, 3, 0)
	if id != first || ev != 3 || tab.outstanding != tableSize {
		t.Fatalf("full table: id %d evicted %d outstanding %d", id, ev, tab.outstanding)
	}
	if _, ok := tab.take(&reply{addr: *a, port: 1, id: first}); ok {
		t.Error("a late reply matched an evicted query")
	}
	tab.cancel(id)
	tab.cancel(id)
	if tab.outstanding != tableSize-1 {
		t.Errorf("cancel: outstanding %d", tab.outstanding)
	}
}

func TestReservoir(t *testing.T) {
	r := newReservoir(1000, 1)
	for i := 1; i <= 1000; i++ {
		r.add(int64(i) * 1000) // 1..1000 µs
	}
	l := r.summary()
	if l.Samples != 1000 || l.P50 < 499 || l.P50 > 502 || l.P90 < 899 || l.P90 > 902 || l.P99 < 989 || l.P99 > 992 || l.Max != 1000 {
		t.Errorf("summary %+v", l)
	}
	// Past its capacity it stays a sample of everything.
	r = newReservoir(1000, 1)
	for i := range 100000 {
		r.add(int64(i%100) * 1000)
	}
	if l := r.summary(); l.Samples != 1000 || l.P50 < 40 || l.P50 > 60 {
		t.Errorf("sampled summary %+v", l)
	}
	if l := (&reservoir{}).summary(); l.Samples != 0 {
		t.Errorf("empty summary %+v", l)
	}
}

func TestQueries(t *testing.T) {
	qs, err := readQueries(strings.NewReader("# comment\nwww.example.org. A\n\nexample.org AAAA\n; x\nmx.example.org. mx\n"), true)
	if err != nil || len(qs) != 3 {
		t.Fatalf("readQueries: %d, %v", len(qs), err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(qs[2].wire); err != nil || m.Question[0].Name != "mx.example.org." || m.Question[0].Qtype != dns.TypeMX || m.IsEdns0() == nil {
		t.Errorf("third query %v, %v", m, err)
	}
	for _, bad := range []string{"", "www.example.org.", "www.example.org. BOGUS", "a b c"} {
		if _, err := readQueries(strings.NewReader(bad), false); err == nil {
			t.Errorf("readQueries(%q) succeeded", bad)
		}
	}
	qs, err = nameQueries(100, "example.org", false)
	if err != nil || len(qs) != 100 {
		t.Fatal(len(qs), err)
	}
	names := map[string]bool{}
	for _, q := range qs {
		m := new(dns.Msg)
		if err := m.Unpack(q.wire); err != nil || m.Question[0].Qtype != dns.TypeA || m.IsEdns0() != nil {
			t.Fatalf("%v, %v", m, err)
		}
		names[m.Question[0].Name] = true
	}
	if len(names) != 100 || !names["n0.example.org."] || !names["n99.example.org."] {
		t.Errorf("names %v", slices.Sorted(func(yield func(string) bool) {
			for n := range names {
				if !yield(n) {
					return
				}
			}
		}))
	}
	if _, err := nameQueries(0, "example.org.", false); err == nil {
		t.Error("0 names accepted")
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-iface", "eth9", "-server", "fd00::1", "-stream", "fd00:19::/48:1000", "-stream", "fd00:20::/64:0",
		"-sport-range", "2000-2999", "-names", "10", "-first", "12", "-duration", "2s", "-random", "-dst-mac", "02:00:00:00:00:01", "-json", "-cpu", "1"}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Iface != "eth9" || c.Server.String() != "fd00::1" || len(c.Streams) != 2 || c.Streams[1].Rate != 0 || c.Streams[0].Rate != 1000 ||
		c.SportLo != 2000 || c.SportHi != 2999 || len(c.Queries) != 10 || c.First != 12 || c.Duration != 2*time.Second || !c.Random || !o.json || o.cpu != 1 || c.DstMAC.String() != "02:00:00:00:00:01" {
		t.Errorf("parsed %+v %+v", o, c)
	}
	o, err = parseFlags([]string{"-sources", "198.19.0.0/24", "-rate", "2000"}, new(strings.Builder))
	if err != nil || len(o.cfg.Streams) != 1 || o.cfg.Streams[0].Rate != 2000 || o.cfg.Port != 53 || o.cfg.Duration != 5*time.Second {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-duration", "11m"},
		{"-duration", "0s"},
		{"-stream", "198.19.0.0/24:5", "-rate", "10"},
		{"-sources", "198.19.0.0/24", "-src", "198.19.0.1"},
		{"-src", "198.19.0.0/24"},
		{"-server", "nope"},
		{"-server", "192.0.2.1"}, // outside the benchmark ranges
		{"-server", "2001:db8::1"},
		{"-sport-range", "5-1"},
		{"-names", "0"},
		{"-first", "-1"},
		{"extra"},
	} {
		if _, err := parseFlags(args, new(strings.Builder)); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	cfg := Config{Server: netip.MustParseAddr("198.18.0.1"), DstMAC: srvMAC, Streams: []StreamConfig{{Sources: netip.MustParsePrefix("fd00:19::/48")}},
		Queries: make([]query, 1), SportLo: 1, SportHi: 2, Duration: time.Second}
	if err := cfg.check(); err == nil || !strings.Contains(err.Error(), "family") {
		t.Errorf("mixed families: %v", err)
	}
}

func TestParseNeigh(t *testing.T) {
	out := []byte(`[{"dst":"198.18.0.1","dev":"veth-c","state":["FAILED"]},{"dst":"198.18.0.1","dev":"veth-c","lladdr":"aa:bb:cc:dd:ee:ff","state":["REACHABLE"]}]`)
	if mac, ok := parseNeigh(out); !ok || mac.String() != "aa:bb:cc:dd:ee:ff" {
		t.Errorf("parseNeigh = %s, %v", mac, ok)
	}
	if _, ok := parseNeigh([]byte("[]\n")); ok {
		t.Error("empty table gave a MAC")
	}
}
