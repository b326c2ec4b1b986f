package bpf

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/fibtest"
	"github.com/afxdp/afxdp/internal/pkt"
)

// BenchmarkFilter is the program's cost per frame under BPF_PROG_TEST_RUN
// (the kernel's own loop: ns/op is what it reports per repeat, its harness
// of about 20 ns included), run inside fibtest.Standard's namespace: every
// query that passes the other checks costs a FIB lookup (bpf_fib_lookup)
// of the route back. Without a socket, a query that passes every check
// ends as no_socket: the redirect path minus bpf_redirect_map and the MAC
// rewrite. The "in place" cases bind a socket and take the whole redirect
// path; "ipv6 link-local in place" is that path without the lookup. The
// "forwarding off" cases call the helper, which returns before it looks
// anything up: what the lookup costs is the query's figure less theirs.
//
// The test run copies the frame in once per call and does not restore it
// between that call's repeats: the first repeat rewrites the query's MACs
// (the device's own as the destination, the next hop's as the source) and
// the others see that output as input. Only a bridge's device looks at
// the source MAC and the own MAC passes the destination check, so each
// repeat takes the same path and writes the same bytes: the frame after N
// repeats is the frame after one (checked below).
func BenchmarkFilter(b *testing.B) {
	h := loadModelFilter(b)
	from4 := func(src netip.Addr) []byte { return query4(func(p *pkt.Frame) { p.SrcIP = src }) }
	cases := []benchCase{
		{"ipv4 query", query4(nil), false, false},
		{"ipv6 query", query6(nil), false, false},
		{"ipv4 query forwarding off", query4(nil), false, true},
		{"ipv6 query forwarding off", query6(nil), false, true},
		{"ipv4 query in place", query4(nil), true, false},
		{"ipv4 query in place via router", from4(viaRouter4), true, false},
		{"ipv6 query in place", query6(nil), true, false},
		{"ipv6 link-local in place", query6(func(p *pkt.Frame) { p.SrcIP, p.Src = linkLocal6, linkLocalMAC }), true, false},
		{"ipv4 routed elsewhere", from4(elsewhere4), false, false},
		{"ipv4 no neighbour", from4(noNeigh4), false, false},
		{"ipv4 unreachable", from4(unreachable4), false, false},
		{"ipv4 local source", from4(server4), false, false},
		{"ipv4 martian source", from4(netip.MustParseAddr("127.0.0.1")), false, false},
		{"ipv4 other port", query4(func(p *pkt.Frame) { p.DstPort = 54 }), false, false},
	}
	fd := bindSocket(b, h.Filter)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.noFwd {
				h.fx.SetForwarding(b, false)
				defer h.fx.SetForwarding(b, true)
			}
			benchFilter(b, h, fd, c)
		})
	}
}

// BenchmarkFilterRoutes is BenchmarkFilter's in-place cases with routes
// added to the namespace, as a full table would: about 1 k, then 900 k
// (IPv6: all 900 k; IPv4 cannot have as many inside 198.18.0.0/15, and
// gets about 127 k: fibtest.AddRoutes). Adding 900 k takes 20-30 s.
func BenchmarkFilterRoutes(b *testing.B) {
	h := loadModelFilter(b)
	cases := []benchCase{
		{"ipv4 query in place", query4(nil), true, false},
		{"ipv6 query in place", query6(nil), true, false},
		{"ipv4 query in place via router", query4(func(p *pkt.Frame) { p.SrcIP = viaRouter4 }), true, false},
		{"ipv6 query in place via router", query6(func(p *pkt.Frame) { p.SrcIP = viaRouter6 }), true, false},
	}
	fd := bindSocket(b, h.Filter)
	var added, total4, total6 int
	for _, n := range []int{1000, 900_000} {
		v4, v6, took := h.fx.AddRoutes(b, n-added)
		added, total4, total6 = n, total4+v4, total6+v6
		// The name says how many: the IPv4 part falls short of 900 k.
		name := fmt.Sprintf("%d+%d routes", total4, total6)
		b.Logf("%s: %d IPv4 and %d IPv6 routes added in %v", name, v4, v6, took.Round(time.Millisecond))
		for _, c := range cases {
			b.Run(name+"/"+c.name, func(b *testing.B) { benchFilter(b, h, fd, c) })
		}
	}
}

type benchCase struct {
	name   string
	frame  []byte
	socket bool
	noFwd  bool // forwarding off on loopback
}

// benchFilter times c.frame in 1000-repeat runs and checks that every
// repeat took the path the model says.
func benchFilter(b *testing.B, h *host, fd int, c benchCase) {
	s := testServed()
	s.fwd = !c.noFwd
	err := h.ClearSocket(0)
	if c.socket {
		err = h.SetSocket(0, fd)
	}
	if err != nil {
		b.Fatal(err)
	}
	want, out := model(c.frame, s), c.frame
	if c.socket {
		want, out = Redirect, s.reply(c.frame)
	}
	before, _ := h.Counters()
	var total time.Duration
	runs := 0
	for b.Loop() {
		runs++
		_, d, err := h.fx.Bench(h.Program(), c.frame, 1000)
		if err != nil {
			b.Fatal(err)
		}
		total += d * 1000
	}
	// The frame as the last of 1000 repeats left it.
	got := make([]byte, len(c.frame))
	if _, err := h.run(&ebpf.RunOptions{Data: c.frame, DataOut: got, Repeat: 1000}); err != nil {
		b.Fatal(err)
	}
	after, _ := h.Counters()
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
}

// BenchmarkHot is the hot answer's cost under BPF_PROG_TEST_RUN, every
// check included (served address, martian, the route back's FIB lookup
// in fibtest.Standard's namespace, the query's
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
		{Listener: 2, QType: 1, V6: true, Name: wireName(name), RRs: a, AN: 1, RA: true},
	}
	for _, e := range es {
		e.Base, e.TTL, e.TTLAt = Monotonic()-time.Second/2, 3600, ttlFields(e.RRs)
	}
	x.install(b, es...)
	h := loadHarness(b, x.f.Filter)
	other := "www.afxdp-benchmarkz.example."
	fd := bindSocket(b, x.f.Filter)
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
				x.install(b)
				defer x.install(b, es...)
			}
			h.set(b, c.frame)
			before, _ := x.f.Counters()
			var filter, restore time.Duration
			runs := 0
			for b.Loop() {
				runs++
				filter += h.time(b, x.f.fx, h.BenchFilter, c.frame)
				restore += h.time(b, x.f.fx, h.BenchRestore, c.frame)
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

// time is the kernel's time per repeat of prog, benchRepeat repeats,
// inside fx's namespace.
func (h *harness) time(tb testing.TB, fx *fibtest.Fixture, prog *ebpf.Program, frame []byte) time.Duration {
	ret, d, err := fx.Bench(prog, frame, benchRepeat)
	if err != nil {
		tb.Fatal(err)
	}
	if ret == 0 { // XDP_ABORTED: the harness could not restore
		tb.Fatal("the harness could not restore the frame")
	}
	return d
}
