package hot

import (
	"encoding/binary"
	"hash/maphash"
)

// DNS constants, spelled out so the parse path needs no miekg/dns.
const (
	headerLen = 12
	maxName   = 255 // wire octets, root label included (RFC 1035 3.1)
	optLen    = 11  // root owner, type, class, TTL, rdlen 0

	typeOPT   = 41
	typeDS    = 43
	typeRRSIG = 46
	typeTKEY  = 249
	typeTSIG  = 250
	typeIXFR  = 251
	typeAXFR  = 252
	typeMAILB = 253
	typeMAILA = 254
	typeANY   = 255
	classIN   = 1

	ednsDO = 0x8000 // in the OPT TTL field
)

// Query is what ParseQuery learns from a query: the cache key and what the
// reply echoes. It is a plain value, meant to live on the receive loop's
// stack or in a per-loop scratch; the name is copied in lowercased so the
// key does not point into the frame.
type Query struct {
	ID             uint16
	RD, CD, AD, DO bool
	Opcode         uint8

	QType, QClass uint16
	NameLen       int // wire length of the name, root label included; it starts at offset 12
	QEnd          int // offset just past QTYPE and QCLASS

	HasOPT  bool
	UDPSize uint16 // the OPT's CLASS as sent: echoed raw, even below 512
	OPTTTL  uint32 // the OPT's TTL field as sent: DO and the Z bits survive into the reply

	Len int // the query's length: all of it is consumed, nothing trails

	hash uint64        // maphash of the lowercased name
	name [maxName]byte // lowercased wire name
	ok   bool          // set only by a successful ParseQuery
}

// Name is the lowercased wire name: the cache's key in wire form.
func (q *Query) Name() []byte { return q.name[:q.NameLen] }

// Size is the reply size the chain truncates to: the client's UDP size,
// at least 512, or 512 without OPT (request.Size, edns.Size).
func (q *Query) Size() int {
	if q.HasOPT && q.UDPSize > 512 {
		return int(q.UDPSize)
	}
	return 512
}

// seed keys the name hash. One per process: ParseQuery runs before any
// Table is chosen, and a random seed keeps an attacker from aiming names at
// one bucket.
var seed = maphash.MakeSeed()

// ParseQuery reads payload, a DNS query as received over UDP, into q, and
// says whether a hot answer may be given to it. It does not allocate.
//
// It accepts exactly the queries for which a cache hit's reply is a pure
// function of the cache item and the fields kept in q: one question, an
// uncompressed name that miekg/dns unpacks and packs back to the same bytes,
// class IN, a type the server routes by name alone and the cache handles
// like any other, and at most one OPT, version 0, owner root, no options,
// at the very end. Everything else goes to the chain, which knows more.
func ParseQuery(payload []byte, q *Query) Reason {
	q.ok = false
	if len(payload) < headerLen {
		return Malformed
	}
	b2, b3 := payload[2], payload[3]
	q.ID = binary.BigEndian.Uint16(payload)
	q.Opcode = b2 >> 3 & 0xf
	q.RD = b2&0x01 != 0
	q.AD = b3&0x20 != 0
	q.CD = b3&0x10 != 0
	q.DO, q.HasOPT, q.UDPSize, q.OPTTTL = false, false, 0, 0
	if b2&0x80 != 0 {
		return NotQuery
	}
	if q.Opcode != 0 {
		return Opcode
	}
	qd := binary.BigEndian.Uint16(payload[4:])
	an := binary.BigEndian.Uint16(payload[6:])
	ns := binary.BigEndian.Uint16(payload[8:])
	ar := binary.BigEndian.Uint16(payload[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return Counts
	}

	off, r := readName(payload, headerLen, q)
	if r != OK {
		return r
	}
	if off+4 > len(payload) {
		return Malformed
	}
	q.QType = binary.BigEndian.Uint16(payload[off:])
	q.QClass = binary.BigEndian.Uint16(payload[off+2:])
	off += 4
	q.QEnd = off
	if q.QClass != classIN {
		return Class
	}
	switch q.QType {
	case typeANY, typeDS, typeAXFR, typeIXFR, typeRRSIG, typeOPT, typeTSIG, typeTKEY, typeMAILA, typeMAILB:
		return QType
	}

	if ar == 1 {
		if off, r = readOPT(payload, off, q); r != OK {
			return r
		}
	}
	if off != len(payload) {
		return Trailing
	}
	q.Len = off
	q.hash = maphash.Bytes(seed, q.name[:q.NameLen])
	q.ok = true
	return OK
}

// readName copies the question name at off into q.name, lowercased, and
// returns the offset after it. Label rules are miekg/dns's
// (UnpackDomainName): 0xC0 is a pointer, 0x40 and 0x80 are reserved, and
// the labels with their length octets may total at most 254, 255 with the
// root.
func readName(p []byte, off int, q *Query) (int, Reason) {
	n := 0
	for {
		if off >= len(p) {
			return 0, Malformed
		}
		c := int(p[off])
		switch c & 0xc0 {
		case 0xc0:
			return 0, Compressed
		case 0x40, 0x80:
			return 0, Malformed
		}
		if c == 0 {
			q.name[n] = 0
			q.NameLen = n + 1
			return off + 1, OK
		}
		if n+c+1 >= maxName {
			return 0, NameTooLong
		}
		if off+1+c > len(p) {
			return 0, Malformed
		}
		q.name[n] = byte(c)
		label := p[off+1 : off+1+c]
		dst := q.name[n+1 : n+1+c]
		for i, ch := range label {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			dst[i] = ch
		}
		n += c + 1
		off += c + 1
	}
}

// readOPT reads the one additional record, which must be a bare OPT, and
// returns the offset after it.
func readOPT(p []byte, off int, q *Query) (int, Reason) {
	// The owner: skip it whatever it is, so a TSIG is called a TSIG.
	root := off < len(p) && p[off] == 0
	for {
		if off >= len(p) {
			return 0, Malformed
		}
		c := int(p[off])
		if c&0xc0 == 0xc0 {
			off += 2
			break
		}
		if c&0xc0 != 0 {
			return 0, Malformed
		}
		off += 1 + c
		if c == 0 {
			break
		}
	}
	if off+10 > len(p) {
		return 0, Malformed
	}
	switch binary.BigEndian.Uint16(p[off:]) {
	case typeOPT:
	case typeTSIG:
		return 0, TSIG
	default:
		return 0, NotOPT
	}
	if !root {
		return 0, OPTOwner
	}
	ttl := binary.BigEndian.Uint32(p[off+4:])
	if ttl>>16&0xff != 0 {
		return 0, OPTVersion
	}
	if binary.BigEndian.Uint16(p[off+8:]) != 0 {
		return 0, OPTOptions
	}
	q.HasOPT = true
	q.UDPSize = binary.BigEndian.Uint16(p[off+2:])
	q.OPTTTL = ttl
	q.DO = ttl&ednsDO != 0
	return off + 10, OK
}
