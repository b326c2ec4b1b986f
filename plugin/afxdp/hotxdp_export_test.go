package afxdp

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/internal/fibtest"
	"github.com/afxdp/afxdp/internal/priv"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// exportBed is a loaded program serving fibtest's server address as
// listener 5 (its FIB lookups answer in place), an exporter for it, and
// one listener's hot table.
type exportBed struct {
	t     testing.TB
	fx    *fibtest.Fixture
	f     *bpf.Filter
	x     *xdpExporter
	hl    *hotListener
	stats xdpStats
}

func newExportBed(t testing.TB, entries int) *exportBed {
	priv.Require(t)
	b := &exportBed{t: t, fx: fibtest.New(t, fibtest.Standard())}
	f, err := bpf.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	b.f = f
	if err := f.SetMACs(fibtest.ServerMAC[:], nil); err != nil {
		t.Fatal(err)
	}
	if err := f.SetDevices(bpf.Devices{0: {Index: b.fx.Index("srv"), MAC: fibtest.ServerMAC}}); err != nil {
		t.Fatal(err)
	}
	if err := f.ServeAs(fibtest.Server4, 53, 5); err != nil {
		t.Fatal(err)
	}
	b.x = newXDPExporter(nil, f, &b.stats)
	b.hl = &hotListener{table: hot.NewTable(entries)}
	return b
}

func (b *exportBed) refresh() {
	b.t.Helper()
	if err := b.x.refresh([]xdpListener{{id: 5, hl: b.hl}}); err != nil {
		b.t.Fatal(err)
	}
}

// query is an IPv4 query for name, as the client sends it.
func exportQuery(t testing.TB, name string) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Id = 77
	p, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fill stores a cache hit for name answering addr, filled ago.
func (b *exportBed) fill(name, addr string, ago time.Duration) {
	b.t.Helper()
	q := exportQuery(b.t, name)
	m := new(dns.Msg)
	if err := m.Unpack(q); err != nil {
		b.t.Fatal(err)
	}
	r := new(dns.Msg)
	r.SetReply(m)
	r.RecursionAvailable = true
	rr, err := dns.NewRR(fmt.Sprintf("%s 300 IN A %s", name, addr))
	if err != nil {
		b.t.Fatal(err)
	}
	r.Answer = append(r.Answer, rr)
	if res := b.hl.table.Fill(famV4, q, r, time.Now().Add(-ago)); res != hot.OK {
		b.t.Fatalf("fill %s: %v", name, res)
	}
}

// ask runs the program on a query for name: the address it answered, or
// "" if it did not answer.
func (b *exportBed) ask(name string) string {
	b.t.Helper()
	h := frame.Header{DstMAC: fibtest.ServerMAC, SrcMAC: fibtest.ClientMAC, Src: fibtest.Client4, Dst: fibtest.Server4,
		SrcPort: 40000, DstPort: 53, HopLimit: 64}
	q := exportQuery(b.t, name)
	in := make([]byte, 2048)
	copy(in[h.Len():], q)
	n, err := frame.Encode(in, &h, len(q))
	if err != nil {
		b.t.Fatal(err)
	}
	out := make([]byte, n+600)
	opts := &ebpf.RunOptions{Data: in[:n], DataOut: out}
	ret, err := b.fx.Run(b.f.Program(), opts)
	if err != nil {
		b.t.Fatal(err)
	}
	if ret != 3 { // XDP_TX
		return ""
	}
	var rh frame.Header
	payload, err := frame.Decode(opts.DataOut, &rh)
	if err != nil {
		b.t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(payload); err != nil || len(r.Answer) != 1 {
		b.t.Fatalf("answer %v: %v", r, err)
	}
	return r.Answer[0].(*dns.A).A.String()
}

// TestXDPExporter: the program answers what the listener's table holds
// after a refresh, follows refills and drops, credits its hits, lets idle
// entries go and takes them back when the receive loop answers them, and
// forgets a listener that stops answering in XDP.
func TestXDPExporter(t *testing.T) {
	b := newExportBed(t, 64)
	b.fill("a.example.org.", "198.18.0.1", time.Second/2)
	b.fill("b.example.org.", "198.18.0.2", time.Second/2)
	if got := b.ask("a.example.org."); got != "" {
		t.Fatalf("answered %q before the first refresh", got)
	}
	b.refresh()
	if a, bb := b.ask("a.example.org."), b.ask("b.example.org."); a != "198.18.0.1" || bb != "198.18.0.2" {
		t.Fatalf("after a refresh: %q, %q", a, bb)
	}
	// A refill replaces the entry in place.
	b.fill("a.example.org.", "198.18.0.9", time.Second/2)
	b.refresh()
	if got := b.ask("a.example.org."); got != "198.18.0.9" {
		t.Fatalf("after a refill: %q", got)
	}
	if b.stats.entries.Load() != 2 {
		t.Fatalf("%d entries held, want 2", b.stats.entries.Load())
	}
	// Hits: a asked once above since the refill, plus twice now; b once.
	b.ask("a.example.org.")
	b.ask("a.example.org.")
	b.refresh()
	if got := b.hl.xdpHits.Load(); got != 5 { // a: 1 + 1 + 2 (the old a's one included), b: 1
		t.Fatalf("%d hits credited, want 5", got)
	}
	// b idles out, is parked, and comes back after the loop answers it.
	for range xdpIdle / xdpRefresh {
		b.ask("a.example.org.")
		b.refresh()
	}
	if got := b.ask("b.example.org."); got != "" {
		t.Fatalf("an idle entry still answered: %q", got)
	}
	if b.stats.removed[xdpIdleOut].Load() != 1 {
		t.Fatalf("idle removals %d, want 1", b.stats.removed[xdpIdleOut].Load())
	}
	var q hot.Query
	p := exportQuery(t, "b.example.org.")
	if r := hot.ParseQuery(p, &q); r != hot.OK {
		t.Fatal(r)
	}
	buf := make([]byte, 512)
	if _, r := b.hl.table.Answer(famV4, &q, p, false, time.Now(), buf, len(buf)); r != hot.OK {
		t.Fatal(r)
	}
	b.refresh()
	if got := b.ask("b.example.org."); got != "198.18.0.2" {
		t.Fatalf("a woken entry: %q", got)
	}
	// An entry about to expire does not enter, nor stay.
	b.fill("c.example.org.", "198.18.0.3", 299*time.Second)
	b.refresh()
	if got := b.ask("c.example.org."); got != "" {
		t.Fatalf("an expiring entry answered: %q", got)
	}
	// The listener leaves: nothing is answered.
	if err := b.x.refresh(nil); err != nil {
		t.Fatal(err)
	}
	if a := b.ask("a.example.org."); a != "" || b.stats.entries.Load() != 0 {
		t.Fatalf("after the listener left: %q, %d held", a, b.stats.entries.Load())
	}
}

// BenchmarkXDPRefresh: one refresh of a table of n hot entries in the
// program, with nothing changed (what a refresh costs for what is held:
// reading the hit counters, the sweep), and with 1 % of the entries
// refilled since the last one. ns/op is wall time, a Sync's wait for an
// RCU grace period included; cpu-ns/op the refreshing thread's CPU time
// (the metric's).
func BenchmarkXDPRefresh(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		for _, changed := range []int{0, n / 100} {
			b.Run(fmt.Sprintf("%d entries, %d changed", n, changed), func(b *testing.B) {
				bed := newExportBed(b, 2*n)
				for i := range n {
					bed.fill(fmt.Sprintf("n%d.example.org.", i), "198.18.0.1", 0)
				}
				bed.refresh()
				if got := bed.stats.entries.Load(); got < int64(n)*999/1000 {
					b.Fatalf("%d held, want %d (table %d, refused %d %d %d)", got, n, bed.hl.table.Len(), bed.stats.refused[0].Load(), bed.stats.refused[1].Load(), bed.stats.refused[2].Load())
				}
				next := 0
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				busy := bed.stats.busy.Load()
				for b.Loop() {
					b.StopTimer()
					for range changed {
						bed.fill(fmt.Sprintf("n%d.example.org.", next%n), "198.18.0.2", 0)
						next++
					}
					bed.x.round = 0 // nothing idles out
					for i := range bed.x.bySlot[:bed.x.high] {
						bed.x.bySlot[i].lastHit = 0
					}
					b.StartTimer()
					bed.refresh()
				}
				b.ReportMetric(float64(bed.stats.busy.Load()-busy)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
