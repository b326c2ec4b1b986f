package afxdp

import (
	"maps"
	"strconv"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/hot"
)

// The datapath keeps plain atomic counters (and the kernel keeps its own);
// this collector reads them when Prometheus scrapes, so the packet path
// never touches a metric vector and nothing polls in between.
type collector struct{}

func init() { prometheus.MustRegister(collector{}) }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "afxdp", name), help, labels, nil)
}

var (
	iq = []string{"interface", "queue"}

	rxFrames   = desc("rx_frames_total", "Frames received from the AF_XDP RX ring.", iq...)
	rxBytes    = desc("rx_bytes_total", "Bytes of frames received from the AF_XDP RX ring.", iq...)
	txFrames   = desc("tx_frames_total", "Reply frames put on the AF_XDP TX ring.", iq...)
	txBytes    = desc("tx_bytes_total", "Bytes of reply frames put on the AF_XDP TX ring.", iq...)
	dropped    = desc("dropped_total", "Queries or replies dropped in user space, by reason.", "interface", "queue", "reason")
	handoffs   = desc("handoffs_total", "Times a saturated queue was handed to the kernel listener.", iq...)
	pending    = desc("pending", "Queries received and not yet answered.", iq...)
	workers    = desc("workers", "Goroutines serving the queue.", iq...)
	txFree     = desc("tx_free_frames", "TX frames not in flight.", iq...)
	xskDropped = desc("xsk_rx_dropped_total", "Kernel: frames dropped for reasons other than a full RX ring (XDP_STATISTICS rx_dropped).", iq...)
	xskRxFull  = desc("xsk_rx_ring_full_total", "Kernel: frames dropped because the RX ring was full.", iq...)
	xskFillEmp = desc("xsk_rx_fill_ring_empty_total", "Kernel: times the fill ring was empty when a frame arrived.", iq...)
	xskTxEmpty = desc("xsk_tx_ring_empty_total", "Kernel: times the TX ring was found empty on a transmit attempt.", iq...)
	xskRxInv   = desc("xsk_rx_invalid_descs_total", "Kernel: invalid RX descriptors.", iq...)
	xskTxInv   = desc("xsk_tx_invalid_descs_total", "Kernel: invalid TX descriptors.", iq...)

	xdpRedirected = desc("xdp_redirected_total", "Frames the XDP program redirected to an AF_XDP socket.", "interface")
	xdpPassed     = desc("xdp_passed_total", "Frames the XDP program passed to the kernel, by reason.", "interface", "reason")
	xdpDropped    = desc("xdp_dropped_total", "Frames the XDP program dropped, by reason (unreachable: no route back, as the kernel's reply would find none).", "interface", "reason")
	xdpAnswered   = desc("xdp_answered_total", "Queries the XDP program answered itself (hot answers, XDP_TX).", "interface")
	xdpMode       = desc("xdp_mode", "XDP attach mode in use (1 for the mode label that applies).", "interface", "mode")
	zeroCopy      = desc("zerocopy", "1 if the AF_XDP sockets run in zero-copy mode, 0 in copy mode.", "interface")
	queues        = desc("queues", "RX queues with a bound AF_XDP socket.", "interface")
	served        = desc("served_addresses", "Address:port pairs the XDP program redirects.", "interface")
	noServer      = desc("no_server_total", "Redirected queries for which no CoreDNS server was live (dropped).", "interface")
	formErr       = desc("formerr_total", "Queries that did not unpack, answered FORMERR.", "interface")
	unanswered    = desc("unanswered_total", "Queries the plugin chain wrote no answer for (acl drop, ...).", "interface")

	routeErrors = desc("route_errors_total", "Failures to read the kernel's routing state or to tell it to the XDP program (the sources concerned go to the kernel meanwhile).", "interface")

	hotHits      = desc("hot_hits_total", "Queries answered hot: cache hits replayed without the plugin chain, by tier (user: the receive loop; xdp: the XDP program).", "interface", "tier")
	hotPassed    = desc("hot_passed_total", "Queries on listeners with hot answers that went to the plugin chain, by reason.", "interface", "reason")
	hotEntries   = desc("hot_entries", "Entries in the hot answer tables.", "interface")
	hotEvictions = desc("hot_evictions_total", "Hot entries dropped to make room for another.", "interface")

	servingDesc = desc("serving", "1 while afxdp serves the interface: its XDP program attached, at least one queue's socket bound, at least one address:port mapped; 0 when it does not (a failed reopen, nothing to serve).", "interface")

	hotXDPEntries = desc("hot_xdp_entries", "Hot entries in the XDP program's table.", "interface")
	hotXDPRemoved = desc("hot_xdp_removed_total", "Hot entries taken out of the XDP program's table, by reason (gone: its table dropped it; expired; idle: not answered in XDP for 5 s; listener: its listener left the program).", "interface", "reason")
	hotXDPRefused = desc("hot_xdp_refused_total", "Hot entries the XDP program's table did not take, by reason (too_big: name, records or reply over its limits; full: no free cells; bucket_full: no free way in the entry's bucket); the receive loop answers them.", "interface", "reason")
	hotXDPRefresh = desc("hot_xdp_refresh_seconds_total", "CPU time spent keeping the XDP program's hot table up to date (reading its hit counters, applying changes).", "interface")
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rxFrames, rxBytes, txFrames, txBytes, dropped, handoffs, pending, workers, txFree,
		xskDropped, xskRxFull, xskFillEmp, xskTxEmpty, xskRxInv, xskTxInv,
		xdpRedirected, xdpPassed, xdpDropped, xdpAnswered, xdpMode, zeroCopy, queues, served, noServer, formErr, unanswered,
		routeErrors, hotHits, hotPassed, hotEntries, hotEvictions, hotXDPEntries, hotXDPRemoved, hotXDPRefused, hotXDPRefresh, servingDesc} {
		ch <- d
	}
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	all := maps.Clone(reg.dropped)
	maps.Copy(all, reg.ifaces)
	for name, f := range all {
		serving := f.dp != nil && len(f.dp.Queues()) > 0 && len(f.dp.Served()) > 0
		ch <- prometheus.MustNewConstMetric(servingDesc, prometheus.GaugeValue, b2f(serving), name)
		if f.dp == nil {
			// A reopen failed: the counts so far stay, so no series vanishes.
			c := f.base.filter
			collectFilter(ch, name, &c)
			collectHot(ch, name, f)
			for _, s := range f.base.queues {
				collectQueue(ch, name, &s)
			}
			continue
		}
		collectInterface(ch, name, f)
		for _, s := range f.dp.Stats() {
			f.base.addQueue(&s)
			collectQueue(ch, name, &s)
		}
	}
}

// totals are the final counts of datapaths closed when a reload reopened an
// interface; they are added to the live ones so that no counter goes back.
type totals struct {
	filter      bpf.Counters
	queues      map[int]datapath.QueueStats
	routeErrors uint64
}

// keep closes dp and remembers its counts.
func (t *totals) keep(dp *datapath.Interface, grace time.Duration) {
	c, err := dp.FilterCounters()
	if err := dp.Close(grace); err != nil {
		log.Errorf("interface %s: closing: %v", dp.Name(), err)
	}
	if err == nil {
		addCounters(&t.filter, &c)
	}
	t.routeErrors += dp.MirrorErrors()
	t.addClosed(dp.Stats())
}

// addClosed remembers the final counts of a closed datapath's queues.
func (t *totals) addClosed(stats []datapath.QueueStats) {
	if t.queues == nil {
		t.queues = map[int]datapath.QueueStats{}
	}
	for _, s := range stats {
		b := t.queues[s.Queue]
		b.Add(&s)
		t.queues[s.Queue] = b
	}
}

// addQueue adds the closed datapaths' counts to a live snapshot. The
// kernel's socket statistics start again with each socket.
func (t *totals) addQueue(s *datapath.QueueStats) {
	if b, ok := t.queues[s.Queue]; ok {
		s.Add(&b)
	}
}

func addCounters(dst, src *bpf.Counters) {
	for i := range dst {
		dst[i] += src[i]
	}
}

func collectInterface(ch chan<- prometheus.Metric, name string, f *iface) {
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, l...)...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, l...)...)
	}
	if c, err := f.dp.FilterCounters(); err == nil {
		addCounters(&c, &f.base.filter)
		collectFilter(ch, name, &c)
	}
	gauge(xdpMode, 1, f.dp.XDPMode().String())
	gauge(zeroCopy, b2f(f.dp.ZeroCopy()))
	gauge(queues, float64(len(f.dp.Queues())))
	gauge(served, float64(len(f.dp.Served())))
	counter(noServer, f.bridge.noServer.Load())
	counter(formErr, f.bridge.formErr.Load())
	counter(unanswered, f.bridge.unanswered.Load())
	counter(routeErrors, f.base.routeErrors+f.dp.MirrorErrors())
	collectHot(ch, name, f)
}

// collectHot sums the hot answers of the live listeners and of those
// retired (their counts were kept in the bridge).
func collectHot(ch chan<- prometheus.Metric, name string, f *iface) {
	var sum hotCounts
	sum.add(&f.bridge.hotRetired)
	entries := 0
	for _, l := range f.listeners {
		if l.hot != nil {
			sum.addLive(l.hot)
			entries += l.hot.table.Len()
		}
	}
	ch <- prometheus.MustNewConstMetric(hotHits, prometheus.CounterValue, float64(sum.hits), name, "user")
	ch <- prometheus.MustNewConstMetric(hotHits, prometheus.CounterValue, float64(sum.xdpHits), name, "xdp")
	ch <- prometheus.MustNewConstMetric(hotEvictions, prometheus.CounterValue, float64(sum.evictions), name)
	ch <- prometheus.MustNewConstMetric(hotEntries, prometheus.GaugeValue, float64(entries), name)
	collectXDPTier(ch, name, &f.xdpStats)
	for _, r := range hot.Reasons() {
		ch <- prometheus.MustNewConstMetric(hotPassed, prometheus.CounterValue, float64(sum.passed[r]), name, r.String())
	}
}

// collectFilter takes the counts rather than the datapath, so that a test
// can collect them unprivileged.
func collectFilter(ch chan<- prometheus.Metric, name string, c *bpf.Counters) {
	ch <- prometheus.MustNewConstMetric(xdpRedirected, prometheus.CounterValue, float64(c[bpf.Redirect]), name)
	ch <- prometheus.MustNewConstMetric(xdpAnswered, prometheus.CounterValue, float64(c[bpf.HotAnswer]), name)
	for i, v := range c {
		switch c := bpf.Counter(i); {
		case c == bpf.Redirect || c == bpf.HotAnswer:
		case c.Dropped():
			ch <- prometheus.MustNewConstMetric(xdpDropped, prometheus.CounterValue, float64(v), name, c.String())
		default:
			ch <- prometheus.MustNewConstMetric(xdpPassed, prometheus.CounterValue, float64(v), name, c.String())
		}
	}
}

func collectQueue(ch chan<- prometheus.Metric, name string, s *datapath.QueueStats) {
	q := strconv.Itoa(s.Queue)
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name, q}, l...)...)
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), name, q)
	}
	counter(rxFrames, s.RxFrames)
	counter(rxBytes, s.RxBytes)
	counter(txFrames, s.TxFrames)
	counter(txBytes, s.TxBytes)
	for i, v := range s.Drops {
		counter(dropped, v, datapath.Drop(i).String())
	}
	counter(handoffs, s.Handoffs)
	gauge(pending, s.Pending)
	gauge(workers, s.Workers)
	gauge(txFree, s.TxFreeFrames)
	if s.XDPErr == nil {
		counter(xskDropped, s.XDP.Rx_dropped)
		counter(xskRxFull, s.XDP.Rx_ring_full)
		counter(xskFillEmp, s.XDP.Rx_fill_ring_empty_descs)
		counter(xskTxEmpty, s.XDP.Tx_ring_empty_descs)
		counter(xskRxInv, s.XDP.Rx_invalid_descs)
		counter(xskTxInv, s.XDP.Tx_invalid_descs)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collectXDPTier reports an interface's XDP tier, at 0 before it holds
// anything (or where hot answers stay in the receive loop).
func collectXDPTier(ch chan<- prometheus.Metric, name string, s *xdpStats) {
	ch <- prometheus.MustNewConstMetric(hotXDPEntries, prometheus.GaugeValue, float64(s.entries.Load()), name)
	for i, r := range xdpRemovalNames {
		ch <- prometheus.MustNewConstMetric(hotXDPRemoved, prometheus.CounterValue, float64(s.removed[i].Load()), name, r)
	}
	for i, r := range xdpRefusalNames {
		ch <- prometheus.MustNewConstMetric(hotXDPRefused, prometheus.CounterValue, float64(s.refused[i].Load()), name, r)
	}
	ch <- prometheus.MustNewConstMetric(hotXDPRefresh, prometheus.CounterValue, time.Duration(s.busy.Load()).Seconds(), name)
}
