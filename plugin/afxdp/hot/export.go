package hot

import "time"

// Another tier (the XDP program) serves copies of entries. It learns of
// them from the table's journal (Changes) rather than by reading the
// whole table: a fill, a replacement, an eviction or a woken entry is one
// change, so keeping the copies costs what changes, not what is held.
// Entries are immutable, so a copy made once stays right until the entry
// goes; the other tier lowers the TTLs itself as time passes (from Filled
// and TTL, as remaining does).

// Export is one entry as another tier serves it. Its slices are the
// entry's own: read them, never write them.
type Export struct {
	Family              uint32 // the caller's number: the glue's client address family
	QType               uint16
	DO, CD              bool
	Name                []byte // lowercased wire name
	AA, RA, AD, ADKnown bool
	Rcode               uint8
	AN, NS, EX          uint16   // EX without the OPT
	RRs                 []byte   // uncompressed, TTL fields as filled
	TTLAt               []uint16 // where each record's TTL field is in RRs
	TTL                 uint32   // the records' TTL at Filled
	Filled              time.Time
}

// Ref names an entry for another tier: one per entry.
type Ref struct{ e *entry }

// Export is the entry's data.
func (r *Ref) Export() Export {
	e := r.e
	return Export{
		Family: e.key.family, QType: e.key.qtype, DO: e.key.do, CD: e.key.cd,
		Name: e.name, AA: e.aa, RA: e.ra, AD: e.ad, ADKnown: e.adKnown, Rcode: uint8(e.rcode),
		AN: e.an, NS: e.ns, EX: e.ex, RRs: e.rrs, TTLAt: e.ttlAt, TTL: e.ttl, Filled: e.filled,
	}
}

// Gone: the table no longer holds the entry (replaced, evicted, cleared).
func (r *Ref) Gone() bool { return r.e.gone.Load() }

// Remaining is the TTL Answer would give at now (see entry.remaining).
func (r *Ref) Remaining(now time.Time) int64 { return r.e.remaining(now) }

// Park says the other tier dropped its copy for want of use: the next
// answer the table gives from the entry puts a change in the journal, so
// the other tier can take it back.
func (r *Ref) Park() { r.e.parked.Store(true) }

// AddHits counts answers another tier gave from the entry, by query
// shape, as if Answer had given them: Flush reports them.
func (r *Ref) AddHits(noOPT, opt uint64) {
	r.e.hits[ShapeNoOPT].Add(noOPT)
	r.e.hits[ShapeOPT].Add(opt)
}

// Change is one entry of the journal: Ref was filled or woken (Gone
// false), or left the table (Gone true). A replacement is the new entry's
// change, then the old one's.
type Change struct {
	Ref  *Ref
	Gone bool
}

// journalSize bounds the changes kept for readers that fall behind; one
// that falls further resynchronises with Range.
const journalSize = 1 << 16

// log records a change. Caller holds mu. Until someone reads the
// journal, nothing is kept.
func (t *Table) log(e *entry, gone bool) {
	if !t.journaling {
		return
	}
	if t.journal == nil {
		t.journal = make([]Change, journalSize)
	}
	t.journal[t.seq%journalSize] = Change{Ref: &e.ref, Gone: gone}
	t.seq++
}

// Changes appends to dst the changes after cursor (0 at first) and
// returns them with the cursor to pass next time. ok is false when the
// journal no longer holds them all (or at the first call): the caller
// must then take the table as Range gives it.
func (t *Table) Changes(cursor uint64, dst []Change) (_ []Change, next uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.journaling {
		t.journaling = true
		return dst, t.seq, false
	}
	if cursor > t.seq || t.seq-cursor > journalSize {
		return dst, t.seq, false
	}
	for ; cursor < t.seq; cursor++ {
		dst = append(dst, t.journal[cursor%journalSize])
	}
	return dst, t.seq, true
}

// Range calls fn for every entry the table holds. fn must not call the
// table's methods that write (Fill, Clear).
func (t *Table) Range(fn func(*Ref)) {
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil && !e.gone.Load() {
			fn(&e.ref)
		}
	}
}

// wake puts a parked entry back in the journal.
func (t *Table) wake(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !e.gone.Load() {
		t.log(e, false)
	}
}
