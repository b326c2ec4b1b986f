package hot

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// UDP reply sizes above which CoreDNS's Scrub compresses a reply that
// already fits the client's buffer, to avoid fragmentation
// (request.Scrub). Which one applies is decided like request.Family: a
// client address for which net.IP.To4 is not nil (IPv4, or IPv4-mapped
// IPv6) gets the IPv4 limit.
const (
	MaxUDPv4 = 1480
	MaxUDPv6 = 1220
)

// Query shapes that hits are counted by: the reply of the one is 11 bytes
// longer, and CoreDNS's size histograms see it.
const (
	ShapeNoOPT = iota
	ShapeOPT
	numShapes
)

// pad keeps the hit counters, the only part of an entry written on the hit
// path, off the cache lines the readers of its other fields load.
type pad [64]byte

// entry is one cache item as the chain replays it. Everything but hits is
// written once, before the entry is published, and then only read.
type entry struct {
	hash uint64
	key  key
	name []byte // lowercased wire name

	aa, ra, ad bool
	adKnown    bool // the filling query had DO or AD, so the reply showed the stored AD
	rcode      int  // 0, 2 or 3: no extended bits, so the OPT's top byte is 0
	an, ns, ex uint16
	rrs        []byte   // Answer, Ns, Extra (no OPT), packed uncompressed: position independent
	ttlAt      []uint16 // offset in rrs of each record's TTL field
	ttl        uint32   // the TTL every record had when the entry was filled
	filled     time.Time
	meta       any
	ref        Ref         // points back at the entry, for another tier
	gone       atomic.Bool // the table dropped it

	_      pad
	hits   [numShapes]atomic.Uint64
	parked atomic.Bool // another tier dropped its copy: the next answer wakes it
	_      pad
}

// remaining is the TTL the entry would put on its records now: the observed
// TTL less the whole seconds since filled. The cache computes
// int(origTTL) - int(now.Sub(stored).Seconds()); with filled taken before
// the chain ran (see Fill), this is within one of it, and at most one
// above, so passing at ≤ 1 never answers for an expired item.
func (e *entry) remaining(now time.Time) int64 {
	age := max(now.Sub(e.filled), 0)
	return int64(e.ttl) - int64(age/time.Second)
}

// replyLen is the length of the reply to q, uncompressed.
func (e *entry) replyLen(q *Query) int {
	n := q.QEnd + len(e.rrs)
	if q.HasOPT {
		n += optLen
	}
	return n
}

// Answer renders into dst the reply the chain would write to q now, if the
// table holds an entry for it that is still valid and the reply goes out
// uncompressed and whole. payload is the query q was parsed from; its
// question is echoed byte for byte, as SetReply does. v6 selects the
// fragmentation limit (see MaxUDPv4). maxLen is the most the transmit path
// takes (a frame's payload); so is len(dst). It does not allocate.
//
// A hit is counted on the entry, by query shape, for Flush.
func (t *Table) Answer(family uint32, q *Query, payload []byte, v6 bool, now time.Time, dst []byte, maxLen int) (int, Reason) {
	if !q.ok || len(payload) != q.Len {
		return 0, NotParsed
	}
	e := t.lookup(family, q)
	if e == nil {
		return 0, Miss
	}
	ttl := e.remaining(now)
	if ttl <= 1 {
		return 0, Expired
	}
	if (q.DO || q.AD) && !e.adKnown {
		return 0, ADUnknown
	}
	// The chain's three size rules, each "compress or truncate if longer":
	// Truncate to request.Size, Scrub's fragmentation limit, and the
	// afxdp writer's frame limit. Any of them changes the bytes.
	limit := MaxUDPv4
	if v6 {
		limit = MaxUDPv6
	}
	n := e.replyLen(q)
	if n > min(q.Size(), limit, maxLen, len(dst)) {
		return 0, TooBig
	}
	e.render(q, payload, uint32(ttl), dst[:n])
	shape := ShapeNoOPT
	if q.HasOPT {
		shape = ShapeOPT
	}
	e.hits[shape].Add(1)
	if e.parked.Load() && e.parked.CompareAndSwap(true, false) { // read first: the line is shared by every hit
		t.wake(e)
	}
	return n, OK
}

// render writes the reply to q with every record's TTL set to ttl into dst,
// which is exactly as long as the reply. This is item.toMsg, then
// ScrubWriter's SizeAndDo, then miekg/dns's uncompressed Pack.
func (e *entry) render(q *Query, payload []byte, ttl uint32, dst []byte) {
	// SetReply: ID, QR, opcode 0, RD and CD from the query; AA, RA and
	// RCODE from the item; AD only where the client asked for DNSSEC or
	// AD (RFC 6840 5.7); TC and Z clear.
	binary.BigEndian.PutUint16(dst, q.ID)
	b2 := byte(0x80)
	if e.aa {
		b2 |= 0x04
	}
	if q.RD {
		b2 |= 0x01
	}
	b3 := byte(e.rcode & 0xf)
	if e.ra {
		b3 |= 0x80
	}
	if e.ad && (q.DO || q.AD) {
		b3 |= 0x20
	}
	if q.CD {
		b3 |= 0x10
	}
	dst[2], dst[3] = b2, b3
	ex := e.ex
	if q.HasOPT {
		ex++
	}
	binary.BigEndian.PutUint16(dst[4:], 1)
	binary.BigEndian.PutUint16(dst[6:], e.an)
	binary.BigEndian.PutUint16(dst[8:], e.ns)
	binary.BigEndian.PutUint16(dst[10:], ex)
	copy(dst[headerLen:q.QEnd], payload[headerLen:q.QEnd])

	rrs := dst[q.QEnd : q.QEnd+len(e.rrs)]
	copy(rrs, e.rrs)
	for _, at := range e.ttlAt {
		binary.BigEndian.PutUint32(rrs[at:], ttl)
	}
	if !q.HasOPT {
		return
	}
	// SizeAndDo appends the client's OPT: owner root, version 0, the
	// client's UDP size as sent, TTL & 0xff00 (DO and Z bits 8-14 kept,
	// the low flag byte cleared), no options; Pack then sets the extended
	// RCODE from the reply's.
	o := dst[q.QEnd+len(e.rrs):]
	o[0] = 0
	binary.BigEndian.PutUint16(o[1:], typeOPT)
	binary.BigEndian.PutUint16(o[3:], q.UDPSize)
	binary.BigEndian.PutUint32(o[5:], uint32(e.rcode>>4)<<24|q.OPTTTL&0xff00)
	binary.BigEndian.PutUint16(o[9:], 0)
}
