package datapath

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/plugin/afxdp/frame"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

// queue is one RX queue: its socket, the loop that receives, the pool that
// serves and the TX side that replies.
type queue struct {
	id    int
	iface *Interface
	sock  *xsk.Socket
	pool  pool
	stats counters

	txMu     sync.Mutex // the TX side of sock, and closed
	txClosed bool

	hoMu      sync.Mutex // handedOff and the filter's XSKMAP entry
	handedOff bool

	inline  InlineHandler // nil if the handler answers nothing inline
	scratch []byte        // the receive loop's inline reply payload
	reply   frame.Header  // and its addressing (a field: no allocation)
	spare   Request       // the header of a frame that got no slot

	started bool // its socket is bound and its loop runs
	stopped chan struct{}
}

func newQueue(i *Interface, id int, sock *xsk.Socket) *queue {
	q := &queue{id: id, iface: i, sock: sock, stopped: make(chan struct{})}
	q.pool.init(i.opts.MaxPending, i.opts.MaxWorkers, sock.FrameSize(), q)
	q.pool.serve = i.handler.ServeFrame
	q.pool.flush = q.flush
	if in, ok := i.handler.(InlineHandler); ok {
		q.inline, q.scratch = in, make([]byte, sock.FrameSize())
	}
	return q
}

// rxLoop receives until stop is closed and the RX ring is empty.
func (q *queue) rxLoop(stop <-chan struct{}) {
	defer close(q.stopped)
	descs := make([]unix.XDPDesc, q.iface.opts.Batch)
	reqs := make([]*Request, q.iface.opts.Batch)
	for {
		free, inline := q.pool.freeSlots(), q.answersInline()
		if free == 0 && !inline {
			// Every slot is held. By misses blocked on their upstream:
			// the kernel listener takes the queue until they drain. By
			// queries the CPU is behind on: never hand off (the kernel
			// path costs more per query); the frames wait in the RX ring,
			// and what does not fit is dropped there, where it costs least.
			if q.pool.blocked(blockedAfter) >= q.iface.opts.MaxPending/2 {
				q.handToKernel()
			}
			// Look again when queries that took slots just now may
			// have come to count as blocked.
			q.pool.awaitSlot(stop, blockedAfter/2)
			select {
			case <-stop:
				return
			default:
			}
			continue
		}
		// Answering inline, the loop drains the ring whatever the slots:
		// hot answers need none, and what needs one is shed if none is free.
		batch := len(descs)
		if !inline {
			batch = min(batch, free)
		}
		err := q.sock.Wait()
		if n := q.sock.Receive(descs[:batch]); n > 0 {
			q.receive(descs[:n], reqs, inline)
			q.sock.Refill(descs[:n])
			continue
		}
		select {
		case <-stop:
			return
		default:
		}
		if err != nil {
			// Not expected from a netpoller wait: do not spin on it.
			time.Sleep(time.Millisecond)
		}
	}
}

// receive copies each query out of its frame into a free slot and queues it.
// Copying lets the frame go back to the fill ring at once, so a pile of slow
// misses never starves the RX side of frames.
//
// With inline set (the handler answers inline: decided once per batch),
// each query is offered to it first; a frame beyond the slots taken is
// kept only if it is answered there.
func (q *queue) receive(descs []unix.XDPDesc, reqs []*Request, inline bool) {
	got := q.pool.take(reqs[:len(descs)])
	used, answered := 0, 0
	for _, d := range descs {
		data := q.sock.Frame(d)
		q.stats.rxFrames.Add(1)
		q.stats.rxBytes.Add(uint64(len(data)))
		// A frame beyond the slots taken is decoded into the spare, for
		// an inline answer only.
		r := &q.spare
		if used < got {
			r = reqs[used]
		}
		payload, err := frame.Decode(data, &r.Header)
		switch {
		case err == frame.ErrChecksum:
			q.stats.drops[DropChecksum].Add(1)
			continue
		case err != nil || len(payload) > q.sock.FrameSize():
			q.stats.drops[DropDecode].Add(1)
			continue
		}
		if inline && q.answerInline(&r.Header, payload) {
			answered++
			continue // the slot takes the next frame
		}
		if r == &q.spare {
			q.stats.drops[DropOverload].Add(1)
			continue
		}
		r.Payload = r.buf[:copy(r.buf, payload)]
		used++
	}
	if answered > 0 {
		q.txMu.Lock()
		q.flushLocked()
		q.txMu.Unlock()
	}
	if q.pool.push(reqs[:used], reqs[used:got]) < q.iface.opts.MaxPending/8 && !inline &&
		q.pool.blocked(blockedAfter) >= q.iface.opts.MaxPending/2 {
		q.handToKernel()
	}
}

// blockedAfter is how long a query must have been in the Handler to count
// as blocked on its upstream: far above any CPU-bound answer, far below an
// upstream's timeout.
const blockedAfter = 100 * time.Millisecond

func (q *queue) answersInline() bool { return q.inline != nil && q.inline.AnswersInline() }

// answerInline asks the inline handler for an answer and sends it.
func (q *queue) answerInline(h *frame.Header, payload []byte) bool {
	q.reply = h.Reply()
	n := q.inline.AnswerInline(h, payload, q.scratch[:min(len(q.scratch), q.MaxPayload(&q.reply))])
	if n <= 0 {
		return false
	}
	q.Send(&q.reply, q.scratch[:n]) // a failure is counted as a drop
	return true
}

// MaxPayload bounds a reply by the UMEM frame and by the interface MTU: the
// datapath never fragments. A reply's headers are as long as the query's
// (Len counts no IPv4 options).
func (q *queue) MaxPayload(h *frame.Header) int {
	hl := h.Len()
	return min(q.sock.FrameSize()-hl, int(q.iface.mtu.Load())-(hl-h.LinkLen()))
}

// Send builds the reply frame in a free TX frame and puts it on the TX ring.
func (q *queue) Send(h *frame.Header, payload []byte) error {
	if len(payload) > q.MaxPayload(h) {
		q.stats.drops[DropTooLarge].Add(1)
		return ErrTooLarge
	}
	q.txMu.Lock()
	defer q.txMu.Unlock()
	if q.txClosed {
		return ErrClosed
	}
	addr, buf, ok := q.sock.NextTx()
	if !ok {
		q.flushLocked()
		if addr, buf, ok = q.sock.NextTx(); !ok {
			q.stats.drops[DropNoFrame].Add(1)
			return ErrNoFrame
		}
	}
	hl := h.Len()
	if hl+len(payload) > len(buf) {
		q.sock.Release(addr)
		q.stats.drops[DropTooLarge].Add(1)
		return ErrTooLarge
	}
	copy(buf[hl:], payload)
	n, err := frame.Encode(buf, h, len(payload))
	if err != nil {
		q.sock.Release(addr)
		q.stats.drops[DropTooLarge].Add(1)
		return err
	}
	if !q.sock.Send(addr, n) {
		q.sock.Release(addr)
		q.stats.drops[DropTxRingFull].Add(1)
		return ErrRingFull
	}
	q.stats.txFrames.Add(1)
	q.stats.txBytes.Add(uint64(n))
	return nil
}

// flush transmits what the TX ring holds; the pool calls it when it runs
// out of queued work, and it takes the queue back if it was handed off.
func (q *queue) flush() {
	q.txMu.Lock()
	q.flushLocked()
	q.txMu.Unlock()
	if q.pool.freeSlots() > q.iface.opts.MaxPending/2 {
		q.takeBack()
	}
}

func (q *queue) flushLocked() {
	if q.txClosed || q.sock.TxPending() == 0 {
		return
	}
	if err := q.sock.Flush(); err != nil {
		q.stats.drops[DropTxError].Add(uint64(q.sock.TxPending()))
	}
}

// handToKernel points the queue's queries at the kernel listener. A queue
// whose slots are nearly all held by pending misses is handed off rather
// than dropping what arrives: the kernel answers meanwhile.
func (q *queue) handToKernel() {
	q.hoMu.Lock()
	defer q.hoMu.Unlock()
	if q.handedOff || q.iface.released.Load() {
		return
	}
	q.stats.handoffs.Add(1)
	if q.iface.filter.ClearSocket(q.id) == nil {
		q.handedOff = true
	}
}

// takeBack points a handed-off queue's queries at its socket again.
func (q *queue) takeBack() {
	q.hoMu.Lock()
	defer q.hoMu.Unlock()
	if !q.handedOff || q.iface.released.Load() {
		return
	}
	if q.iface.filter.SetSocket(q.id, q.sock.FD()) == nil {
		q.handedOff = false
	}
}
