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
