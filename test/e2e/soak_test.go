package e2e

import (
	"os"
	"testing"
	"time"
)

// TestSoak runs a steady high rate for a bounded time (AFXDP_SOAK, default
// 60s) and compares the server after a warm-up with the server at the end:
// no growth in goroutines or memory, and every frame back where it belongs.
func TestSoak(t *testing.T) {
	d := 60 * time.Second
	if s := os.Getenv("AFXDP_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d > 30*time.Minute {
			t.Fatalf("AFXDP_SOAK=%q: want a duration of at most 30m", s)
		}
	}
	tb, _ := newResolver(t, 2, "")
	warm := 10 * time.Second
	l := tb.steadyLoad(d+warm, 8, 100*time.Microsecond)
	time.Sleep(warm)
	start := tb.metrics(tb.srv, 9153)
	l.wait()
	time.Sleep(2 * time.Second) // let GC and the TX ring settle
	end := tb.metrics(tb.srv, 9153)

	t.Logf("%d queries in %v, %d lost", l.sent.Load(), d+warm, l.lost())
	for _, m := range []string{"go_goroutines", "process_resident_memory_bytes", "go_memstats_heap_inuse_bytes"} {
		t.Logf("%s: %v after warm-up, %v at the end", m, metric(start, m), metric(end, m))
	}
	if g0, g1 := metric(start, "go_goroutines"), metric(end, "go_goroutines"); g1 > g0+5 {
		t.Errorf("goroutines grew from %v to %v", g0, g1)
	}
	if r0, r1 := metric(start, "process_resident_memory_bytes"), metric(end, "process_resident_memory_bytes"); r1 > r0*1.25 {
		t.Errorf("resident memory grew from %v to %v", r0, r1)
	}
	if v := metric(end, "coredns_afxdp_tx_free_frames"); v != 2*2048 {
		t.Errorf("tx_free_frames %v at rest, want all %d: frames leaked", v, 2*2048)
	}
	if v := metric(end, "coredns_afxdp_pending"); v != 0 {
		t.Errorf("pending %v at rest, want 0", v)
	}
	if l.lost() != 0 {
		t.Errorf("lost %d queries (first: %v)", l.lost(), l.firstErr.Load())
	}
	if v := metric(end, "coredns_afxdp_tx_frames_total"); v < float64(l.sent.Load()) {
		t.Errorf("tx_frames_total %v < %d queries: not all went through AF_XDP", v, l.sent.Load())
	}

}
