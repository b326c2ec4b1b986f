package datapath

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// poolBed drives a pool without a queue: serve records the request's id
// (varint in its payload) and blocks while the id has a gate; flush counts.
type poolBed struct {
	t *testing.T
	p *pool

	mu       sync.Mutex
	served   map[uint64]int
	gates    map[uint64]chan struct{}
	running  int // serves in progress
	peak     int // most serves in progress at once
	flushes  int
	lastSeen string // "serve" or "flush", whichever ended last
	changed  chan struct{}
}

func newPoolBed(t *testing.T, slots, maxWorkers int) *poolBed {
	b := &poolBed{t: t, p: &pool{}, served: map[uint64]int{}, gates: map[uint64]chan struct{}{}, changed: make(chan struct{}, 1)}
	b.p.init(slots, maxWorkers, binary.MaxVarintLen64, nil)
	b.p.serve = b.serve
	b.p.flush = b.flush
	t.Cleanup(func() {
		b.mu.Lock()
		for id, g := range b.gates {
			close(g)
			delete(b.gates, id)
		}
		b.mu.Unlock()
		b.p.close()
		b.p.wg.Wait()
	})
	return b
}

func (b *poolBed) serve(r *Request) {
	id, _ := binary.Uvarint(r.Payload)
	b.mu.Lock()
	b.running++
	b.peak = max(b.peak, b.running)
	g := b.gates[id]
	b.mu.Unlock()
	b.notify()
	if g != nil {
		<-g
	}
	b.mu.Lock()
	b.running--
	b.served[id]++
	b.lastSeen = "serve"
	b.mu.Unlock()
	b.notify()
}

func (b *poolBed) flush() {
	b.mu.Lock()
	b.flushes++
	b.lastSeen = "flush"
	b.mu.Unlock()
	b.notify()
}

func (b *poolBed) notify() {
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// gate makes the serve of id block until open is called.
func (b *poolBed) gate(id uint64) (open func()) {
	g := make(chan struct{})
	b.mu.Lock()
	b.gates[id] = g
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.gates[id] == g {
			close(g)
			delete(b.gates, id)
		}
	}
}

// push queues one request per id, as the receive loop does.
func (b *poolBed) push(ids ...uint64) {
	b.t.Helper()
	rs := make([]*Request, len(ids))
	if n := b.p.take(rs); n != len(ids) {
		b.t.Fatalf("took %d slots, want %d", n, len(ids))
	}
	for i, id := range ids {
		rs[i].Payload = rs[i].buf[:binary.PutUvarint(rs[i].buf, id)]
	}
	b.p.push(rs, nil)
}

// await waits until cond holds (under b.mu) or fails the test.
func (b *poolBed) await(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		b.mu.Lock()
		ok := cond()
		b.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-b.changed:
		case <-time.After(time.Millisecond):
		case <-deadline:
			b.t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func ids(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id < to; id++ {
		out = append(out, id)
	}
	return out
}

func TestPoolServesEachOnce(t *testing.T) {
	const slots, total = 16, 1000
	b := newPoolBed(t, slots, 8)
	for next := uint64(0); next < total; {
		b.p.awaitSlot(nil, time.Hour)
		n := min(uint64(b.p.freeSlots()), total-next)
		b.push(ids(next, next+n)...)
		next += n
	}
	b.await("every request is served", func() bool { return len(b.served) == total && b.running == 0 })
	for id, n := range b.served {
		if n != 1 || id >= total {
			t.Errorf("request %d served %d times, want once", id, n)
		}
	}
	b.await("every slot is free again", func() bool { return b.p.freeSlots() == slots })
	if p := b.p.pending(); p != 0 {
		t.Errorf("pending = %d after all were served, want 0", p)
	}
}

func TestPoolBlockedServeDoesNotHoldUpOthers(t *testing.T) {
	b := newPoolBed(t, 16, 4)
	open := b.gate(0)
	b.push(ids(0, 10)...)
	b.await("the rest are served while 0 blocks", func() bool { return len(b.served) == 9 && b.running == 1 })
	if b.served[0] != 0 {
		t.Fatalf("the blocked request finished before it was let go")
	}
	b.await("only the blocked one is pending", func() bool { return b.p.pending() == 1 })
	open()
	b.await("the blocked one finishes", func() bool { return b.served[0] == 1 })
}

func TestPoolWorkersBoundedAndIdleOnesExit(t *testing.T) {
	const maxWorkers = 8
	b := newPoolBed(t, 32, maxWorkers)
	var opens []func()
	for id := range uint64(12) {
		opens = append(opens, b.gate(id))
	}
	b.push(ids(0, 12)...)
	b.await("every worker blocks", func() bool { return b.running == maxWorkers })
	// Give a wrongly spawned extra worker the time to show.
	time.Sleep(20 * time.Millisecond)
	if n := b.p.size(); n != maxWorkers {
		t.Errorf("%d workers with all of them blocked, want the maximum %d", n, maxWorkers)
	}
	for _, open := range opens {
		open()
	}
	b.await("all are served", func() bool { return len(b.served) == 12 && b.running == 0 })
	b.await("idle workers beyond the reserve exit", func() bool { return b.p.size() == maxIdle })
	b.mu.Lock()
	peak := b.peak
	b.mu.Unlock()
	if peak != maxWorkers {
		t.Errorf("at most %d serves ran at once, want %d", peak, maxWorkers)
	}

	// The reserve serves the next burst: nothing is spawned.
	b.push(ids(100, 103)...)
	b.await("the next burst is served", func() bool { return len(b.served) == 15 })
	if n := b.p.size(); n != maxIdle {
		t.Errorf("%d workers after a burst the reserve could serve, want %d", n, maxIdle)
	}
}

func TestPoolFlushesOncePerBatch(t *testing.T) {
	// One worker serves a batch in turn, so it drains it exactly once.
	b := newPoolBed(t, 16, 1)
	for batch := range 5 {
		from := uint64(batch * 10)
		b.push(ids(from, from+10)...)
		b.await("the batch is served and flushed", func() bool { return b.flushes > batch && len(b.served) == int(from)+10 })
		// A second flush of the same batch would come right after the first.
		time.Sleep(5 * time.Millisecond)
		b.mu.Lock()
		if b.flushes != batch+1 {
			t.Errorf("batch %d: %d flushes in all, want %d", batch, b.flushes, batch+1)
		}
		b.mu.Unlock()
	}
}

func TestPoolFlushesAfterLastServe(t *testing.T) {
	// With many workers each may flush, but a reply must never be left in
	// the TX ring: the last thing to happen is a flush.
	b := newPoolBed(t, 64, 16)
	for batch := range 20 {
		from := uint64(batch * 50)
		b.push(ids(from, from+50)...)
		b.await("the batch is served and flushed", func() bool {
			return len(b.served) == int(from)+50 && b.running == 0 && b.lastSeen == "flush"
		})
	}
}

func TestPoolCloseWaitsForWorkers(t *testing.T) {
	b := newPoolBed(t, 16, 4)
	open := b.gate(0)
	b.push(ids(0, 1)...)
	b.await("the first request blocks", func() bool { return b.running == 1 })
	b.push(ids(1, 6)...)
	b.p.close()
	done := make(chan struct{})
	go func() {
		b.p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("close did not wait for a worker still serving")
	case <-time.After(50 * time.Millisecond):
	}
	open()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("workers did not exit after close")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.served) != 6 {
		t.Errorf("%d requests served after close, want all 6 queued before it", len(b.served))
	}
	if n := b.p.size(); n != 0 {
		t.Errorf("%d workers left after close, want 0", n)
	}
}
