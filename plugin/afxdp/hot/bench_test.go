package hot

import (
	"testing"

	"github.com/miekg/dns"
)

// benchName is 30 octets on the wire.
const benchName = "www.hot-answer-bench.example."

// benchSetup fills a table with benchName A, two records (an answer
// section of 88 bytes; 145 with header, question and OPT), and many other
// names, and returns the query for it.
func benchSetup(tb testing.TB) ([]byte, *Table) {
	tb.Helper()
	tab := NewTable(10000)
	for i := range 5000 {
		fillA(tb, tab, 1, "n"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))+".example.", nil)
	}
	p := qspec{id: 7, name: "WWW.Hot-Answer-Bench.example.", qtype: dns.TypeA, rd: true, opt: &opt{1232, 0}}.wire()
	m := hitReply(tb, p, 0, []string{benchName + " 300 IN A 192.0.2.1", benchName + " 300 IN A 192.0.2.2"}, nil)
	if r := tab.Fill(1, p, m, t0); r != OK {
		tb.Fatal(r)
	}
	var q Query
	ParseQuery(p, &q)
	if q.NameLen != 30 {
		tb.Fatalf("name of %d octets", q.NameLen)
	}
	return p, tab
}

// hit is the receive loop's part: ParseQuery, lookup and render.
func hit(tb testing.TB, tab *Table, p []byte, q *Query, dst []byte) {
	ParseQuery(p, q)
	if _, r := tab.Answer(1, q, p, false, t0, dst, len(dst)); r != OK {
		tb.Fatal(r)
	}
}

// BenchmarkHit: one hot answer.
func BenchmarkHit(b *testing.B) {
	p, tab := benchSetup(b)
	var q Query
	dst := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		hit(b, tab, p, &q, dst)
	}
}

// BenchmarkHitParallel: the same from every P on one entry: the cost of
// sharing it (its hit counter's cache line) between receive loops.
func BenchmarkHitParallel(b *testing.B) {
	p, tab := benchSetup(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var q Query
		dst := make([]byte, 1500)
		for pb.Next() {
			hit(b, tab, p, &q, dst)
		}
	})
}

// BenchmarkParseQuery alone.
func BenchmarkParseQuery(b *testing.B) {
	p, _ := benchSetup(b)
	var q Query
	b.ReportAllocs()
	for b.Loop() {
		ParseQuery(p, &q)
	}
}
