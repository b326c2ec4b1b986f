package afxdp

import (
	"fmt"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/metrics"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// The hot decision, whole: does a block answer hot, and where. It is made
// in three steps as what it depends on becomes known: a block's chain at
// start (policyOf, then blockHot with its `hot` setting), an interface's
// datapath when a listener is served (tierFor), and the blocks sharing the
// listener (decideListener). The rest of the glue reads the results:
// blockPolicy, xdpTier and listenerHot.

// blockPolicy is what was decided at start for one server block.
type blockPolicy struct {
	cfg     *dnsserver.Config
	cache   *cache.Cache     // nil when hot answers are off
	metrics *metrics.Metrics // the block's prometheus, if any
	why     string           // what turns hot answers off
	entries int              // the block's hot_entries
	tier    hotMode          // the block's hot setting: hotUser and hotXDP pick a tier
}

func (p *blockPolicy) on() bool { return p.cache != nil }

// policyOf decides whether the block's cache hits may be answered hot.
func policyOf(cfg *dnsserver.Config) *blockPolicy {
	p := &blockPolicy{cfg: cfg}
	if m, ok := cfg.Handler("prometheus").(*metrics.Metrics); ok {
		p.metrics = m
	}
	if cfg.ViewName != "" || len(cfg.FilterFuncs) > 0 {
		p.why = "view"
		return p
	}
	if cfg.Handler("cache") == nil {
		p.why = "no cache in the block"
		return p
	}
	hs := cfg.Handlers()
	if len(hs) != len(cfg.Plugin) {
		// A handler not named after its directive: nothing is known of it.
		p.why = "a plugin whose handler is not named after its directive"
		return p
	}
	for _, h := range hs {
		if h.Name() != "cache" {
			if !transparentAhead[h.Name()] {
				p.why = h.Name() + " runs ahead of cache"
				return p
			}
			continue
		}
		c, ok := h.(*cache.Cache)
		if !ok {
			p.why = "cache (not CoreDNS's)"
			return p
		}
		if p.why = cacheOptions(c); p.why == "" {
			p.cache = c
		}
		return p
	}
	p.why = "no cache in the block"
	return p
}

func (p *blockPolicy) String() string {
	if p.cfg == nil {
		return "server block"
	}
	return fmt.Sprintf("server block %s:%s", p.cfg.Zone, p.cfg.Port)
}

// required: the block fails start-up where hot answers cannot be given.
func (m hotMode) required() bool { return m == hotOn || m == hotUser || m == hotXDP }

// blockHot settles p, the block's chain as policyOf found it, with the
// block's own settings: `hot off` turns it off, and a block that asks for
// hot answers and cannot have them is an error (where: its Corefile line).
func blockHot(p *blockPolicy, set settings, where string) error {
	switch {
	case set.hot == hotOff:
		p.cache, p.why = nil, "hot off"
	case !p.on() && set.hot.required():
		return fmt.Errorf("%s: hot answers asked for, but in %s %s", where, p, p.why)
	case !p.on():
		log.Infof("hot answers off in %s: %s", p, p.why)
	}
	p.entries = set.hotEntries
	p.tier = set.hot
	return nil
}

// xdpTier is what an interface allows of hot answers in the XDP program.
type xdpTier struct {
	iface string
	ok    bool
	why   string // why not, when !ok
}

// tierFor reads what xdpTierOf needs of the interface.
func tierFor(name string, dp *datapath.Interface) xdpTier {
	if dp == nil {
		return xdpTier{iface: name, why: "no datapath"}
	}
	driver := ""
	if dp.XDPMode() != bpf.ModeGeneric {
		driver = driverOf(name) // an ioctl: only where it matters
	}
	return xdpTierOf(name, dp.XDPMode(), driver)
}

// xdpTierOf: XDP_TX delivers in generic mode (the frame goes out through
// the stack) and from a physical NIC's driver. A veth's XDP_TX frames go
// into its peer's NAPI: without one the kernel drops them, and with GRO
// alone they wait for the peer's next traffic; only an XDP program on the
// peer takes them at once. The peer's side cannot be seen from this
// namespace: `hot xdp` says the operator made sure.
func xdpTierOf(name string, mode bpf.Mode, driver string) xdpTier {
	t := xdpTier{iface: name, ok: true}
	if mode != bpf.ModeGeneric && driver == "veth" {
		t.ok, t.why = false, "a veth in native mode: its XDP_TX frames reach the peer at once only if the peer "+
			"has an XDP program; say `hot xdp` where it has"
	}
	return t
}

// driverOf is the interface's driver as ethtool names it, "" if unknown.
func driverOf(name string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, name)
	if err != nil {
		return ""
	}
	return unix.ByteSliceToString(info.Driver[:])
}

// listenerHot is the decision for one listener: how many entries its hot
// table holds (0: no hot answers), and whether the XDP program answers
// them too.
type listenerHot struct {
	entries int
	xdp     bool
	why     string // why no hot answers, or why in the receive loop only
}

// decideListener decides for the listener whose zones route routes (or
// which routeOf refused, saying why) on an interface that allows tier.
// The table is sized for the largest hot_entries of its hot blocks.
func decideListener(route zoneRoute, why string, tier xdpTier) listenerHot {
	if why != "" {
		return listenerHot{why: why}
	}
	d := listenerHot{}
	for _, p := range route {
		if p.on() {
			d.entries = max(d.entries, p.entries)
		}
	}
	if d.entries > 0 {
		d.xdp, d.why = tierOf(route, tier)
	}
	return d
}

// tierOf: `hot user` in any block of the listener keeps its answers in
// the receive loop; otherwise `hot xdp` in any puts them in the program
// too; otherwise the interface decides.
func tierOf(route zoneRoute, tier xdpTier) (bool, string) {
	xdp, why := tier.ok, tier.why
	for _, p := range route {
		switch {
		case !p.on():
		case p.tier == hotUser:
			return false, fmt.Sprintf("hot user in %s", p)
		case p.tier == hotXDP:
			xdp, why = true, ""
		}
	}
	return xdp, why
}
