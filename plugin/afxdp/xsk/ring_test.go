package xsk

import (
	"math"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests need no privilege: the rings are Go memory, and the test
// plays the kernel's side of each (it moves the index words the kernel
// moves).

// TestRingArithmetic: the pure index arithmetic, across the wrap of the
// uint32 indexes at 2^32.
func TestRingArithmetic(t *testing.T) {
	const top = math.MaxUint32
	for _, tc := range []struct {
		name             string
		size, prod, cons uint32
		used, free       uint32
	}{
		{"empty at 0", 64, 0, 0, 0, 64},
		{"empty at the top", 64, top, top, 0, 64},
		{"empty after the wrap", 64, 5, 5, 0, 64},
		{"some", 64, 10, 3, 7, 57},
		{"full", 64, 64, 0, 64, 0},
		{"the producer just wrapped", 64, 0, top, 1, 63},
		{"the producer wrapped a while ago", 64, 2, top - 1, 4, 60},
		{"full across the wrap", 64, 31, top - 32, 64, 0},
		{"full, the consumer at the top", 2048, 2047, top, 2048, 0},
		{"the largest ring, full across the wrap", 1 << 16, 1<<15 - 1, top - 1<<15, 1 << 16, 0},
		{"half way round", 64, 1<<31 + 8, 1 << 31, 8, 56},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ringUsed(tc.prod, tc.cons); got != tc.used {
				t.Errorf("ringUsed(%d, %d) = %d, want %d", tc.prod, tc.cons, got, tc.used)
			}
			if got := ringFree(tc.size, tc.prod, tc.cons); got != tc.free {
				t.Errorf("ringFree(%d, %d, %d) = %d, want %d", tc.size, tc.prod, tc.cons, got, tc.free)
			}
		})
	}
	for _, tc := range []struct {
		idx, i, mask, want uint32
	}{
		{0, 0, 63, 0},
		{63, 0, 63, 63},
		{63, 1, 63, 0},
		{64, 0, 63, 0},
		{130, 5, 63, 7},
		{top, 0, 63, 63},
		{top, 1, 63, 0},              // the index wraps to 0, and so does the slot
		{top - 1, 3, 63, 1},          // a batch that straddles the wrap
		{top - 31, 40, 2047, 8},      // slot (2^32-31+40) mod 2048
		{1<<31 - 1, 1, 1<<16 - 1, 0}, // a carry into bit 31
		{top - 100, 50, 1<<16 - 1, 65485},
	} {
		if got := ringSlot(tc.idx, tc.i, tc.mask); got != tc.want {
			t.Errorf("ringSlot(%d, %d, %d) = %d, want %d", tc.idx, tc.i, tc.mask, got, tc.want)
		}
		// Masking the uint32 sum is the slot of the true (unwrapped) index
		// because the ring's size divides 2^32.
		if want := uint32((uint64(tc.idx) + uint64(tc.i)) % (uint64(tc.mask) + 1)); ringSlot(tc.idx, tc.i, tc.mask) != want {
			t.Errorf("ringSlot(%d, %d, %d) is not the slot of the unwrapped index (%d)", tc.idx, tc.i, tc.mask, want)
		}
	}
	for _, tc := range []struct {
		have uint32
		room int
		want uint32
	}{
		{0, 64, 0},
		{5, 64, 5},
		{64, 64, 64},
		{100, 64, 64},
		{100, 0, 0},
		{2048, 1, 1},
	} {
		if got := batchLen(tc.have, tc.room); got != tc.want {
			t.Errorf("batchLen(%d, %d) = %d, want %d", tc.have, tc.room, got, tc.want)
		}
	}
}

// words are a ring's index words, where the kernel would map them.
type words struct{ producer, consumer, flags uint32 }

// testRing is a ring of size entries over w, both indexes at start, as
// newRing leaves one whose indexes are there.
func testRing(w *words, size, start uint32) ring {
	w.producer, w.consumer = start, start
	return ring{producer: &w.producer, consumer: &w.consumer, flags: &w.flags,
		mask: size - 1, size: size, cachedProd: start, cachedCons: start}
}

// TestRingProducer: the producer's side (fill and TX rings) across the
// wrap. The consumer index is read only when the cached view is full.
func TestRingProducer(t *testing.T) {
	for _, start := range []uint32{0, math.MaxUint32 - 10, math.MaxUint32 - 63, math.MaxUint32} {
		var w words
		r := testRing(&w, 64, start)
		if f := r.free(1); f != 64 {
			t.Fatalf("start %d: free(1) = %d on an empty ring, want 64", start, f)
		}
		r.submit(40)
		if w.producer != start+40 || r.pending() != 40 {
			t.Fatalf("start %d: after submit(40): producer %d (want %d), pending %d", start, w.producer, start+40, r.pending())
		}
		// The kernel consumes 10: the cached view still has room for 24,
		// so free(24) does not look.
		w.consumer += 10
		if f := r.free(24); f != 24 {
			t.Errorf("start %d: free(24) = %d, want 24 from the cached view", start, f)
		}
		if r.pending() != 30 {
			t.Errorf("start %d: pending = %d, want 30 (it reads the consumer)", start, r.pending())
		}
		// Asking for more than the cached view has reads the consumer.
		if f := r.free(25); f != 34 {
			t.Errorf("start %d: free(25) = %d, want 34", start, f)
		}
		r.submit(34)
		if f := r.free(1); f != 0 {
			t.Errorf("start %d: free(1) = %d on a full ring", start, f)
		}
		if w.producer-w.consumer != 64 || w.producer != start+74 {
			t.Errorf("start %d: producer %d consumer %d, want a full ring at %d", start, w.producer, w.consumer, start+74)
		}
		w.consumer += 64
		if f := r.free(1); f != 64 || r.pending() != 0 {
			t.Errorf("start %d: free(1) = %d, pending %d after the kernel took all", start, f, r.pending())
		}
	}
}

// TestRingConsumer: the consumer's side (RX and completion rings) across
// the wrap. The producer index is read only when the cached view is empty.
func TestRingConsumer(t *testing.T) {
	for _, start := range []uint32{0, math.MaxUint32 - 2, math.MaxUint32} {
		var w words
		r := testRing(&w, 64, start)
		if a := r.avail(); a != 0 {
			t.Fatalf("start %d: avail = %d on an empty ring", start, a)
		}
		w.producer += 5
		if a := r.avail(); a != 5 {
			t.Fatalf("start %d: avail = %d, want 5", start, a)
		}
		// More published: not seen until the cached entries are consumed.
		w.producer += 3
		if a := r.avail(); a != 5 {
			t.Errorf("start %d: avail = %d, want the cached 5", start, a)
		}
		r.release(5)
		if w.consumer != start+5 {
			t.Errorf("start %d: consumer %d after release(5), want %d", start, w.consumer, start+5)
		}
		if a := r.avail(); a != 3 {
			t.Errorf("start %d: avail = %d, want 3", start, a)
		}
		r.release(3)
		w.producer += 64
		if a := r.avail(); a != 64 {
			t.Errorf("start %d: avail = %d on a full ring, want 64", start, a)
		}
	}
}

// fakeKernel is the kernel's side of a socket made by fakeSocket.
type fakeKernel struct {
	fill, comp, rx, tx words
}

// fakeSocket is a Socket whose UMEM and rings are Go memory, every index
// starting at start, primed as setup primes a real one. It has no
// descriptor: only the ring operations work (and Flush with nothing
// pending; the need-wakeup flags stay clear, so nothing makes a syscall).
func fakeSocket(t *testing.T, cfg Config, start uint32) (*Socket, *fakeKernel) {
	t.Helper()
	k := &fakeKernel{}
	n := uint32(cfg.RingSize)
	s := &Socket{fd: -1, cfg: cfg, umem: make([]byte, cfg.UMEMBytes())}
	s.fill = addrRing{ring: testRing(&k.fill, n, start), addrs: make([]uint64, n)}
	s.comp = addrRing{ring: testRing(&k.comp, n, start), addrs: make([]uint64, n)}
	s.rx = descRing{ring: testRing(&k.rx, n, start), descs: make([]unix.XDPDesc, n)}
	s.tx = descRing{ring: testRing(&k.tx, n, start), descs: make([]unix.XDPDesc, n)}
	s.prime()
	return s, k
}

// receive is the kernel receiving into n frames from the fill ring: it
// takes their addresses and publishes RX descriptors that point headroom
// bytes into each, with lengths 100, 101, ...
func (k *fakeKernel) receive(t *testing.T, s *Socket, n uint32, headroom uint64) []unix.XDPDesc {
	t.Helper()
	if have := k.fill.producer - k.fill.consumer; have < n {
		t.Fatalf("the fill ring holds %d frames, the kernel wants %d", have, n)
	}
	if room := s.rx.size - (k.rx.producer - k.rx.consumer); room < n {
		t.Fatalf("the RX ring has room for %d, the kernel wants %d", room, n)
	}
	var out []unix.XDPDesc
	for i := range n {
		addr := s.fill.addrs[(k.fill.consumer+i)&s.fill.mask]
		d := unix.XDPDesc{Addr: addr + headroom, Len: 100 + i}
		s.rx.descs[(k.rx.producer+i)&s.rx.mask] = d
		out = append(out, d)
	}
	k.fill.consumer += n
	k.rx.producer += n
	return out
}

// transmit is the kernel sending what the TX ring holds: it consumes the
// descriptors and completes their frames.
func (k *fakeKernel) transmit(s *Socket) []unix.XDPDesc {
	var out []unix.XDPDesc
	for k.tx.consumer != k.tx.producer {
		d := s.tx.descs[k.tx.consumer&s.tx.mask]
		out = append(out, d)
		s.comp.addrs[k.comp.producer&s.comp.mask] = d.Addr
		k.tx.consumer++
		k.comp.producer++
	}
	return out
}

// TestPrime: the first half of the UMEM goes into the fill ring, as many
// frames as it takes; the second half is the free TX frames.
func TestPrime(t *testing.T) {
	for _, tc := range []struct {
		cfg      Config
		fill, tx int
	}{
		{Config{Frames: 256, FrameSize: 2048, RingSize: 64}, 64, 128},       // the ring is smaller than the half
		{Config{Frames: 128, FrameSize: 4096, RingSize: 64}, 64, 64},        // the least Validate allows
		{Config{Frames: 64, FrameSize: 2048, RingSize: 64}, 32, 32},         // the half is smaller than the ring
		{Config{Frames: 4096, FrameSize: 2048, RingSize: 2048}, 2048, 2048}, // DefaultConfig
	} {
		for _, start := range []uint32{0, math.MaxUint32 - 20} {
			s, k := fakeSocket(t, tc.cfg, start)
			if got := int(k.fill.producer - start); got != tc.fill {
				t.Errorf("%+v start %d: %d frames in the fill ring, want %d", tc.cfg, start, got, tc.fill)
			}
			for i := range uint32(tc.fill) {
				if a := s.fill.addrs[(start+i)&s.fill.mask]; a != uint64(i)*uint64(tc.cfg.FrameSize) {
					t.Fatalf("%+v start %d: fill entry %d is %#x, want frame %d", tc.cfg, start, i, a, i)
				}
			}
			if len(s.txFree) != tc.tx || s.TxFree() != tc.tx {
				t.Errorf("%+v: %d free TX frames, want %d", tc.cfg, len(s.txFree), tc.tx)
			}
			for _, a := range s.txFree {
				if a < uint64(tc.cfg.Frames/2*tc.cfg.FrameSize) || a%uint64(tc.cfg.FrameSize) != 0 {
					t.Errorf("%+v: free TX frame %#x is not a frame of the second half", tc.cfg, a)
				}
			}
		}
	}
}

// TestReceiveRefill: Receive takes what the RX ring has, at most a batch,
// in order, across the wrap of the indexes; Refill gives the frames back
// to the fill ring at their start, whatever the headroom.
func TestReceiveRefill(t *testing.T) {
	cfg := Config{Frames: 256, FrameSize: 2048, RingSize: 64}
	for _, start := range []uint32{0, math.MaxUint32 - 6, math.MaxUint32} {
		s, k := fakeSocket(t, cfg, start)
		batch := make([]unix.XDPDesc, 8)
		if n := s.Receive(batch); n != 0 {
			t.Fatalf("start %d: Receive = %d on an empty ring", start, n)
		}
		// Fewer than a batch.
		sent := k.receive(t, s, 5, 256)
		if n := s.Receive(batch); n != 5 || !slices.Equal(batch[:5], sent) {
			t.Fatalf("start %d: Receive = %d, %v; want 5, %v", start, n, batch[:n], sent)
		}
		if k.rx.consumer != start+5 {
			t.Errorf("start %d: RX consumer %d, want %d", start, k.rx.consumer, start+5)
		}
		s.Refill(batch[:5])
		// More than a batch: 8, 8, then the 4 left.
		sent = k.receive(t, s, 20, 0)
		var got []unix.XDPDesc
		for _, want := range []int{8, 8, 4, 0} {
			n := s.Receive(batch)
			if n != want {
				t.Fatalf("start %d: Receive = %d, want %d", start, n, want)
			}
			got = append(got, batch[:n]...)
			s.Refill(batch[:n])
		}
		if !slices.Equal(got, sent) {
			t.Errorf("start %d: received %v, want %v in order", start, got, sent)
		}
		// Every frame went back: the fill ring is as full as at start, and
		// holds each frame of the receive half once, at its start.
		if n := k.fill.producer - k.fill.consumer; n != 64 {
			t.Errorf("start %d: the fill ring holds %d frames, want 64", start, n)
		}
		seen := map[uint64]bool{}
		for i := k.fill.consumer; i != k.fill.producer; i++ {
			a := s.fill.addrs[i&s.fill.mask]
			if a%2048 != 0 || a >= 128*2048 || seen[a] {
				t.Errorf("start %d: fill ring entry %#x: not a distinct frame start of the receive half", start, a)
			}
			seen[a] = true
		}
		// A whole ring's worth, round and round the wrap.
		for round := range 5 {
			sent := k.receive(t, s, 64, 256)
			got = got[:0]
			for {
				n := s.Receive(batch)
				if n == 0 {
					break
				}
				got = append(got, batch[:n]...)
				s.Refill(batch[:n])
			}
			if !slices.Equal(got, sent) {
				t.Fatalf("start %d round %d: received %d frames out of order or lost, want %d", start, round, len(got), len(sent))
			}
		}
	}
}

// TestTransmitBookkeeping: NextTx, Send, Release and completion keep every
// TX frame accounted for, across the wrap of the indexes; Send refuses a
// full TX ring and leaves the frame to the caller.
func TestTransmitBookkeeping(t *testing.T) {
	cfg := Config{Frames: 256, FrameSize: 2048, RingSize: 64} // 128 TX frames, a ring of 64
	for _, start := range []uint32{0, math.MaxUint32 - 30, math.MaxUint32} {
		s, k := fakeSocket(t, cfg, start)
		// One released, one sent.
		a, buf, ok := s.NextTx()
		if !ok || len(buf) != 2048 || cap(buf) != 2048 {
			t.Fatalf("start %d: NextTx = %#x, %d/%d bytes, %v", start, a, len(buf), cap(buf), ok)
		}
		s.Release(a)
		if s.TxFree() != 128 {
			t.Errorf("start %d: %d free after Release, want 128", start, s.TxFree())
		}
		// Fill the TX ring: 64 go on, the 65th is refused.
		var sent []uint64
		for i := range 64 {
			a, _, ok := s.NextTx()
			if !ok || !s.Send(a, 60+i) {
				t.Fatalf("start %d: frame %d: NextTx %v, or Send refused on a ring with room", start, i, ok)
			}
			sent = append(sent, a)
		}
		if s.TxPending() != 64 || k.tx.producer != start+64 {
			t.Errorf("start %d: pending %d, producer %d; want 64 at %d", start, s.TxPending(), k.tx.producer, start+64)
		}
		extra, _, ok := s.NextTx()
		if !ok {
			t.Fatalf("start %d: no 65th free frame", start)
		}
		if s.Send(extra, 60) {
			t.Fatalf("start %d: Send accepted a frame on a full TX ring", start)
		}
		s.Release(extra)
		if s.TxFree() != 64 {
			t.Errorf("start %d: %d free with 64 in flight, want 64", start, s.TxFree())
		}
		// The kernel sends them, in order, and completes them.
		out := k.transmit(s)
		if len(out) != 64 {
			t.Fatalf("start %d: the kernel found %d on the TX ring, want 64", start, len(out))
		}
		for i, d := range out {
			if d.Addr != sent[i] || d.Len != uint32(60+i) {
				t.Errorf("start %d: TX entry %d is %#x/%d, want %#x/%d", start, i, d.Addr, d.Len, sent[i], 60+i)
			}
		}
		if s.TxPending() != 0 {
			t.Errorf("start %d: pending %d after the kernel sent all", start, s.TxPending())
		}
		if s.TxFree() != 128 || k.comp.consumer != start+64 {
			t.Errorf("start %d: %d free after completion (want 128), completion consumer %d (want %d)",
				start, s.TxFree(), k.comp.consumer, start+64)
		}
		// Every TX frame is free once, and none of the receive half.
		free := slices.Compact(slices.Sorted(slices.Values(s.txFree)))
		if len(free) != 128 || free[0] != 128*2048 || free[127] != 255*2048 {
			t.Errorf("start %d: the free TX frames are not the 128 frames of the second half, once each", start)
		}
		// Round and round the wrap, a frame at a time.
		for i := range 300 {
			a, _, ok := s.NextTx()
			if !ok || !s.Send(a, 80) {
				t.Fatalf("start %d step %d: NextTx %v or Send refused", start, i, ok)
			}
			if out := k.transmit(s); len(out) != 1 || out[0].Addr != a {
				t.Fatalf("start %d step %d: the kernel sent %v, want %#x", start, i, out, a)
			}
		}
		if s.TxFree() != 128 {
			t.Errorf("start %d: %d free after the laps, want 128", start, s.TxFree())
		}
		if err := s.Flush(); err != nil {
			t.Errorf("start %d: Flush with nothing pending: %v", start, err)
		}
	}
}

// TestRingOpsAllocateNothing: a receive, refill, send and completion of a
// batch allocate nothing.
func TestRingOpsAllocateNothing(t *testing.T) {
	cfg := Config{Frames: 256, FrameSize: 2048, RingSize: 64}
	s, k := fakeSocket(t, cfg, math.MaxUint32-100)
	batch := make([]unix.XDPDesc, 16)
	fill := func() {
		for range 16 {
			s.rx.descs[k.rx.producer&s.rx.mask] = unix.XDPDesc{Addr: s.fill.addrs[k.fill.consumer&s.fill.mask], Len: 64}
			k.fill.consumer++
			k.rx.producer++
		}
	}
	send := func() {
		for k.tx.consumer != k.tx.producer {
			s.comp.addrs[k.comp.producer&s.comp.mask] = s.tx.descs[k.tx.consumer&s.tx.mask].Addr
			k.tx.consumer++
			k.comp.producer++
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		fill()
		n := s.Receive(batch)
		for range n {
			a, buf, ok := s.NextTx()
			if !ok {
				panic("no free TX frame")
			}
			copy(buf, s.Frame(batch[0])[:64])
			s.Send(a, 64)
		}
		s.Refill(batch[:n])
		send()
		_ = s.TxFree()
	})
	if allocs != 0 {
		t.Errorf("a batch through the rings allocated %.1f times, want 0", allocs)
	}
}
