package afxdp

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// collectorFunc collects what f sends and describes what the plugin's
// collector describes: testutil registers it pedantically, so a metric the
// collector does not describe, or describes otherwise, fails the test.
type collectorFunc func(ch chan<- prometheus.Metric)

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { collector{}.Describe(ch) }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

func queueCollector(name string, s datapath.QueueStats) collectorFunc {
	return func(ch chan<- prometheus.Metric) { collectQueue(ch, name, &s) }
}

const ns = "coredns_afxdp_"

func TestMetricsNoInterface(t *testing.T) {
	reg.mu.Lock()
	saved, savedDropped := reg.ifaces, reg.dropped
	// An interface between a failed reopen and its removal has no datapath;
	// one dropped after it keeps its counts too.
	f := &iface{name: "eth9", bridge: newBridge()}
	f.base.filter[bpf.Redirect] = 41
	reg.ifaces = map[string]*iface{"eth9": f}
	reg.dropped = map[string]*iface{"eth8": {name: "eth8", bridge: newBridge()}}
	reg.mu.Unlock()
	t.Cleanup(func() {
		reg.mu.Lock()
		reg.ifaces, reg.dropped = saved, savedDropped
		reg.mu.Unlock()
	})
	want := `
# HELP coredns_afxdp_serving 1 while afxdp serves the interface: its XDP program attached, at least one queue's socket bound, at least one address:port mapped; 0 when it does not (a failed reopen, nothing to serve).
# TYPE coredns_afxdp_serving gauge
coredns_afxdp_serving{interface="eth8"} 0
coredns_afxdp_serving{interface="eth9"} 0
# HELP coredns_afxdp_xdp_redirected_total Frames the XDP program redirected to an AF_XDP socket.
# TYPE coredns_afxdp_xdp_redirected_total counter
coredns_afxdp_xdp_redirected_total{interface="eth8"} 0
coredns_afxdp_xdp_redirected_total{interface="eth9"} 41
`
	if err := testutil.CollectAndCompare(collector{}, strings.NewReader(want), "coredns_afxdp_serving", "coredns_afxdp_xdp_redirected_total"); err != nil {
		t.Error(err)
	}
}

func TestMetricsQueue(t *testing.T) {
	s := datapath.QueueStats{Queue: 3, RxFrames: 15, RxBytes: 1500, TxFrames: 14, TxBytes: 1600, Handoffs: 2, Workers: 5}
	for d := range datapath.NumDrops {
		s.Drops[d] = uint64(10 + d)
	}
	s.XDP.Rx_ring_full = 7
	c := queueCollector("eth0", s)

	want := `
# HELP coredns_afxdp_rx_frames_total Frames received from the AF_XDP RX ring.
# TYPE coredns_afxdp_rx_frames_total counter
coredns_afxdp_rx_frames_total{interface="eth0",queue="3"} 15
# HELP coredns_afxdp_workers Goroutines serving the queue.
# TYPE coredns_afxdp_workers gauge
coredns_afxdp_workers{interface="eth0",queue="3"} 5
# HELP coredns_afxdp_xsk_rx_ring_full_total Kernel: frames dropped because the RX ring was full.
# TYPE coredns_afxdp_xsk_rx_ring_full_total counter
coredns_afxdp_xsk_rx_ring_full_total{interface="eth0",queue="3"} 7
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		ns+"rx_frames_total", ns+"workers", ns+"xsk_rx_ring_full_total"); err != nil {
		t.Error(err)
	}

	// One series per drop reason, each with its own count.
	var drops strings.Builder
	drops.WriteString("# HELP coredns_afxdp_dropped_total Queries or replies dropped in user space, by reason.\n")
	drops.WriteString("# TYPE coredns_afxdp_dropped_total counter\n")
	for d := range datapath.NumDrops {
		fmt.Fprintf(&drops, "coredns_afxdp_dropped_total{interface=\"eth0\",queue=\"3\",reason=%q} %d\n", d, 10+d)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(drops.String()), ns+"dropped_total"); err != nil {
		t.Error(err)
	}

	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}

	// Without the kernel's statistics there are no xsk_ series, rather
	// than zeros that would read as counter resets.
	s.XDPErr = errors.New("closed")
	if n := testutil.CollectAndCount(queueCollector("eth0", s), ns+"xsk_rx_ring_full_total", ns+"xsk_rx_dropped_total"); n != 0 {
		t.Errorf("%d xsk_ series without kernel statistics, want 0", n)
	}
	if n := testutil.CollectAndCount(queueCollector("eth0", s), ns+"rx_frames_total"); n != 1 {
		t.Errorf("%d rx_frames_total series without kernel statistics, want 1", n)
	}
}

func TestMetricsFilter(t *testing.T) {
	var c bpf.Counters
	for i := range c {
		c[i] = uint64(100 * (i + 1))
	}
	var base totals
	addCounters(&base.filter, &c) // a reopen kept them
	addCounters(&c, &base.filter)
	col := collectorFunc(func(ch chan<- prometheus.Metric) { collectFilter(ch, "eth0", &c) })

	want := fmt.Sprintf(`
# HELP coredns_afxdp_xdp_redirected_total Frames the XDP program redirected to an AF_XDP socket.
# TYPE coredns_afxdp_xdp_redirected_total counter
coredns_afxdp_xdp_redirected_total{interface="eth0"} %d
`, 2*100*(int(bpf.Redirect)+1))
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), ns+"xdp_redirected_total"); err != nil {
		t.Error(err)
	}
	want = fmt.Sprintf(`
# HELP coredns_afxdp_xdp_answered_total Queries the XDP program answered itself (hot answers, XDP_TX).
# TYPE coredns_afxdp_xdp_answered_total counter
coredns_afxdp_xdp_answered_total{interface="eth0"} %d
`, 2*100*(int(bpf.HotAnswer)+1))
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), ns+"xdp_answered_total"); err != nil {
		t.Error(err)
	}
	dropped := 0
	for i := range bpf.NumCounters {
		if bpf.Counter(i).Dropped() {
			dropped++
		}
	}
	if dropped == 0 {
		t.Fatal("no counter counts drops")
	}
	if n := testutil.CollectAndCount(col, ns+"xdp_passed_total"); n != bpf.NumCounters-2-dropped {
		t.Errorf("%d xdp_passed_total series, want one per counter but redirect, hot_answer and the drops (%d)", n, bpf.NumCounters-2-dropped)
	}
	want = fmt.Sprintf(`
# HELP coredns_afxdp_xdp_dropped_total Frames the XDP program dropped, by reason (unreachable: no route back, as the kernel's reply would find none).
# TYPE coredns_afxdp_xdp_dropped_total counter
coredns_afxdp_xdp_dropped_total{interface="eth0",reason="unreachable"} %d
`, 2*100*(int(bpf.DropUnreachable)+1))
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), ns+"xdp_dropped_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestMetricsTotals: the counts of datapaths closed by reopens are added to
// the live ones, so counters never go back; gauges and the kernel's socket
// statistics are the live socket's alone.
func TestMetricsTotals(t *testing.T) {
	closed := func(q int, n uint64) datapath.QueueStats {
		s := datapath.QueueStats{Queue: q, RxFrames: n, RxBytes: 100 * n, TxFrames: n - 1, TxBytes: 90 * n, Handoffs: n / 2,
			Pending: 99, Workers: 99, TxFreeFrames: 99}
		s.Drops[datapath.DropOverload] = n / 3
		s.XDP.Rx_dropped = 99
		return s
	}
	var base totals
	base.addClosed([]datapath.QueueStats{closed(0, 30), closed(1, 60)})
	base.addClosed([]datapath.QueueStats{closed(0, 9)}) // a second reopen, with one queue

	live := datapath.QueueStats{Queue: 0, RxFrames: 1, RxBytes: 100, TxFrames: 1, TxBytes: 90, Pending: 2, Workers: 3, TxFreeFrames: 4}
	live.Drops[datapath.DropOverload] = 1
	live.XDP.Rx_dropped = 5
	got := live
	base.addQueue(&got)

	want := live
	want.RxFrames, want.RxBytes = 1+30+9, 100+3000+900
	want.TxFrames, want.TxBytes = 1+29+8, 90+2700+810
	want.Handoffs = 15 + 4
	want.Drops[datapath.DropOverload] = 1 + 10 + 3
	if got != want {
		t.Errorf("live queue 0 with closed totals:\n got %+v\nwant %+v", got, want)
	}

	// A queue no closed datapath had is as it is.
	other := live
	other.Queue = 2
	got = other
	base.addQueue(&got)
	if got != other {
		t.Errorf("queue 2, never closed:\n got %+v\nwant %+v", got, other)
	}
}
