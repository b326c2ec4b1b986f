package bpf

import (
	"reflect"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/pkt"
)

// BenchmarkFilter is the program's cost per frame under BPF_PROG_TEST_RUN
// (the kernel's own loop: ns/op is what it reports per repeat, its harness
// of about 20 ns included). Every query comes from a source with a route
// verdict (loadHost's), so the route check's lookup is in every query's
// figure; without a socket, a query that passes every check ends as
// no_socket: the redirect path minus bpf_redirect_map and the MAC rewrite.
// The "in place" cases bind a socket and take the whole redirect path.
//
// The test run copies the frame in once per call and does not restore it
// between that call's repeats: the first
// repeat rewrites the query's MACs (the device's own as the destination,
// the next hop's as the source) and the others see that output as input.
// No check depends on the source MAC and the own MAC passes the destination
// check, so each repeat takes the same path and writes the same bytes: the
// frame after N repeats is the frame after one (checked below).
func BenchmarkFilter(b *testing.B) {
	f := loadHost(b)
	for _, ap := range modelServed {
		if err := f.Serve(ap.Addr(), ap.Port()); err != nil {
			b.Fatal(err)
		}
	}
	s := testServed()
	cases := []struct {
		name   string
		rp     int
		frame  []byte
		socket bool
	}{
		{"ipv4 query", RPOff, query4(nil), false},
		{"ipv6 query", RPOff, query6(nil), false},
		{"ipv4 query rp_filter strict", RPStrict, query4(nil), false},
		{"ipv4 query in place", RPOff, query4(nil), true},
		{"ipv4 query in place via router", RPOff, query4(func(p *pkt.Frame) { p.SrcIP = viaRouter4 }), true},
		{"ipv6 query in place", RPOff, query6(nil), true},
		{"ipv4 routed elsewhere", RPOff, query4(func(p *pkt.Frame) { p.SrcIP = elsewhere4 }), false},
		{"ipv4 martian source", RPOff, query4(func(p *pkt.Frame) { p.SrcIP = server4 }), false},
		{"ipv4 other port", RPOff, query4(func(p *pkt.Frame) { p.DstPort = 54 }), false},
	}
	fd := bindSocket(b, f)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			err := f.ClearSocket(0)
			if c.socket {
				err = f.SetSocket(0, fd)
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := f.SetRPFilter(c.rp); err != nil { // a new generation:
				b.Fatal(err)
			}
			setRoutes(b, f, modelRoutes()) // the verdicts again
			want, out := model(c.frame, s), c.frame
			if c.socket {
				want, out = Redirect, s.reply(c.frame)
			}
			before, _ := f.Counters()
			var total time.Duration
			runs := 0
			for b.Loop() {
				runs++
				_, d, err := f.Program().Benchmark(c.frame, 1000, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d * 1000
			}
			// The frame as the last of 1000 repeats left it.
			got := make([]byte, len(c.frame))
			if _, err := f.Program().Run(&ebpf.RunOptions{Data: c.frame, DataOut: got, Repeat: 1000}); err != nil {
				b.Fatal(err)
			}
			after, _ := f.Counters()
			// At least: a run interrupted by a signal is run again.
			if n := after[want] - before[want]; n < uint64(runs+1)*1000 {
				b.Fatalf("counter %s moved by %d, want %d: the benchmark measured another path", want, n, (runs+1)*1000)
			}
			for i := range after {
				if Counter(i) != want && after[i] != before[i] {
					b.Fatalf("counter %s moved: the benchmark measured another path too", Counter(i))
				}
			}
			if string(got) != string(out) {
				b.Fatalf("after the repeats the frame is\n%x\nwant\n%x", got, out)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(runs*1000), "ns/frame")
		})
	}
}

// BenchmarkHot is the hot answer's cost under BPF_PROG_TEST_RUN, every
// check included (served address, martian, route verdict, the query's
// checksums, the key, expiry). A hit rewrites the frame into its reply,
// which is no query, so the repeats cannot run on one buffer as
// BenchmarkFilter's do. The harness (bench_hot.c) restores the query at
// the start of every repeat (grows or shrinks the tail to the query's
// length, writes its bytes back from a map) and then runs the filter;
// the same harness restoring alone is timed too, and ns/frame is the
// difference. The miss cases, with the hot map holding other names, are
// the redirect path with the hot lookup, timed the same way, to compare
// with BenchmarkFilter's.
func BenchmarkHot(b *testing.B) {
	x := newHotFixture(b)
	name := "www.afxdp-benchmarks.example." // 30 bytes on the wire
	if n := len(wireName(name)); n != 30 {
		b.Fatalf("name of %d bytes", n)
	}
	a := rrA(name, 300, [4]byte{198, 18, 0, 10})
	es := []*HotEntry{
		{Listener: 1, QType: 1, Name: wireName(name), RRs: a, AN: 1, RA: true},
		{Listener: 2, QType: 1, V6: true, Name: wireName(name), RRs: a, AN: 1, RA: true, Slot: 2},
	}
	for _, e := range es {
		e.Expires = Monotonic() + time.Hour
	}
	x.install(b, es...)
	h := loadHarness(b, x.f)
	other := "www.afxdp-benchmarkz.example."
	fd := bindSocket(b, x.f)
	for _, c := range []struct {
		name   string
		frame  []byte
		want   Counter
		socket bool
		noHot  bool // the program without a hot map: as before hot answers
	}{
		{"ipv4 query without hot map", query4(func(p *pkt.Frame) { p.Payload = pkt.Query(name, 1) }), PassNoSocket, false, true},
		{"ipv6 query without hot map", query6(func(p *pkt.Frame) { p.Payload = pkt.Query(name, 1) }), PassNoSocket, false, true},
		{"ipv4 hit", query4(func(p *pkt.Frame) { p.Payload = pkt.Query(name, 1) }), HotAnswer, false, false},
		{"ipv6 hit", query6(func(p *pkt.Frame) { p.Payload = pkt.Query(name, 1) }), HotAnswer, false, false},
		{"ipv4 miss", query4(func(p *pkt.Frame) { p.Payload = pkt.Query(other, 1) }), PassNoSocket, false, false},
		{"ipv6 miss", query6(func(p *pkt.Frame) { p.Payload = pkt.Query(other, 1) }), PassNoSocket, false, false},
		{"ipv4 miss in place", query4(func(p *pkt.Frame) { p.Payload = pkt.Query(other, 1) }), Redirect, true, false},
		{"ipv4 other port", query4(func(p *pkt.Frame) { p.DstPort = 54 }), PassPort, false, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			err := x.f.ClearSocket(0)
			if c.socket {
				err = x.f.SetSocket(0, fd)
			}
			if err != nil {
				b.Fatal(err)
			}
			if c.noHot {
				if err := x.f.SwapHot(nil); err != nil {
					b.Fatal(err)
				}
				defer x.install(b, es...)
			}
			h.set(b, c.frame)
			before, _ := x.f.Counters()
			var filter, restore time.Duration
			runs := 0
			for b.Loop() {
				runs++
				filter += h.time(b, h.BenchFilter, c.frame)
				restore += h.time(b, h.BenchRestore, c.frame)
			}
			after, _ := x.f.Counters()
			if n := after[c.want] - before[c.want]; n < uint64(runs)*benchRepeat {
				b.Fatalf("counter %s moved by %d, want %d: the benchmark measured another path", c.want, n, runs*benchRepeat)
			}
			b.ReportMetric(float64((filter-restore).Nanoseconds())/float64(runs), "ns/frame")
			b.ReportMetric(float64(restore.Nanoseconds())/float64(runs), "ns/restore")
		})
	}
}

const benchRepeat = 1000

type harness struct {
	benchHotObjects
}

// loadHarness loads bench_hot.c on f's maps.
func loadHarness(tb testing.TB, f *Filter) *harness {
	tb.Helper()
	spec, err := loadBenchHot()
	if err != nil {
		tb.Fatal(err)
	}
	own := map[string]*ebpf.Map{}
	v := reflect.ValueOf(f.objs.filterMaps)
	for i := range v.NumField() {
		own[v.Type().Field(i).Tag.Get("ebpf")] = v.Field(i).Interface().(*ebpf.Map)
	}
	repl := map[string]*ebpf.Map{}
	for name := range spec.Maps {
		if m := own[name]; m != nil {
			repl[name] = m
		}
	}
	h := &harness{}
	if err := spec.LoadAndAssign(&h.benchHotObjects, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// set makes frame the query each repeat starts from.
func (h *harness) set(tb testing.TB, frame []byte) {
	var v struct {
		Len, Pad uint32
		Data     [256]byte
	}
	v.Len = uint32(copy(v.Data[:], frame))
	if err := h.BenchFrames.Put(uint32(0), &v); err != nil {
		tb.Fatal(err)
	}
}

// time is the kernel's time per repeat of prog, benchRepeat repeats.
func (h *harness) time(tb testing.TB, prog *ebpf.Program, frame []byte) time.Duration {
	// Room for the reply: a run's output frame is its input's size plus
	// what adjust_tail may grow it by.
	in := append(append([]byte(nil), frame...), make([]byte, 0)...)
	ret, d, err := prog.Benchmark(in, benchRepeat, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if ret == 0 { // XDP_ABORTED: the harness could not restore
		tb.Fatal("the harness could not restore the frame")
	}
	return d
}
