package hot

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestExport: an entry's Export carries its key, its records and where
// their TTLs are; the TTL Answer writes is the filled TTL less the whole
// seconds since Filled, which is what another tier computes from it.
func TestExport(t *testing.T) {
	tb := NewTable(16)
	now := time.Now()
	query := qspec{id: 9, name: "Example.ORG.", qtype: dns.TypeA, rd: true}.wire()
	if r := tb.Fill(7, query, hitReply(t, query, 0, []string{"example.org. 300 IN A 192.0.2.1"}, nil), now); r != OK {
		t.Fatal(r)
	}
	var refs []*Ref
	tb.Range(func(r *Ref) { refs = append(refs, r) })
	if len(refs) != 1 {
		t.Fatalf("%d entries, want 1", len(refs))
	}
	x := refs[0].Export()
	if x.Family != 7 || x.QType != 1 || string(x.Name) != "\x07example\x03org\x00" || x.AN != 1 ||
		x.TTL != 300 || !x.Filled.Equal(now) || len(x.TTLAt) != 1 || int(x.TTLAt[0]) != len(x.Name)+4 {
		t.Fatalf("exported %+v", x)
	}
	var q Query
	if r := ParseQuery(query, &q); r != OK {
		t.Fatal(r)
	}
	at := now.Add(1500 * time.Millisecond)
	dst := make([]byte, 512)
	n, r := tb.Answer(7, &q, query, false, at, dst, len(dst))
	want := bytes.Clone(x.RRs)
	binary.BigEndian.PutUint32(want[x.TTLAt[0]:], uint32(refs[0].Remaining(at)))
	if r != OK || refs[0].Remaining(at) != 299 || !bytes.Equal(dst[q.QEnd:n], want) {
		t.Fatalf("answer %v: %x, export with TTL %d: %x", r, dst[q.QEnd:n], refs[0].Remaining(at), want)
	}
	refs[0].AddHits(2, 3) // the other tier answered: counted
	var hits [numShapes]uint64
	tb.Flush(func(h *Hits) { hits[0] += h.N[0]; hits[1] += h.N[1] })
	if hits != [numShapes]uint64{3, 3} { // Answer's one, and the Ref's
		t.Fatalf("flushed %v", hits)
	}
}

// TestChanges: the journal gives fills, replacements, evictions and
// clears in order, once each; a parked entry comes back once when
// answered; a reader that fell too far behind is told to resynchronise.
func TestChanges(t *testing.T) {
	tb := NewTable(2)
	now := time.Now()
	fill := func(name, addr string) []byte {
		t.Helper()
		q := qspec{id: 1, name: name, qtype: dns.TypeA}.wire()
		if r := tb.Fill(1, q, hitReply(t, q, 0, []string{name + " 300 IN A " + addr}, nil), now); r != OK {
			t.Fatal(r)
		}
		return q
	}
	fill("a.test.", "192.0.2.1")
	cs, cur, ok := tb.Changes(0, nil)
	if ok || len(cs) != 0 {
		t.Fatalf("first call: %d changes, ok %v; want none and a resync", len(cs), ok)
	}
	type seen struct {
		name string
		gone bool
	}
	read := func() []seen {
		t.Helper()
		var cs []Change
		cs, cur, ok = tb.Changes(cur, nil)
		if !ok {
			t.Fatal("journal lost changes")
		}
		var out []seen
		for _, c := range cs {
			out = append(out, seen{string(c.Ref.Export().Name[1:3]), c.Gone})
			if c.Gone && !c.Ref.Gone() {
				t.Fatalf("change %+v: Gone() %v", c, c.Ref.Gone())
			}
		}
		return out
	}
	qb := fill("b.test.", "192.0.2.2")
	fill("b.test.", "192.0.2.3") // a replacement: the new entry, then the old one gone
	got := read()
	want := []seen{{"b\x04", false}, {"b\x04", false}, {"b\x04", true}}
	if len(got) != len(want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("changes %+v, want %+v", got, want)
		}
	}
	// Park b: the next answer logs it once, further answers not.
	var b *Ref
	tb.Range(func(r *Ref) {
		if r.Export().Name[1] == 'b' {
			b = r
		}
	})
	b.Park()
	var q Query
	if r := ParseQuery(qb, &q); r != OK {
		t.Fatal(r)
	}
	dst := make([]byte, 512)
	for range 3 {
		if _, r := tb.Answer(1, &q, qb, false, now, dst, len(dst)); r != OK {
			t.Fatal(r)
		}
	}
	if got := read(); len(got) != 1 || got[0] != (seen{"b\x04", false}) {
		t.Fatalf("after waking: %+v", got)
	}
	tb.Clear()
	if got := read(); len(got) != 2 || !got[0].gone || !got[1].gone {
		t.Fatalf("after Clear: %+v", got)
	}
	// A reader a whole journal behind resynchronises.
	old := cur
	for i := range journalSize/2 + 1 {
		fill("c.test.", "192.0.2."+string(rune('0'+i%10)))
	}
	if _, _, ok := tb.Changes(old, nil); ok {
		t.Fatal("a reader a journal behind was not told to resynchronise")
	}
}
