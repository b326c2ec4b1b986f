package hot

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestExport: an entry is exported once filled and again only after a
// hit; its records read the TTL at until; an expiring one is left out;
// hits added through its Ref reach Flush.
func TestExport(t *testing.T) {
	tb := NewTable(16)
	now := time.Now()
	query := qspec{id: 9, name: "Example.ORG.", qtype: dns.TypeA, rd: true}.wire()
	if r := tb.Fill(7, query, hitReply(t, query, 0, []string{"example.org. 300 IN A 192.0.2.1"}, nil), now); r != OK {
		t.Fatal(r)
	}
	var got []*Export
	collect := func(x *Export) { got = append(got, x) }
	tb.Export(now.Add(1500*time.Millisecond), 1, collect)
	if len(got) != 1 {
		t.Fatalf("%d exported, want 1", len(got))
	}
	x := got[0]
	if x.Listener != 7 || x.QType != 1 || string(x.Name) != "\x07example\x03org\x00" || x.AN != 1 {
		t.Fatalf("exported %+v", x)
	}
	// The one A record's TTL, at until: 300 less one whole second.
	if ttl := binary.BigEndian.Uint32(x.RRs[len(x.Name)+4:]); ttl != 299 {
		t.Fatalf("TTL %d, want 299", ttl)
	}
	// The same bytes Answer writes at until.
	var q Query
	if r := ParseQuery(query, &q); r != OK {
		t.Fatal(r)
	}
	dst := make([]byte, 512)
	n, r := tb.Answer(7, &q, query, false, now.Add(1500*time.Millisecond), dst, len(dst))
	if r != OK || !bytes.Equal(dst[q.QEnd:n], x.RRs) {
		t.Fatalf("answer %v: %x, export %x", r, dst[q.QEnd:n], x.RRs)
	}

	got = nil
	tb.Export(now.Add(2*time.Second), 1, collect) // answered once since: again
	if len(got) != 1 {
		t.Fatalf("after a hit: %d exported, want 1", len(got))
	}
	got = nil
	tb.Export(now.Add(3*time.Second), 1, collect) // idle: not again
	if len(got) != 0 {
		t.Fatalf("idle: %d exported, want 0", len(got))
	}
	x.Ref.AddHits(2, 3) // the other tier answered: exported again, counted
	tb.Export(now.Add(299*time.Second), 1, collect)
	if len(got) != 0 {
		t.Fatalf("expiring: %d exported, want 0", len(got))
	}
	x.Ref.AddHits(0, 0)
	// Kept for keep Exports after its last activity.
	x.Ref.AddHits(1, 0)
	kept := 0
	for range 5 {
		tb.Export(now.Add(10*time.Second), 3, func(*Export) { kept++ })
	}
	if kept != 3 {
		t.Fatalf("exported %d times in 5 after one hit, keep 3", kept)
	}
	var hits [numShapes]uint64
	tb.Flush(func(h *Hits) { hits[0] += h.N[0]; hits[1] += h.N[1] })
	if hits != [numShapes]uint64{4, 3} { // Answer's one, and the Ref's
		t.Fatalf("flushed %v", hits)
	}
}
