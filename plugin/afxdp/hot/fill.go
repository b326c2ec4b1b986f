package hot

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/miekg/dns"
)

// Fill stores what a cache hit wrote, so later queries with the same key get
// it hot. query is the raw query the client sent; reply is the message the
// chain handed to the writer for it (after CoreDNS's ScrubWriter: the
// client's OPT last in Extra if it sent one; Truncate may have set TC or
// Compress).
//
// now is when the entry is taken to be observed; it ages from there. Take
// it just before the chain ran (when the query was taken up), never after:
// the cache reads its clock in between, at a fraction of a second Fill
// cannot see. Then a fill from the miss that stored the item gives the
// chain's TTL or one less, and a fill from a later hit at most one more,
// so with Answer passing at TTL ≤ 1 no hot answer is ever given for an
// item the chain already sees expired. (Taken after the chain wrote, a
// window of the gap per second would have it two above.)
//
// Only a reply shaped as a cache hit is stored: a response to this very
// query, TC clear, NOERROR/NXDOMAIN/SERVFAIL, at least one record and all
// records (OPT aside) with one TTL of at least 2, no TSIG, the question
// echoed byte for byte, and an OPT exactly when the query had one, without
// options. Finally the entry is rendered for query and must give back the
// reply's own uncompressed bytes. A refill of the same key replaces the
// entry.
//
// Whether the reply was a cache hit of a chain whose plugins ahead of cache
// are transparent is for the caller to know; Fill sees only bytes.
func (t *Table) Fill(family uint32, query []byte, reply *dns.Msg, now time.Time) Reason {
	return t.FillMeta(family, query, reply, now, nil)
}

// FillMeta is Fill with meta attached to the entry and handed back by Flush
// with its hits (say, the resolved metric series of the query's labels).
func (t *Table) FillMeta(family uint32, query []byte, reply *dns.Msg, now time.Time, meta any) Reason {
	var q Query
	if r := ParseQuery(query, &q); r != OK {
		return r
	}
	if reply == nil {
		return ReplyShape
	}
	if r := checkHeader(&q, reply); r != OK {
		return r
	}
	ttl, r := checkRecords(&q, reply)
	if r != OK {
		return r
	}

	// Pack a shallow copy uncompressed: the position-independent form, and
	// what the chain writes whenever it fits. Pack changes nothing in reply
	// the writer's own Pack did not already (the OPT's extended RCODE).
	m := *reply
	m.Compress = false
	wire, err := m.Pack()
	if err != nil || len(wire) != m.Len() {
		// The chain's size rules use Len; if it and the bytes disagree,
		// this package's size checks would not be the chain's.
		return ReplyMismatch
	}
	if len(wire) < q.QEnd || !bytes.Equal(wire[headerLen:q.QEnd], query[headerLen:q.QEnd]) {
		return ReplyShape // the question is not the client's, byte for byte
	}
	end := len(wire)
	if q.HasOPT {
		end -= optLen
	}
	if end+optLen > MaxUDPv4 {
		return TooBig // no client could be sent it uncompressed
	}
	e := &entry{
		key:     queryKey(0, &q),
		name:    bytes.Clone(q.Name()),
		aa:      reply.Authoritative,
		ra:      reply.RecursionAvailable,
		ad:      reply.AuthenticatedData,
		adKnown: q.DO || q.AD,
		rcode:   reply.Rcode,
		an:      uint16(len(reply.Answer)),
		ns:      uint16(len(reply.Ns)),
		ex:      uint16(len(reply.Extra)),
		rrs:     bytes.Clone(wire[q.QEnd:end]),
		ttl:     ttl,
		filled:  now,
		meta:    meta,
	}
	if q.HasOPT {
		e.ex--
	}
	e.key.family = family
	e.hash = e.key.hash(q.hash)
	if e.ttlAt = ttlOffsets(e.rrs, int(e.an)+int(e.ns)+int(e.ex)); e.ttlAt == nil {
		return ReplyMismatch
	}
	// The proof: the entry rendered for the query that filled it, at the
	// moment it was filled, is the reply.
	self := make([]byte, e.replyLen(&q))
	e.render(&q, query, ttl, self)
	if !bytes.Equal(self, wire) {
		return ReplyMismatch
	}
	e.ref.e = e
	t.insert(e, now)
	return OK
}

// checkHeader wants the header a cache hit for q gets (item.toMsg after
// SetReply): ID, QR, opcode, RD and CD as the query's, Z clear, TC clear,
// AD clear unless the query had DO or AD, and a cached rcode.
func checkHeader(q *Query, m *dns.Msg) Reason {
	switch {
	case m.Id != q.ID, !m.Response, m.Opcode != dns.OpcodeQuery, m.Zero,
		m.RecursionDesired != q.RD, m.CheckingDisabled != q.CD,
		m.AuthenticatedData && !q.DO && !q.AD:
		return ReplyShape
	case m.Truncated:
		return ReplyTC
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure:
	default:
		return ReplyRcode
	}
	if len(m.Question) != 1 || m.Question[0].Qtype != q.QType || m.Question[0].Qclass != q.QClass {
		return ReplyShape
	}
	return OK
}

// checkRecords returns the one TTL of the records, OPT aside. The cache
// sets every record of a hit to the same TTL (filterRRSlice); records that
// differ did not come from it. The OPT, if any, must be the client's,
// appended last by SizeAndDo.
func checkRecords(q *Query, m *dns.Msg) (uint32, Reason) {
	var ttl uint32
	n := 0
	for s, rrs := range [...][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for i, rr := range rrs {
			h := rr.Header()
			switch h.Rrtype {
			case dns.TypeTSIG:
				return 0, TSIG
			case dns.TypeOPT:
				if s != 2 || i != len(rrs)-1 || !q.HasOPT || len(rr.(*dns.OPT).Option) != 0 {
					return 0, ReplyShape
				}
				continue
			}
			if n > 0 && h.Ttl != ttl {
				return 0, MixedTTL
			}
			ttl = h.Ttl
			n++
		}
	}
	if q.HasOPT && m.IsEdns0() == nil {
		return 0, ReplyShape
	}
	if n == 0 {
		return 0, NoRecords
	}
	if ttl < 2 {
		return 0, LowTTL
	}
	return ttl, OK
}

// ttlOffsets walks n uncompressed records packed in rrs and returns where
// each one's TTL field is, or nil if they are not exactly n such records.
func ttlOffsets(rrs []byte, n int) []uint16 {
	at := make([]uint16, 0, n)
	off := 0
	for range n {
		for { // owner name: labels only, Compress was off
			if off >= len(rrs) || rrs[off]&0xc0 != 0 {
				return nil
			}
			l := int(rrs[off])
			off += 1 + l
			if l == 0 {
				break
			}
		}
		if off+10 > len(rrs) {
			return nil
		}
		at = append(at, uint16(off+4))
		off += 10 + int(binary.BigEndian.Uint16(rrs[off+8:]))
	}
	if off != len(rrs) {
		return nil
	}
	return at
}
