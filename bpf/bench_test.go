package bpf

import (
	"testing"
	"time"

	"github.com/afxdp/afxdp/internal/pkt"
)

// BenchmarkFilter is the program's cost per frame under BPF_PROG_TEST_RUN
// (the kernel's own loop: ns/op is what it reports per repeat, its harness
// of about 20 ns included). The program never writes the frame, so repeats
// see the same input. With no socket bound, a query that passes every check
// ends as no_socket: the redirect path minus bpf_redirect_map.
func BenchmarkFilter(b *testing.B) {
	f := loadHost(b)
	for _, ap := range modelServed {
		if err := f.Serve(ap.Addr(), ap.Port()); err != nil {
			b.Fatal(err)
		}
	}
	ok := func(b *testing.B) {
		// A verdict for client4 in the current generation.
		if err := f.SetRoute(client4, true, f.cfg.RouteGen); err != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		rp    int
		frame []byte
		setup func(*testing.B)
	}{
		{"ipv4 query", RPOff, query4(nil), nil},
		{"ipv6 query", RPOff, query6(nil), nil},
		{"ipv4 query rp_filter strict", RPStrict, query4(nil), ok},
		{"ipv4 martian source", RPOff, query4(func(p *pkt.Frame) { p.SrcIP = server4 }), nil},
		{"ipv4 other port", RPOff, query4(func(p *pkt.Frame) { p.DstPort = 54 }), nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if err := f.SetRPFilter(c.rp); err != nil {
				b.Fatal(err)
			}
			if c.setup != nil {
				c.setup(b)
			}
			want := model(c.frame, testServed())
			before, _ := f.Counters()
			var total time.Duration
			for b.Loop() {
				_, d, err := f.Program().Benchmark(c.frame, 1000, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d * 1000
			}
			after, _ := f.Counters()
			if after[want] == before[want] {
				b.Fatalf("counter %s did not move: the benchmark measured another path", want)
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*1000), "ns/frame")
		})
	}
}
