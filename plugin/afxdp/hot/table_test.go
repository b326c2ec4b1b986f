package hot

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// filled returns a table with the named A records filled for family 1.
func fillA(tb testing.TB, tab *Table, family uint32, name string, meta any) []byte {
	tb.Helper()
	p := qspec{id: 7, name: name, qtype: dns.TypeA}.wire()
	m := hitReply(tb, p, 0, []string{name + " 100 IN A 192.0.2.1"}, nil)
	if r := tab.FillMeta(family, p, m, t0, meta); r != OK {
		tb.Fatalf("Fill %s: %v", name, r)
	}
	return p
}

func TestTableBound(t *testing.T) {
	for _, size := range []int{0, 1, 7, 10, 100} {
		tab := NewTable(size)
		const fills = 1000
		var last []byte
		for i := range fills {
			last = fillA(t, tab, 1, fmt.Sprintf("n%d.test.", i), nil)
		}
		want := max(size, 1)
		if tab.Len() != want || tab.Evictions() != uint64(fills-want) {
			t.Errorf("NewTable(%d) after %d fills: Len %d, Evictions %d", size, fills, tab.Len(), tab.Evictions())
		}
		if _, r := answer(t, tab, last, t0); r != OK {
			t.Errorf("NewTable(%d): the last fill answers %v", size, r)
		}
		n := 0
		for i := range tab.slots {
			if tab.slots[i].Load() != nil {
				n++
			}
		}
		if n != want {
			t.Errorf("NewTable(%d): %d slots in use", size, n)
		}
	}
}

func TestTableKeys(t *testing.T) {
	tab := NewTable(16)
	p := fillA(t, tab, 1, "a.test.", nil)
	fillA(t, tab, 1, "a.test.", nil) // refill replaces
	if tab.Len() != 1 || tab.Evictions() != 0 {
		t.Fatalf("refill: Len %d, Evictions %d", tab.Len(), tab.Evictions())
	}
	var q Query
	ParseQuery(p, &q)
	dst := make([]byte, 512)
	if _, r := tab.Answer(2, &q, p, false, t0, dst, 512); r != Miss {
		t.Errorf("other family: %v", r)
	}
	for _, o := range []qspec{
		{id: 7, name: "a.test.", qtype: dns.TypeA, cd: true},
		{id: 7, name: "a.test.", qtype: dns.TypeA, opt: &opt{512, ednsDO}},
		{id: 7, name: "a.test.", qtype: dns.TypeAAAA},
		{id: 7, name: "b.test.", qtype: dns.TypeA},
	} {
		if _, r := answer(t, tab, o.wire(), t0); r != Miss {
			t.Errorf("%+v: %v, want a miss", o, r)
		}
	}
	for _, o := range []qspec{
		{id: 8, name: "A.TEST.", qtype: dns.TypeA, rd: true, ad: false},
		{id: 9, name: "a.test.", qtype: dns.TypeA, opt: &opt{4096, 0x7f00}},
	} {
		if _, r := answer(t, tab, o.wire(), t0); r != OK {
			t.Errorf("%+v: %v, want a hit", o, r)
		}
	}
	tab.Clear()
	if _, r := answer(t, tab, p, t0); r != Miss || tab.Len() != 0 {
		t.Errorf("after Clear: %v, Len %d", r, tab.Len())
	}
}

// TestEvictExpiredFirst: in a full bucket, an expired entry goes before an
// older live one.
func TestEvictExpiredFirst(t *testing.T) {
	tab := NewTable(ways / 2) // one bucket
	var ps [][]byte
	for i := range ways {
		p := qspec{id: 7, name: fmt.Sprintf("n%d.test.", i), qtype: dns.TypeA}.wire()
		ttl := 100
		if i == ways-1 {
			ttl = 10
		}
		m := hitReply(t, p, 0, []string{fmt.Sprintf("n%d.test. %d IN A 192.0.2.1", i, ttl)}, nil)
		tab.mu.Lock()
		tab.max = ways // fill the bucket
		tab.mu.Unlock()
		if r := tab.Fill(1, p, m, t0.Add(time.Duration(i)*time.Second)); r != OK {
			t.Fatal(r)
		}
		ps = append(ps, p)
	}
	later := t0.Add(50 * time.Second)
	p := qspec{id: 7, name: "new.test.", qtype: dns.TypeA}.wire()
	if r := tab.Fill(1, p, hitReply(t, p, 0, []string{"new.test. 100 IN A 192.0.2.1"}, nil), later); r != OK {
		t.Fatal(r)
	}
	if _, r := answer(t, tab, ps[ways-1], later); r != Miss {
		t.Errorf("the expired entry: %v, want evicted", r)
	}
	if _, r := answer(t, tab, ps[0], later); r != OK {
		t.Errorf("the oldest live entry: %v, want kept", r)
	}
}

func TestFlush(t *testing.T) {
	tab := NewTable(16)
	pa := fillA(t, tab, 1, "a.test.", "meta-a")
	fillA(t, tab, 1, "b.test.", "meta-b") // no hits: not reported
	pe := qspec{id: 7, name: "a.test.", qtype: dns.TypeA, opt: &opt{1232, 0}}.wire()
	tab.Flush(func(*Hits) { t.Error("hits before any answer") })
	for range 3 {
		answer(t, tab, pa, t0)
	}
	answer(t, tab, pe, t0)
	var got []Hits
	flush := func() { got = got[:0]; tab.Flush(func(h *Hits) { got = append(got, *h) }) }
	flush()
	want := Hits{Meta: "meta-a", N: [numShapes]uint64{3, 1}, QueryLen: 12 + 8 + 4, ReplyLen: 12 + 8 + 4 + 8 + 10 + 4}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("Flush: %+v, want %+v", got, want)
	}
	if _, r := answer(t, tab, pa, t0); r != OK {
		t.Fatal(r)
	}
	// Replaced after a hit: the old entry's hit is still reported, once.
	fillA(t, tab, 1, "a.test.", "meta-a2")
	answer(t, tab, pa, t0)
	flush()
	if len(got) != 2 {
		t.Fatalf("after a refill: %+v", got)
	}
	for _, h := range got {
		if h.N != [numShapes]uint64{1, 0} || (h.Meta != "meta-a" && h.Meta != "meta-a2") {
			t.Errorf("after a refill: %+v", h)
		}
	}
	// Kept for drainRounds Flushes: hits another tier adds late count.
	var old *Ref
	for _, d := range tab.draining {
		for _, e := range d {
			old = &e.ref
		}
	}
	old.AddHits(1, 0)
	flush()
	if len(got) != 1 || got[0].Meta != "meta-a" {
		t.Fatalf("a late hit on the replaced entry: %+v", got)
	}
	for range drainRounds {
		flush()
	}
	n := 0
	for _, d := range tab.draining {
		n += len(d)
	}
	if len(got) != 0 || n != 0 {
		t.Errorf("retired entries linger: %+v, %d draining", got, n)
	}
}

// TestConcurrent: receive loops answering while fillers replace and evict.
// Run with -race. Every answer must be a whole reply to its own query.
func TestConcurrent(t *testing.T) {
	tab := NewTable(8)
	names := make([]string, 32)
	for i := range names {
		names[i] = fmt.Sprintf("n%d.test.", i)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	fills := make([][2]any, len(names)) // query, reply
	for i, name := range names {
		p := qspec{id: 7, name: name, qtype: dns.TypeA}.wire()
		fills[i] = [2]any{p, hitReply(t, p, 0, []string{name + " 100 IN A 192.0.2.1"}, nil)}
	}
	for range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f := fills[i%len(fills)]
				if r := tab.Fill(1, f[0].([]byte), f[1].(*dns.Msg).Copy(), t0); r != OK {
					t.Errorf("Fill: %v", r)
					return
				}
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			var q Query
			dst := make([]byte, 512)
			for i := range 20000 {
				name := names[(i*7+w)%len(names)]
				p := qspec{id: uint16(i), name: name, qtype: dns.TypeA}.wire()
				ParseQuery(p, &q)
				n, r := tab.Answer(1, &q, p, false, t0, dst, 512)
				if r != OK {
					continue
				}
				m := new(dns.Msg)
				if err := m.Unpack(dst[:n]); err != nil || m.Id != uint16(i) || m.Question[0].Name != name || len(m.Answer) != 1 || m.Answer[0].Header().Name != name {
					t.Errorf("answer to %s: %v %v", name, err, m)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			tab.Flush(func(*Hits) {})
		}
	})
	time.Sleep(10 * time.Millisecond)
	close(stop)
	wg.Wait()
	if tab.Len() > 8 {
		t.Errorf("Len %d over the bound", tab.Len())
	}
}

func TestHitAllocs(t *testing.T) {
	p, tab := benchSetup(t)
	var q Query
	dst := make([]byte, 1500)
	if a := testing.AllocsPerRun(1000, func() { hit(t, tab, p, &q, dst) }); a != 0 {
		t.Errorf("%v allocations per hit", a)
	}
	miss := qspec{id: 1, name: "nothere.test.", qtype: dns.TypeA, opt: &opt{1232, 0}}.wire()
	if a := testing.AllocsPerRun(1000, func() {
		ParseQuery(miss, &q)
		tab.Answer(1, &q, miss, false, t0, dst, len(dst))
	}); a != 0 {
		t.Errorf("%v allocations per miss", a)
	}
}

// TestTableHoldsItsSize: a table of n entries keeps nearly all of n
// distinct names (eviction within a full bucket is rare at half load);
// the key hash used to mark itself non-zero by setting its low bit, which
// left every even bucket empty and evicted one name in eight at n.
func TestTableHoldsItsSize(t *testing.T) {
	const n = 4096
	tab := NewTable(n)
	for i := range n {
		fillA(t, tab, 1, fmt.Sprintf("n%d.example.org.", i), nil)
	}
	if tab.Len() < n*98/100 {
		t.Fatalf("%d of %d names held (%d evictions)", tab.Len(), n, tab.Evictions())
	}
}
