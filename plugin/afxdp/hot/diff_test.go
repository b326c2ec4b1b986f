package hot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// frameMax is the afxdp writer's limit for a 1500-byte MTU: the UDP
// payload of one frame.
func frameMax(v6 bool) int {
	if v6 {
		return 1500 - 40 - 8
	}
	return 1500 - 20 - 8
}

// chainTTL is the TTL on the records of a reply the chain wrote; 0 if it
// has none.
func chainTTL(m *dns.Msg) uint32 {
	for _, s := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range s {
			if rr.Header().Rrtype != dns.TypeOPT {
				return rr.Header().Ttl
			}
		}
	}
	return 0
}

// diffCase is one stub answer.
type diffCase struct {
	name  string
	qtype uint16
	fill  Reason // what Fill says about the cache hit's reply
}

func diffCases() []diffCase {
	cs := []diffCase{
		{"small.test.", dns.TypeA, OK},
		{"echo.test.", dns.TypeA, OK},
		{"alias.test.", dns.TypeA, OK},
		{"small.test.", dns.TypeAAAA, OK}, // NODATA
		{"nx.test.", dns.TypeA, OK},
		{"fail.test.", dns.TypeA, OK}, // SERVFAIL with an SOA, cached 5 s
		{"failempty.test.", dns.TypeA, NoRecords},
		{"sec.test.", dns.TypeA, OK},
		{"extra.test.", dns.TypeA, OK},
	}
	// Uncompressed lengths without OPT around each limit: 512 (no OPT, or
	// an OPT of 512 or less: 501 + 11), 1220 (IPv6), 1452 (IPv6 frame),
	// 1472 (IPv4 frame), 1480 (IPv4), and one too big for anyone.
	// Over 1469, even the OPT-less 512 and the OPT'd 1480 are exceeded:
	// Fill refuses what no client could be sent uncompressed.
	for _, n := range []int{400, 500, 501, 502, 512, 513, 1209, 1210, 1211, 1441, 1442, 1461, 1462, 1469, 1470, 1480} {
		want := OK
		if n+optLen > MaxUDPv4 {
			want = TooBig
		}
		cs = append(cs, diffCase{fmt.Sprintf("t%d.test.", n), dns.TypeTXT, want})
	}
	return cs
}

// probeOPTs are the OPT shapes probes take: none (DO=0 keys only), sizes
// below 512, at 512, common, large, and one with every Z bit, the low flag
// byte and an extended RCODE set (all but DO and Z 8-14 must be cleared).
func probeOPTs(do bool) []*opt {
	var d uint32
	if do {
		d = ednsDO
	}
	os := []*opt{{300, d}, {512, d}, {1232, d}, {4096, d}, {1400, d | 0x7fff | 0x5a<<24}}
	if !do {
		os = append(os, nil)
	}
	return os
}

// TestDifferential fills entries from real cache hits (and from the misses
// that stored them: the cache writes those in the same shape) and then, at
// a range of later moments, asks the chain and the table the same queries:
// every hot answer must be the chain's bytes (TTLs exact when the fill
// happened a whole number of seconds after the cache stored the item, else
// the hot TTL may be one higher), and every pass must be one the chain
// justifies. Varied: 0x20 case, DO and CD (the key), RD, AD, the header's Z
// bit, OPT absent / below 512 / 512 / 1232 / 4096 / with Z bits and an
// extended RCODE, IPv4 and IPv6 clients, frame limits, reply sizes around
// every limit, NOERROR, NODATA, NXDOMAIN, SERVFAIL, and the moments around
// each second and around expiry.
func TestDifferential(t *testing.T) {
	c := newChain(t)
	tab := NewTable(1024)
	rng := rand.New(rand.NewPCG(1, 2))
	const family = 7
	var (
		seen = map[Reason]int{}
		dst  = make([]byte, 4096)
		buf  = make([]byte, 4096)
	)
	for _, cs := range diffCases() {
		for _, key := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			do, cd := key[0], key[1]
			for _, fillAD := range []bool{false, true} {
				// frac: how long after a whole second since the store the
				// fill happens; -1: fill from the miss that stored the item.
				for _, frac := range []time.Duration{-1, 0, 600 * time.Millisecond} {
					name := fmt.Sprintf("%s/%d/do=%v/cd=%v/ad=%v/frac=%v", cs.name, cs.qtype, do, cd, fillAD, frac)
					// A fresh item: everything cached before has expired.
					stored := c.clk.Now().Add(3 * time.Hour)
					c.clk.Set(stored)
					fq := qspec{id: uint16(rng.Uint32()), name: mixCase(rng, cs.name), qtype: cs.qtype, rd: true, ad: fillAD, cd: cd}
					if do || cs.qtype == dns.TypeTXT || rng.IntN(2) == 0 {
						// Large enough that the fill's reply is not truncated.
						fq.opt = &opt{4096, probeOPTs(do)[rng.IntN(5)].ttl}
					}
					fw := fq.wire()
					fillAt := stored
					w, err := c.ask(fw, false, 9000) // a miss: the item is stored
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if frac >= 0 {
						fillAt = stored.Add(2*time.Second + frac)
						c.clk.Set(fillAt)
						fq.id, fq.name = uint16(rng.Uint32()), mixCase(rng, cs.name)
						fw = fq.wire()
						if w, err = c.ask(fw, false, 9000); err != nil { // a hit, compressed above 1480
							t.Fatalf("%s: %v", name, err)
						}
					}
					if r := tab.Fill(family, fw, w.msg, fillAt); r != cs.fill {
						t.Fatalf("%s: Fill = %v, want %v\n%v", name, r, cs.fill, w.msg)
					}
					if cs.fill != OK {
						continue
					}
					T := time.Duration(chainTTL(w.msg)) * time.Second
					var ds []time.Duration
					for _, d := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond, time.Second,
						1500 * time.Millisecond, T - 3*time.Second + 700*time.Millisecond, T - 2*time.Second,
						T - time.Second - time.Millisecond, T - time.Second, T} {
						if d >= 0 && (len(ds) == 0 || d > ds[len(ds)-1]) {
							ds = append(ds, d)
						}
					}
					for _, d := range ds {
						now := fillAt.Add(d)
						c.clk.Set(now)
						for _, o := range probeOPTs(do) {
							for _, v6 := range []bool{false, true} {
								for _, maxLen := range []int{frameMax(v6), 1400} {
									p := qspec{id: uint16(rng.Uint32()), name: mixCase(rng, cs.name), qtype: cs.qtype,
										rd: rng.IntN(2) == 0, ad: rng.IntN(2) == 0, cd: cd, z: rng.IntN(4) == 0, opt: o}
									what := fmt.Sprintf("%s at +%v: %+v opt=%+v v6=%v max=%d", name, d, p, o, v6, maxLen)
									r := probe(t, c, tab, family, p.wire(), v6, maxLen, now, frac <= 0, dst, buf, what)
									seen[r]++
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("outcomes: %v", seen)
	for _, r := range []Reason{OK, TooBig, Expired, ADUnknown} {
		if seen[r] == 0 {
			t.Errorf("no probe ended %v: the test does not cover it", r)
		}
	}
}

// probe asks tab and then the chain, at now, and checks the answer or the
// pass against what the chain wrote. exact: the hot TTL must equal the
// chain's; else it may be one higher.
func probe(t *testing.T, c *chain, tab *Table, family uint32, qw []byte, v6 bool, maxLen int, now time.Time, exact bool, dst, buf []byte, what string) Reason {
	t.Helper()
	var q Query
	if r := ParseQuery(qw, &q); r != OK {
		t.Fatalf("%s: ParseQuery = %v", what, r)
	}
	n, r := tab.Answer(family, &q, qw, v6, now, dst, maxLen)
	w, err := c.ask(qw, v6, maxLen)
	if err != nil {
		t.Fatalf("%s: chain: %v", what, err)
	}
	e := tab.lookup(family, &q)
	switch r {
	case OK:
		got := dst[:n]
		if len(got) != len(w.wire) {
			t.Fatalf("%s: hot reply %d bytes, chain %d\nhot   %x\nchain %x\n%v", what, len(got), len(w.wire), got, w.wire, w.msg)
		}
		want := bytes.Clone(w.wire)
		for _, at := range ttlFields(t, got) {
			h, ch := binary.BigEndian.Uint32(got[at:]), binary.BigEndian.Uint32(want[at:])
			if ch == 0 || !(h == ch || !exact && h == ch+1) {
				t.Fatalf("%s: TTL at %d: hot %d, chain %d", what, at, h, ch)
			}
			binary.BigEndian.PutUint32(want[at:], h)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: bytes differ\nhot   %x\nchain %x\n%v", what, got, w.wire, w.msg)
		}
	case TooBig:
		// The chain must have compressed or truncated: what we would have
		// sent is not what it sent.
		l := e.replyLen(&q)
		e.render(&q, qw, uint32(e.remaining(now)), buf[:l])
		if bytes.Equal(buf[:l], w.wire) || len(w.wire) >= l {
			t.Fatalf("%s: passed as too big (%d bytes) but the chain sent %d bytes uncompressed", what, l, len(w.wire))
		}
	case Expired:
		if ttl := chainTTL(w.msg); ttl > 1 && ttl < e.ttl {
			t.Fatalf("%s: passed as expired, the chain still had TTL %d", what, ttl)
		}
	case ADUnknown:
		if e.adKnown || !(q.DO || q.AD) {
			t.Fatalf("%s: ADUnknown with adKnown=%v DO=%v AD=%v", what, e.adKnown, q.DO, q.AD)
		}
	default:
		t.Fatalf("%s: Answer = %v", what, r)
	}
	return r
}

// oddNames are names in labels that miekg/dns must escape.
func oddNames() [][][]byte {
	return [][][]byte{
		{[]byte("A.b"), []byte("test")},
		{[]byte(`back\slash`), []byte("TEST")},
		{[]byte("sp ace\"\x00\xff\x7f("), []byte("Test")},
		{[]byte("@;)"), {0x80, 'Q', 0xc0}, []byte("test")},
		{[]byte("\\065"), []byte("test")},
		{}, // the root
		{bytes.Repeat([]byte("x"), 63), bytes.Repeat([]byte("Y"), 63), bytes.Repeat([]byte("z"), 63), bytes.Repeat([]byte("W"), 61)}, // 255 octets
	}
}

// TestDifferentialOddNames: names whose labels hold dots, backslashes,
// spaces, quotes and bytes outside ASCII, which miekg/dns escapes when it
// unpacks and unescapes when it packs. The question must still come back
// byte for byte, and the key must be the cache's.
func TestDifferentialOddNames(t *testing.T) {
	c := newChain(t)
	tab := NewTable(64)
	dst, buf := make([]byte, 4096), make([]byte, 4096)
	for i, labels := range oddNames() {
		stored := c.clk.Now().Add(3 * time.Hour)
		c.clk.Set(stored)
		p := qspec{id: 1, labels: labels, qtype: dns.TypeA, rd: true, opt: &opt{1232, 0}}
		if _, err := c.ask(p.wire(), false, 1472); err != nil {
			t.Fatalf("name %d: %v", i, err)
		}
		fillAt := stored.Add(time.Second)
		c.clk.Set(fillAt)
		w, err := c.ask(p.wire(), false, 1472)
		if err != nil {
			t.Fatalf("name %d: %v", i, err)
		}
		if r := tab.Fill(3, p.wire(), w.msg, fillAt); r != OK {
			t.Fatalf("name %d: Fill = %v\n%v", i, r, w.msg)
		}
		// The same name in other cases: flip every letter.
		flipped := make([][]byte, len(labels))
		for j, l := range labels {
			flipped[j] = bytes.Clone(l)
			for k, ch := range flipped[j] {
				if 'a' <= ch|0x20 && ch|0x20 <= 'z' {
					flipped[j][k] = ch ^ 0x20
				}
			}
		}
		for _, ls := range [][][]byte{labels, flipped} {
			p.labels = ls
			now := fillAt.Add(2500 * time.Millisecond)
			c.clk.Set(now)
			if r := probe(t, c, tab, 3, p.wire(), false, 1472, now, true, dst, buf, fmt.Sprintf("name %q", ls)); r != OK {
				t.Fatalf("name %q: Answer = %v", ls, r)
			}
		}
	}
}

// TestDifferentialRealClock runs one fill and one hot answer against a chain
// on the wall clock, as deployed: only the TTL may differ, by one.
func TestDifferentialRealClock(t *testing.T) {
	c := newChain(t)
	setCacheClock(t, c.cache, time.Now) // the cache's own default
	tab := NewTable(16)
	for _, o := range []*opt{nil, {1232, ednsDO}} {
		p := qspec{id: 1, name: "Small.Test.", qtype: dns.TypeA, rd: true, opt: o}
		if _, err := c.ask(p.wire(), false, 1472); err != nil {
			t.Fatal(err)
		}
		p.id, p.name = 2, "sMALL.tEST."
		w, err := c.ask(p.wire(), false, 1472)
		if err != nil {
			t.Fatal(err)
		}
		if r := tab.Fill(1, p.wire(), w.msg, time.Now()); r != OK {
			t.Fatalf("Fill = %v", r)
		}
		p.id, p.name = 3, "small.TEST."
		dst := make([]byte, 1472)
		var q Query
		ParseQuery(p.wire(), &q)
		n, r := tab.Answer(1, &q, p.wire(), false, time.Now(), dst, 1472)
		w, err = c.ask(p.wire(), false, 1472)
		if err != nil || r != OK {
			t.Fatalf("Answer = %v, chain %v", r, err)
		}
		got, want := dst[:n], bytes.Clone(w.wire)
		for _, at := range ttlFields(t, got) {
			if h, ch := binary.BigEndian.Uint32(got[at:]), binary.BigEndian.Uint32(want[at:]); h != ch && h != ch+1 && h+1 != ch {
				t.Fatalf("TTL hot %d chain %d", h, ch)
			}
			copy(want[at:at+4], got[at:at+4])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("hot   %x\nchain %x", got, w.wire)
		}
	}
}

// FuzzAnswer: for any query bytes, either the table passes, or its answer
// is, byte for byte, what the chain writes for the same query at the same
// moment. A query ParseQuery refuses is never answered.
func FuzzAnswer(f *testing.F) {
	c := newChain(f)
	tab := NewTable(256)
	const family = 1
	stored := c.clk.Now()
	fillAt := stored.Add(2 * time.Second)
	var fills [][]byte
	for _, cs := range diffCases() {
		for _, do := range []bool{false, true} {
			for _, cd := range []bool{false, true} {
				p := qspec{id: 9, name: cs.name, qtype: cs.qtype, rd: true, cd: cd, ad: true, opt: &opt{1232, 0}}
				if do {
					p.opt.ttl = ednsDO
				}
				fills = append(fills, p.wire())
			}
		}
	}
	for _, labels := range oddNames() {
		fills = append(fills, qspec{id: 9, labels: labels, qtype: dns.TypeA, opt: &opt{512, ednsDO}}.wire())
	}
	c.clk.Set(stored)
	for _, fw := range fills {
		if _, err := c.ask(fw, false, 1472); err != nil {
			f.Fatal(err)
		}
	}
	c.clk.Set(fillAt)
	for _, fw := range fills {
		w, err := c.ask(fw, false, 1472)
		if err != nil {
			f.Fatal(err)
		}
		tab.Fill(family, fw, w.msg, fillAt)
		f.Add(fw, false, uint16(1472))
	}
	f.Add(qspec{id: 1, name: "SmAlL.test.", qtype: dns.TypeA, rd: true}.wire(), true, uint16(1452))
	f.Add(qspec{id: 1, name: "t1209.test.", qtype: dns.TypeTXT, opt: &opt{4096, 0x7fff}}.wire(), true, uint16(1452))
	// Whole seconds after the fill and the store: TTLs are exact.
	now := fillAt.Add(1500 * time.Millisecond)
	c.clk.Set(now)
	dst := make([]byte, 65536)
	f.Fuzz(func(t *testing.T, payload []byte, v6 bool, maxLen uint16) {
		var q Query
		pr := ParseQuery(payload, &q)
		n, r := tab.Answer(family, &q, payload, v6, now, dst, int(maxLen))
		if pr != OK {
			if r != NotParsed || n != 0 {
				t.Fatalf("ParseQuery = %v, yet Answer = %d, %v", pr, n, r)
			}
			return
		}
		if r != OK {
			return
		}
		w, err := c.ask(payload, v6, int(maxLen))
		if err != nil {
			t.Fatalf("answered hot, but the chain: %v", err)
		}
		if !bytes.Equal(dst[:n], w.wire) {
			t.Fatalf("hot   %x\nchain %x\n%v", dst[:n], w.wire, w.msg)
		}
	})
}
