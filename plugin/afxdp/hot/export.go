package hot

import "time"

// Export is one entry as another tier (the XDP program) serves it: the
// key, the header bits, and the records with their TTLs already set.
type Export struct {
	Listener            uint32
	QType               uint16
	DO, CD              bool
	Name                []byte // lowercased wire name
	AA, RA, AD, ADKnown bool
	Rcode               uint8
	AN, NS, EX          uint16 // EX without the OPT
	RRs                 []byte // uncompressed, every TTL set (a fresh copy)
	Ref                 *Ref   // where that tier's hits are added
}

// Ref names an exported entry, for AddHits: one per entry, so the same
// entry exported twice has the same *Ref.
type Ref struct{ e *entry }

// AddHits counts answers another tier gave from the entry, by query
// shape, as if Answer had given them: Flush reports them.
func (r *Ref) AddHits(noOPT, opt uint64) {
	r.e.hits[ShapeNoOPT].Add(noOPT)
	r.e.hits[ShapeOPT].Add(opt)
	if noOPT+opt > 0 {
		r.e.active.Store(true)
	}
}

// Export calls fn for each entry that was filled or answered (by any
// tier) within the last keep Exports and that is still valid at until:
// its TTLs are set to what they read at until, at least 2. Served from
// now until until, they are within one second of Answer's: Answer's TTL
// at any moment in between is the same or one more (see
// entry.remaining). Expired entries, and those idle longer, are left
// out: their next query takes Answer's path, which marks them again.
// One caller at a time.
func (t *Table) Export(until time.Time, keep int, fn func(*Export)) {
	for i := range t.slots {
		e := t.slots[i].Load()
		if e == nil {
			continue
		}
		if e.active.Swap(false) {
			e.idle = 0
		} else if e.idle++; e.idle >= keep {
			continue
		}
		ttl := e.remaining(until)
		if ttl <= 1 {
			continue
		}
		x := Export{
			Listener: e.key.listener, QType: e.key.qtype, DO: e.key.do, CD: e.key.cd,
			Name: e.name, AA: e.aa, RA: e.ra, AD: e.ad, ADKnown: e.adKnown, Rcode: uint8(e.rcode),
			AN: e.an, NS: e.ns, EX: e.ex, RRs: e.withTTL(uint32(ttl)), Ref: &e.ref,
		}
		fn(&x)
	}
}

// withTTL is the entry's records with every TTL set to ttl.
func (e *entry) withTTL(ttl uint32) []byte {
	b := append([]byte(nil), e.rrs...)
	for _, at := range e.ttlAt {
		b[at], b[at+1], b[at+2], b[at+3] = byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl)
	}
	return b
}
