package main

import (
	"math/rand/v2"
	"slices"
)

// tableSize bounds the queries in flight: the DNS ID of a query is its
// slot, so a reply finds its query in one step and is matched on the whole
// key, (client address, client port, DNS ID).
const tableSize = 1 << 16

type entry struct {
	sent   int64 // nanoseconds since the start; 0: free
	addr   [16]byte
	port   uint16
	stream uint16
}

// table is the outstanding queries. A query still in its slot when the
// slot comes round again (tableSize queries later) is evicted: lost, and
// a late reply to it counts as unmatched.
type table struct {
	e           [tableSize]entry
	outstanding int
	seq         uint32
}

// put records a query sent at t (> 0) and returns its DNS ID; evicted says
// which stream lost a query to make room (-1: none).
func (t *table) put(at int64, addr *[16]byte, port uint16, stream int) (id uint16, evicted int) {
	id = uint16(t.seq)
	t.seq++
	e := &t.e[id]
	evicted = -1
	if e.sent != 0 {
		evicted = int(e.stream)
		t.outstanding--
	}
	*e = entry{sent: at, addr: *addr, port: port, stream: uint16(stream)}
	t.outstanding++
	return id, evicted
}

// cancel frees the entry of a query that was not sent after all.
func (t *table) cancel(id uint16) {
	if t.e[id].sent != 0 {
		t.e[id].sent = 0
		t.outstanding--
	}
}

// take matches a reply: the query's entry (freed) and true, or false for a
// reply that matches nothing in flight.
func (t *table) take(r *reply) (entry, bool) {
	e := &t.e[r.id]
	if e.sent == 0 || e.port != r.port || e.addr != r.addr {
		return entry{}, false
	}
	got := *e
	e.sent = 0
	t.outstanding--
	return got, true
}

// stats are one stream's counters.
type stats struct {
	sent, answered, evicted uint64
	rcodes                  [16]uint64
	lat                     reservoir
}

// reservoir keeps a uniform sample of at most cap latencies (algorithm R).
type reservoir struct {
	cap  int
	seen uint64
	ns   []int64
	rng  *rand.Rand
}

func newReservoir(n int, seed uint64) reservoir {
	return reservoir{cap: n, ns: make([]int64, 0, n), rng: rand.New(rand.NewPCG(seed, 1))}
}

func (r *reservoir) add(ns int64) {
	r.seen++
	if len(r.ns) < r.cap {
		r.ns = append(r.ns, ns)
		return
	}
	if j := r.rng.Uint64N(r.seen); j < uint64(r.cap) {
		r.ns[j] = ns
	}
}

// Latency is a summary of the sample, in microseconds.
type Latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

func (r *reservoir) summary() Latency {
	s := slices.Clone(r.ns)
	slices.Sort(s)
	l := Latency{Samples: len(s)}
	if len(s) == 0 {
		return l
	}
	q := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1)+0.5)]) / 1e3 }
	l.P50, l.P90, l.P99, l.Max = q(0.50), q(0.90), q(0.99), q(1)
	return l
}
