package main

// pacer spreads queries evenly in time, open loop: by elapsed nanoseconds
// e, rate*e/1e9 queries are due, whatever came back. A generator that falls
// behind by more than maxBacklog queries does not burst to catch up: the
// excess is counted as behind (wanted, never sent), so what was offered is
// known.
//
// Queries leave in batches of at least minBatch (one sendto, one wake-up of
// the receiver's NAPI for the lot, as a NIC's interrupt coalescing would
// give): one sendto per query would bill the server per packet.
type pacer struct {
	rate       uint64 // queries per second; 0: as fast as possible
	maxBacklog uint64
	minBatch   uint64 // 0 or 1: every query as soon as it is due
	issued     uint64 // sent + behind
	behind     uint64
}

// due is how many queries are due by e nanoseconds after the start. It
// does not overflow for any rate below 2^64/1e9 (1.8e10/s) and any e.
func due(rate uint64, e int64) uint64 {
	if e <= 0 {
		return 0
	}
	u := uint64(e)
	return u/1e9*rate + u%1e9*rate/1e9
}

// take is how many queries to send now (at most max), e nanoseconds after
// the start. The caller reports those it sent with sent.
func (p *pacer) take(e int64, max uint64) uint64 {
	if p.rate == 0 {
		return max
	}
	d := due(p.rate, e)
	if d <= p.issued {
		return 0
	}
	want := d - p.issued
	if want < p.minBatch {
		return 0
	}
	if want > p.maxBacklog {
		p.behind += want - p.maxBacklog
		p.issued += want - p.maxBacklog
		want = p.maxBacklog
	}
	return min(want, max)
}

// sent records n queries sent.
func (p *pacer) sent(n uint64) { p.issued += n }

// wait is how many nanoseconds after e the next query is due (0: now or
// as fast as possible).
func (p *pacer) wait(e int64) int64 {
	if p.rate == 0 {
		return 0
	}
	// The next batch, up to query n = issued+minBatch, is due at the first e' with
	// due(rate, e') >= issued+1: e' = ceil((issued+1)*1e9/rate).
	n := p.issued + max(p.minBatch, 1)
	at := int64(n/p.rate*1e9 + (n%p.rate*1e9+p.rate-1)/p.rate)
	if at <= e {
		return 0
	}
	return at - e
}

// backlogFor is the pacer's catch-up bound for a rate: 2 ms of queries,
// at least 64 and at most 4096.
func backlogFor(rate uint64) uint64 {
	return min(max(rate/500, 64), 4096)
}

// batchFor is the batch a stream waits for: at most max, and never more
// than half a millisecond of queries.
func batchFor(rate, limit uint64) uint64 {
	return min(limit, rate/2000, txBatch)
}
