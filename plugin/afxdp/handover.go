package afxdp

import (
	"fmt"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// Handovers are rare events counted where they happen (registry.follow),
// unlike the datapath's counters, which the collector reads at scrape time.
var (
	handoverEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "afxdp",
		Name:      "handovers_total",
		Help:      "Interface handovers between afxdp processes, by event: handed_over, taken_over, refused, abandoned, reclaimed.",
	}, []string{"interface", "event"})
	handoverKernel = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: "afxdp",
		Name:      "handover_kernel_seconds",
		Help:      "How long the kernel listener answered alone when this process last took the interface over.",
	}, []string{"interface"})
)

// handoverSeries makes an interface's handover series at 0, so that an
// alert on the first event sees it rise (a series born at 1 has no
// increase).
func handoverSeries(name string) {
	for _, ev := range handoverEventNames {
		handoverEvents.WithLabelValues(name, ev)
	}
	handoverEvents.WithLabelValues(name, "reclaimed")
	handoverKernel.WithLabelValues(name)
}

func logHandover(name string, dp *datapath.Interface, e datapath.HandoverEvent) {
	if ev := handoverEventNames[e.Kind]; ev != "" {
		handoverEvents.WithLabelValues(name, ev).Inc()
	}
	switch e.Kind {
	case datapath.HandedOver:
		if e.Err != nil {
			log.Warningf("interface %s: handed over to %s; closing the sockets: %v", name, pidName(e.PID), e.Err)
			return
		}
		log.Infof("interface %s: handed over to %s (%s)", name, pidName(e.PID), queueSummary(dp.Stats()))
	case datapath.Refused:
		log.Warningf("interface %s: refused to hand it over to %s: %v", name, pidName(e.PID), e.Err)
	case datapath.Abandoned:
		log.Warningf("interface %s: %s did not complete the handover; keeping it: %v", name, pidName(e.PID), e.Err)
	case datapath.KernelWindow:
		handoverKernel.WithLabelValues(name).Set(e.Took.Seconds())
		id, _ := dp.LinkID()
		log.Infof("interface %s: took it over from %s (XDP link %d kept; XDP %s mode, %s, %d queue(s)); "+
			"the kernel listener answered alone for %v", name, pidName(e.PID), id, dp.XDPMode(), copyMode(dp.ZeroCopy()),
			len(dp.Queues()), e.Took.Round(100*time.Microsecond))
	}
}

// pidName names a peer process; SO_PEERCRED gives 0 for one in another
// PID namespace (another pod).
func pidName(pid int) string {
	if pid == 0 {
		return "another PID namespace"
	}
	return fmt.Sprintf("pid %d", pid)
}

func copyMode(zc bool) string {
	if zc {
		return "zero-copy"
	}
	return "copy mode"
}

// queueSummary is what an operator checks after a handover: what the
// queues received and sent, and what they dropped.
func queueSummary(stats []datapath.QueueStats) string {
	var t datapath.QueueStats
	var x [4]uint64
	for _, q := range stats {
		t.Add(&q)
		x[0] += q.XDP.Rx_dropped
		x[1] += q.XDP.Rx_ring_full
		x[2] += q.XDP.Rx_fill_ring_empty_descs
		x[3] += q.XDP.Tx_invalid_descs
	}
	var drops uint64
	for _, d := range t.Drops {
		drops += d
	}
	return fmt.Sprintf("received %d, sent %d, dropped %d; AF_XDP rx_dropped %d, rx_ring_full %d, fill_ring_empty %d, tx_invalid %d",
		t.RxFrames, t.TxFrames, drops, x[0], x[1], x[2], x[3])
}

var handoverEventNames = map[datapath.HandoverKind]string{
	datapath.HandedOver:   "handed_over",
	datapath.KernelWindow: "taken_over",
	datapath.Refused:      "refused",
	datapath.Abandoned:    "abandoned",
}
