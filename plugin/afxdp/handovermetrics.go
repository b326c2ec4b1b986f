package afxdp

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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
