package afxdp

import (
	"fmt"
	"net"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/afxdp/afxdp/plugin/afxdp/nic"
)

// The driver's XDP features change only when the interface is opened again
// (a veth gains ndo-xmit when its peer turns GRO or XDP on), so they are
// set where it is opened, not read at every scrape.
var xdpFeatures = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: plugin.Namespace,
	Subsystem: "afxdp",
	Name:      "xdp_features",
	Help:      "What the interface's driver says it can do for XDP (netdev netlink, Linux 6.3+), 1 or 0 per feature: basic, redirect, ndo-xmit, xsk-zerocopy, hw-offload, rx-sg, ndo-xmit-sg. No series where the kernel cannot say.",
}, []string{"interface", "feature"})

// driverFeatures exports what name's driver says it can do for XDP and
// says it for the log line of the interface's opening. The features only
// inform (the modes are found by trying), so a kernel or interface that
// cannot say gives "unknown", never an error.
func driverFeatures(name string) string {
	xdpFeatures.DeletePartialMatch(prometheus.Labels{"interface": name})
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	f, err := nic.Read(ifi.Index)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	if !f.Known {
		return "unknown (a kernel before 6.3 does not say)"
	}
	for _, x := range nic.All {
		xdpFeatures.WithLabelValues(name, x.String()).Set(b2f(f.Has(x)))
	}
	if f.ZCMaxSegs > 1 {
		return fmt.Sprintf("%s (zero-copy frames of up to %d buffers)", f, f.ZCMaxSegs)
	}
	return f.String()
}
