package afxdp

import (
	"fmt"
	"strconv"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/transport"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/xsk"
)

func init() { plugin.Register(pluginName, setup) }

// setup parses one server block's afxdp directive and records its claim on
// the Corefile's generation. It allocates nothing: a reload may run setup
// and then fail; resources are opened in OnStartup.
func setup(c *caddy.Controller) error {
	ifaces, set, line, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	opts := set.opts
	// A SIGUSR2 upgrade takes its interfaces over from its parent.
	opts.Takeover.Upgrade = caddy.IsUpgrade()
	cfg := dnsserver.GetConfig(c)
	if cfg.Transport != transport.DNS {
		return plugin.Error(pluginName, c.Errf("serves plain DNS over UDP; this server block uses %s://", cfg.Transport))
	}
	if err := checkPrivileges(opts, queueCount(ifaces, opts)); err != nil {
		return plugin.Error(pluginName, c.Errf("%v", err))
	}
	if port, err := strconv.Atoi(cfg.Port); err == nil {
		if err := checkBindPort(port); err != nil {
			return plugin.Error(pluginName, c.Errf("%v", err))
		}
	}
	g := generationOf(c)
	g.setBlock(cfg, set, fmt.Sprintf("%s:%d", c.File(), set.hotLine))
	for _, name := range ifaces {
		if err := g.claim(name, opts, cfg, fmt.Sprintf("%s:%d", c.File(), line)); err != nil {
			return plugin.Error(pluginName, errAt(c, line, err))
		}
	}
	cfg.AddPlugin(func(next plugin.Handler) plugin.Handler { return &handler{Next: next, g: g} })
	// The decorator hook is the one place a plugin is handed the live
	// *dnsserver.Server; chain any decorator set before ours (e.g. shed).
	prev := cfg.UDPDecorateWriterFunc
	cfg.UDPDecorateWriterFunc = func(s *dnsserver.Server) dns.DecorateWriter {
		g.serverStarted(s)
		var dw dns.DecorateWriter
		if prev != nil {
			dw = prev(s)
		}
		return countKernel(g.kernelOf(s), dw) // bypass.go
	}
	return nil
}

// queueCount is how many sockets the interfaces will need, for the memory
// check: the configured queues, or every RX queue the driver reports.
func queueCount(ifaces []string, opts datapath.Options) int {
	n := 0
	for _, name := range ifaces {
		if opts.Queues != nil {
			n += len(opts.Queues)
		} else if q, err := xsk.RXQueues(name); err == nil {
			n += q
		} else {
			n++
		}
	}
	return n
}
