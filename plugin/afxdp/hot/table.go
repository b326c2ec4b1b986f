package hot

import (
	"bytes"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ways is the number of slots a key may live in: one bucket, probed in
// full. Eight tags are 64 bytes, a cache line.
const ways = 8

// Table holds hot entries, keyed as the cache keys its items (lowercased
// name, qtype, qclass, DO, CD) plus a family number the caller gives
// (the glue: the client's address family), so that entries filled for
// one family never answer another.
//
// Layout: a fixed array of buckets of `ways` slots, each slot a hash tag and
// an atomic pointer to an immutable entry, sized so it is at most half full.
// Why not sharded maps under RWMutexes: RLock writes the lock's reader count,
// so receive loops on different cores that hit the same popular names would
// bounce that cache line on every query. Why not one atomic snapshot of a
// whole map: each fill would copy all N entries. Here a lookup only loads
// (one line of tags, a pointer, the entry) and writes nothing shared but the
// entry's hit counter; fills, evictions and flushes take one mutex, off the
// hit path. A reader that raced a replacement sees the old or the new entry,
// each complete, and checks the full key, so a stale tag is harmless.
type Table struct {
	tags  []atomic.Uint64         // 0: empty; else the key hash (never 0)
	slots []atomic.Pointer[entry] // same index as tags
	mask  uint64                  // buckets-1

	mu        sync.Mutex // writers: Fill, eviction, Clear, Flush's retired lists
	max       int
	n         atomic.Int64
	evictions atomic.Uint64
	flushing  bool     // Flush has been called: keep retired entries for it
	retired   []*entry // replaced or evicted since the last Flush
	// Retired at the last drainRounds Flushes: late hits still land on
	// them (a receive loop that loaded one just before; another tier's
	// counters, read at its next refresh).
	draining [drainRounds][]*entry
	round    int

	journaling bool     // Changes has been called: log changes
	journal    []Change // a ring of journalSize
	seq        uint64   // changes logged so far
}

// drainRounds is how many Flushes a retired entry is still reported by:
// two seconds at the plugin's 250 ms, over the XDP tier's refresh (its
// last hits are read up to two refreshes after the entry goes).
const drainRounds = 8

// NewTable makes a table of at most entries entries (at least 1).
func NewTable(entries int) *Table {
	entries = max(entries, 1)
	// At most half the slots in use keeps buckets from filling before the
	// table does, so eviction is mostly the table-wide kind.
	buckets := 1 << bits.Len(uint((2*entries+ways-1)/ways-1))
	return &Table{
		tags:  make([]atomic.Uint64, buckets*ways),
		slots: make([]atomic.Pointer[entry], buckets*ways),
		mask:  uint64(buckets - 1),
		max:   entries,
	}
}

// Len is the number of entries, expired ones included until replaced.
func (t *Table) Len() int { return int(t.n.Load()) }

// Evictions counts entries dropped to make room for another key.
func (t *Table) Evictions() uint64 { return t.evictions.Load() }

// key is what an entry is filed under.
type key struct {
	family        uint32
	qtype, qclass uint16
	do, cd        bool
}

func queryKey(family uint32, q *Query) key {
	return key{family: family, qtype: q.QType, qclass: q.QClass, do: q.DO, cd: q.CD}
}

// hash mixes the name hash with the rest of the key (murmur3's finalizer);
// 0 marks an empty slot, so it is never returned.
func (k key) hash(name uint64) uint64 {
	h := name ^ uint64(k.family)<<32 ^ uint64(k.qtype)<<16 ^ uint64(k.qclass)
	if k.do {
		h ^= 1 << 62
	}
	if k.cd {
		h ^= 1 << 63
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 { // (h | 1 would leave every even bucket empty)
		h = 1
	}
	return h
}

func (t *Table) bucket(h uint64) int { return int(h&t.mask) * ways }

// lookup finds the entry for q. No locks, no writes.
func (t *Table) lookup(family uint32, q *Query) *entry {
	k := queryKey(family, q)
	h := k.hash(q.hash)
	b := t.bucket(h)
	for i := b; i < b+ways; i++ {
		if t.tags[i].Load() != h {
			continue
		}
		if e := t.slots[i].Load(); e != nil && e.hash == h && e.key == k && bytes.Equal(e.name, q.Name()) {
			return e
		}
	}
	return nil
}

// insert files e, replacing an entry with the same key, else taking a free
// slot, else evicting: within the bucket when it is full (an expired entry
// first, then the oldest), elsewhere at random when the table is.
func (t *Table) insert(e *entry, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucket(e.hash)
	free, victim := -1, -1
	for i := b; i < b+ways; i++ {
		old := t.slots[i].Load()
		switch {
		case old == nil:
			if free < 0 {
				free = i
			}
		case old.hash == e.hash && old.key == e.key && bytes.Equal(old.name, e.name):
			t.put(i, e)
			t.log(e, false)
			t.retire(old)
			return
		case victim < 0 || older(old, t.slots[victim].Load(), now):
			victim = i
		}
	}
	if free < 0 {
		old := t.slots[victim].Load()
		t.put(victim, e)
		t.log(e, false)
		t.retire(old)
		t.evictions.Add(1)
		return
	}
	if int(t.n.Load()) >= t.max {
		t.evictRandom()
	}
	t.put(free, e)
	t.log(e, false)
	t.n.Add(1)
}

// older says whether a should be evicted before b: expired first, then the
// one filled earlier.
func older(a, b *entry, now time.Time) bool {
	ax, bx := a.remaining(now) <= 1, b.remaining(now) <= 1
	if ax != bx {
		return ax
	}
	return a.filled.Before(b.filled)
}

// put publishes e in slot i: pointer first, then tag, so a reader that
// matches the new tag finds the new entry (or, racing, one it rejects).
func (t *Table) put(i int, e *entry) {
	t.slots[i].Store(e)
	t.tags[i].Store(e.hash)
}

// evictRandom drops one entry, starting the search at a random slot; the
// table is at most half full, so few slots are looked at. Caller holds mu.
func (t *Table) evictRandom() {
	start := rand.IntN(len(t.slots))
	for j := range len(t.slots) {
		i := (start + j) % len(t.slots)
		if old := t.slots[i].Load(); old != nil {
			t.tags[i].Store(0)
			t.slots[i].Store(nil)
			t.retire(old)
			t.n.Add(-1)
			t.evictions.Add(1)
			return
		}
	}
}

// retire marks an entry gone, logs it, and keeps it for the next
// drainRounds Flushes, so hits counted on it by a reader that loaded it
// just before are still reported. Until someone flushes, nobody reads
// hits, and nothing is kept. Caller holds mu.
func (t *Table) retire(e *entry) {
	e.gone.Store(true)
	t.log(e, true)
	if t.flushing {
		t.retired = append(t.retired, e)
	}
}

// Clear drops every entry (a reload, a listener gone). Not an eviction.
func (t *Table) Clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.slots {
		if old := t.slots[i].Load(); old != nil {
			t.tags[i].Store(0)
			t.slots[i].Store(nil)
			t.retire(old)
		}
	}
	t.n.Store(0)
}
