package hot

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// hitReply is what a cache hit writes for query, by hand: item.toMsg
// (SetReply, records with one TTL) and SizeAndDo (the query's OPT, TTL &
// 0xff00, appended last). change edits it further.
func hitReply(tb testing.TB, query []byte, rcode int, rrs []string, change func(m *dns.Msg)) *dns.Msg {
	tb.Helper()
	r := new(dns.Msg)
	if err := r.Unpack(query); err != nil {
		tb.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Rcode = rcode
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			tb.Fatal(err)
		}
		if rr.Header().Rrtype == dns.TypeSOA {
			m.Ns = append(m.Ns, rr)
		} else {
			m.Answer = append(m.Answer, rr)
		}
	}
	if o := r.IsEdns0(); o != nil {
		o.Hdr.Ttl &= 0xff00
		m.Extra = append(m.Extra, o)
	}
	if change != nil {
		change(m)
	}
	return m
}

var twoA = []string{"a.test. 100 IN A 192.0.2.1", "a.test. 100 IN A 192.0.2.2"}

func TestFillReasons(t *testing.T) {
	plain := qspec{id: 7, name: "a.test.", qtype: dns.TypeA, rd: true}.wire()
	edns := qspec{id: 7, name: "a.test.", qtype: dns.TypeA, rd: true, opt: &opt{1232, 0}}.wire()
	other := qspec{id: 7, name: "b.test.", qtype: dns.TypeA, rd: true}.wire()
	upper := qspec{id: 7, name: "A.test.", qtype: dns.TypeA, rd: true}.wire()
	big := make([]string, 0, 100)
	for i := range 100 {
		big = append(big, "a.test. 100 IN A 192.0.2."+string(rune('0'+i%10)))
	}
	tsig := func(m *dns.Msg) {
		m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "key.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY, Ttl: 100}, Algorithm: dns.HmacSHA256})
	}
	optRR := func() *dns.OPT { return &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}} }
	tests := []struct {
		name  string
		query []byte
		reply *dns.Msg
		want  Reason
	}{
		{"A", plain, hitReply(t, plain, 0, twoA, nil), OK},
		{"A with OPT", edns, hitReply(t, edns, 0, twoA, nil), OK},
		{"NXDOMAIN", plain, hitReply(t, plain, dns.RcodeNameError, []string{soa}, func(m *dns.Msg) { m.Ns[0].Header().Ttl = 9 }), OK},
		{"query not eligible", edit(plain, func(b []byte) []byte { b[len(b)-1] = 3; return b }), hitReply(t, plain, 0, twoA, nil), Class},
		{"nil reply", plain, nil, ReplyShape},
		{"other ID", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Id++ }), ReplyShape},
		{"not a response", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Response = false }), ReplyShape},
		{"opcode", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), ReplyShape},
		{"Z", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Zero = true }), ReplyShape},
		{"RD not echoed", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.RecursionDesired = false }), ReplyShape},
		{"CD not echoed", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.CheckingDisabled = true }), ReplyShape},
		{"AD without DO or AD", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.AuthenticatedData = true }), ReplyShape},
		{"TC", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Truncated = true }), ReplyTC},
		{"REFUSED", plain, hitReply(t, plain, dns.RcodeRefused, twoA, nil), ReplyRcode},
		{"BADVERS", edns, hitReply(t, edns, dns.RcodeBadVers, twoA, nil), ReplyRcode},
		{"no question", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Question = nil }), ReplyShape},
		{"other qtype", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }), ReplyShape},
		{"other name", plain, hitReply(t, other, 0, twoA, nil), ReplyShape},
		{"question not echoed byte for byte", plain, hitReply(t, upper, 0, twoA, nil), ReplyShape},
		{"TSIG", plain, hitReply(t, plain, 0, twoA, tsig), TSIG},
		{"OPT the query did not have", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Extra = append(m.Extra, optRR()) }), ReplyShape},
		{"no OPT though the query had one", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) { m.Extra = nil }), ReplyShape},
		{"OPT in Answer", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) { m.Answer = append(m.Answer, optRR()) }), ReplyShape},
		{"two OPTs", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) { m.Extra = append(m.Extra, optRR()) }), ReplyShape},
		{"OPT not last", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) { m.Extra = append(m.Extra, m.Answer[0]) }), ReplyShape},
		{"OPT with an option", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) {
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}), ReplyShape},
		{"OPT size changed (bufsize)", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) { m.IsEdns0().SetUDPSize(512) }), ReplyMismatch},
		{"OPT flags not cleared", edns, hitReply(t, edns, 0, twoA, func(m *dns.Msg) { m.IsEdns0().Hdr.Ttl |= 1 }), ReplyMismatch},
		{"mixed TTLs", plain, hitReply(t, plain, 0, twoA, func(m *dns.Msg) { m.Answer[1].Header().Ttl = 99 }), MixedTTL},
		{"mixed TTLs across sections", plain, hitReply(t, plain, dns.RcodeNameError, []string{soa}, func(m *dns.Msg) {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "a.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 100}})
		}), MixedTTL},
		{"no records", plain, hitReply(t, plain, dns.RcodeServerFailure, nil, nil), NoRecords},
		{"TTL 1", plain, hitReply(t, plain, 0, []string{"a.test. 1 IN A 192.0.2.1"}, nil), LowTTL},
		{"TTL 0", plain, hitReply(t, plain, 0, []string{"a.test. 0 IN A 192.0.2.1"}, nil), LowTTL},
		{"too big for any client", edns, hitReply(t, edns, 0, big, nil), TooBig},
	}
	for _, tt := range tests {
		tab := NewTable(4)
		if got := tab.Fill(1, tt.query, tt.reply, t0); got != tt.want {
			t.Errorf("%s: Fill = %v, want %v", tt.name, got, tt.want)
		}
		if want := b2i(tt.want == OK); tab.Len() != want {
			t.Errorf("%s: %d entries after Fill", tt.name, tab.Len())
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// answer parses p and answers it from tab at now.
func answer(tb testing.TB, tab *Table, p []byte, now time.Time) ([]byte, Reason) {
	tb.Helper()
	var q Query
	if r := ParseQuery(p, &q); r != OK {
		tb.Fatalf("ParseQuery = %v", r)
	}
	dst := make([]byte, 1500)
	n, r := tab.Answer(1, &q, p, false, now, dst, len(dst))
	return dst[:n], r
}

// TestTTLAging: an entry observed k whole seconds ago answers TTL−k; once
// that is 1 or less it passes.
func TestTTLAging(t *testing.T) {
	p := qspec{id: 7, name: "a.test.", qtype: dns.TypeA}.wire()
	tab := NewTable(4)
	if r := tab.Fill(1, p, hitReply(t, p, 0, twoA, nil), t0); r != OK {
		t.Fatal(r)
	}
	for _, tc := range []struct {
		after time.Duration
		ttl   uint32
		r     Reason
	}{
		{-5 * time.Second, 100, OK}, // a clock behind the fill's: no younger than new
		{0, 100, OK},
		{999 * time.Millisecond, 100, OK},
		{time.Second, 99, OK},
		{42*time.Second + 500*time.Millisecond, 58, OK},
		{98 * time.Second, 2, OK},
		{98*time.Second + 999*time.Millisecond, 2, OK},
		{99 * time.Second, 0, Expired},
		{100 * time.Second, 0, Expired},
		{time.Hour, 0, Expired},
	} {
		got, r := answer(t, tab, p, t0.Add(tc.after))
		if r != tc.r {
			t.Errorf("+%v: %v, want %v", tc.after, r, tc.r)
			continue
		}
		if r != OK {
			continue
		}
		for _, at := range ttlFields(t, got) {
			if ttl := binary.BigEndian.Uint32(got[at:]); ttl != tc.ttl {
				t.Errorf("+%v: TTL %d, want %d", tc.after, ttl, tc.ttl)
			}
		}
	}
}

// TestAD: AD is served only where the filling reply showed it.
func TestAD(t *testing.T) {
	q := func(ad bool) []byte { return qspec{id: 7, name: "a.test.", qtype: dns.TypeA, ad: ad}.wire() }
	adBit := func(b []byte) bool { return b[3]&0x20 != 0 }

	hidden := NewTable(4) // filled by a query without DO or AD: AD unknown
	if r := hidden.Fill(1, q(false), hitReply(t, q(false), 0, twoA, nil), t0); r != OK {
		t.Fatal(r)
	}
	if got, r := answer(t, hidden, q(false), t0); r != OK || adBit(got) {
		t.Errorf("AD unknown, query without AD: %v, AD=%v", r, adBit(got))
	}
	if _, r := answer(t, hidden, q(true), t0); r != ADUnknown {
		t.Errorf("AD unknown, query with AD: %v", r)
	}

	for _, stored := range []bool{false, true} {
		tab := NewTable(4)
		if r := tab.Fill(1, q(true), hitReply(t, q(true), 0, twoA, func(m *dns.Msg) { m.AuthenticatedData = stored }), t0); r != OK {
			t.Fatal(r)
		}
		if got, r := answer(t, tab, q(true), t0); r != OK || adBit(got) != stored {
			t.Errorf("stored AD=%v, query with AD: %v, AD=%v", stored, r, adBit(got))
		}
		if got, r := answer(t, tab, q(false), t0); r != OK || adBit(got) {
			t.Errorf("stored AD=%v, query without AD: %v, AD=%v", stored, r, adBit(got))
		}
	}
}

// TestAnswerSizes: the three limits, each at its edge.
func TestAnswerSizes(t *testing.T) {
	p := qspec{id: 7, name: "a.test.", qtype: dns.TypeA, opt: &opt{4096, 0}}.wire()
	tab := NewTable(4)
	if r := tab.Fill(1, p, hitReply(t, p, 0, twoA, nil), t0); r != OK {
		t.Fatal(r)
	}
	var q Query
	ParseQuery(p, &q)
	n := q.QEnd + 2*(8+10+4) + optLen
	dst := make([]byte, 2000)
	for _, tc := range []struct {
		dst, maxLen int
		r           Reason
	}{{n, n, OK}, {n - 1, n, TooBig}, {n, n - 1, TooBig}, {2000, 2000, OK}} {
		if got, r := tab.Answer(1, &q, p, true, t0, dst[:tc.dst], tc.maxLen); r != tc.r || (r == OK && got != n) {
			t.Errorf("dst %d, maxLen %d: %d, %v; want %v", tc.dst, tc.maxLen, got, r, tc.r)
		}
	}
	// The payload must be the one q was parsed from.
	if _, r := tab.Answer(1, &q, p[:len(p)-1], false, t0, dst, 2000); r != NotParsed {
		t.Errorf("other payload: %v", r)
	}
	if _, r := tab.Answer(1, new(Query), p, false, t0, dst, 2000); r != NotParsed {
		t.Errorf("zero Query: %v", r)
	}
}
