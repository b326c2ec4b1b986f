package bpf

import (
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
