package hot

// Hits are the hot answers one entry gave since the last Flush, with what
// CoreDNS's per-query metrics would have measured for each: the sizes are
// fixed per entry and query shape (no EDNS options are ever served).
type Hits struct {
	Meta any               // as given to FillMeta
	N    [numShapes]uint64 // hits by query shape, ShapeNoOPT and ShapeOPT
	// QueryLen is the query's length without OPT (r.Len() of the
	// request); add 11 for ShapeOPT.
	QueryLen int
	// ReplyLen is what the metrics plugin's Recorder counts for a cache
	// hit: the reply as the cache wrote it, before the ScrubWriter added
	// the OPT, uncompressed. The same for both shapes.
	ReplyLen int
}

// Flush calls fn for every entry with hits since the last Flush and resets
// them: live entries, and for drainRounds rounds those replaced or evicted
// (a receive loop that loaded one just before, or another tier, may still
// count on it). Meant
// for one periodic flusher; fn must not keep the *Hits.
func (t *Table) Flush(fn func(*Hits)) {
	t.mu.Lock()
	t.flushing = true
	t.round = (t.round + 1) % drainRounds
	t.draining[t.round], t.retired = t.retired, nil
	var gone []*entry
	for _, d := range t.draining {
		gone = append(gone, d...)
	}
	t.mu.Unlock()

	var h Hits
	report := func(e *entry) {
		h.N[ShapeNoOPT] = e.hits[ShapeNoOPT].Swap(0)
		h.N[ShapeOPT] = e.hits[ShapeOPT].Swap(0)
		if h.N[ShapeNoOPT]|h.N[ShapeOPT] == 0 {
			return
		}
		h.Meta = e.meta
		h.QueryLen = headerLen + len(e.name) + 4
		h.ReplyLen = h.QueryLen + len(e.rrs)
		fn(&h)
	}
	for i := range t.slots {
		if e := t.slots[i].Load(); e != nil {
			report(e)
		}
	}
	for _, e := range gone {
		report(e)
	}
}
