package datapath

import (
	"sync"
	"time"
)

// pool runs a queue's Handler on worker goroutines. Hits are served one
// after another by whichever worker is running; a worker that blocks (a miss
// waiting on its upstream) leaves the rest of the queue to a standby worker
// it woke before it started. Workers are spawned on demand up to a maximum;
// a few stay idle for the next burst and the rest exit, so the pool follows
// the number of pending misses and the steady state spawns nothing. The
// worker that empties the queue flushes the TX ring: replies leave in
// batches, one kick per batch.
type pool struct {
	mu   sync.Mutex
	cond sync.Cond

	all        []*Request // every slot
	ring       []*Request // FIFO of received requests; cap = all slots
	head, n    int
	free       []*Request // slots not in use
	idle       int        // workers waiting on cond
	woken      int        // signalled, not yet running
	workers    int
	maxWorkers int
	closed     bool
	starved    bool          // the receive loop waits for a free slot
	slotFreed  chan struct{} // wakes it

	serve func(*Request)
	flush func()
	wg    sync.WaitGroup
}

func (p *pool) init(slots, maxWorkers, bufSize int, q *queue) {
	p.cond.L = &p.mu
	p.slotFreed = make(chan struct{}, 1)
	p.ring = make([]*Request, slots)
	p.free = make([]*Request, 0, slots)
	bufs := make([]byte, slots*bufSize)
	for i := range slots {
		p.free = append(p.free, &Request{q: q, snd: q, buf: bufs[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]})
	}
	p.all = append([]*Request(nil), p.free...)
	p.maxWorkers = maxWorkers
}

// take moves up to len(dst) free slots into dst.
func (p *pool) take(dst []*Request) int {
	p.mu.Lock()
	n := min(len(dst), len(p.free))
	copy(dst, p.free[len(p.free)-n:])
	p.free = p.free[:len(p.free)-n]
	p.mu.Unlock()
	return n
}

// awaitSlot blocks until a slot is free, stop is closed or d has passed.
func (p *pool) awaitSlot(stop <-chan struct{}, d time.Duration) {
	p.mu.Lock()
	if len(p.free) > 0 {
		p.mu.Unlock()
		return
	}
	p.starved = true
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.slotFreed:
	case <-stop:
	case <-t.C:
	}
}

// freeSlots is how many more queries the queue can accept.
func (p *pool) freeSlots() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// push queues requests for the workers, makes sure one is on its way, and
// gives back the slots taken but not used. It returns the free slots left.
func (p *pool) push(rs, unused []*Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, unused...)
	for _, r := range rs {
		p.ring[(p.head+p.n)%len(p.ring)] = r
		p.n++
	}
	p.wakeLocked()
	return len(p.free)
}

// wakeLocked keeps one worker in reserve while requests wait: a signalled
// idle one, else a new one.
func (p *pool) wakeLocked() {
	if p.n == 0 || p.woken > 0 || p.closed {
		return
	}
	if p.idle > 0 {
		p.woken++
		p.cond.Signal()
		return
	}
	if p.workers < p.maxWorkers {
		p.workers++
		p.woken++
		p.wg.Add(1)
		go p.work()
	}
}

// maxIdle is how many workers wait for work; more exit.
const maxIdle = 4

func (p *pool) work() {
	defer p.wg.Done()
	p.mu.Lock()
	p.woken--
	for {
		for p.n == 0 && !p.closed {
			if p.idle >= maxIdle {
				p.workers--
				p.mu.Unlock()
				return
			}
			p.idle++
			p.cond.Wait()
			p.idle--
			p.woken--
		}
		if p.n == 0 { // closed and drained
			p.workers--
			p.mu.Unlock()
			return
		}
		r := p.ring[p.head]
		p.ring[p.head] = nil
		p.head = (p.head + 1) % len(p.ring)
		p.n--
		p.wakeLocked()
		p.mu.Unlock()

		r.started.Store(time.Now().UnixNano())
		p.serve(r)
		r.started.Store(0)

		p.mu.Lock()
		r.Payload = nil
		p.free = append(p.free, r)
		if p.starved {
			p.starved = false
			select { // a token left by a wait that timed out will do
			case p.slotFreed <- struct{}{}:
			default:
			}
		}
		if p.n == 0 {
			p.mu.Unlock()
			p.flush()
			p.mu.Lock()
		}
	}
}

// blocked is how many requests have been in the Handler for longer than
// after: misses waiting on an upstream, not queries behind a busy CPU.
func (p *pool) blocked(after time.Duration) int {
	limit := time.Now().Add(-after).UnixNano()
	n := 0
	for _, r := range p.all {
		if s := r.started.Load(); s != 0 && s < limit {
			n++
		}
	}
	return n
}

// pending is how many requests are queued or being served.
func (p *pool) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ring) - len(p.free)
}

func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers
}

// close lets the workers finish what is queued and exit; wait for them with
// p.wg.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.woken += p.idle
	p.cond.Broadcast()
	p.mu.Unlock()
}
