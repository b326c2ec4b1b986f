package afxdp

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/metrics"
)

// Hot answers (cache hits answered in the receive loop, without the plugin
// chain) are on only where nobody could tell them from the chain's. On a
// hit, cache answers and returns without calling the rest of the chain, so
// only the handlers ahead of it matter; these are the ones that do nothing
// to such a query, or whose effect is replicated (prometheus's metrics).
// Anything else ahead of cache (log, dnstap, acl, rewrite, loadbalance,
// dns64, siit, tsig, autopath, trace, shed, bufsize, or a plugin unknown
// here) could answer or observe a query differently.
var transparentAhead = map[string]bool{
	"metadata": true, "cancel": true, "nsid": true, "prometheus": true,
	"errors": true, "local": true, "any": true, "chaos": true,
}

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

// cacheOptions names the cache settings whose effect on a hit is not
// replicated: prefetch (a hot hit would not count towards it), keepttl, and
// zones where cache stores nothing or is bypassed. The settings are
// unexported; reflection reads them, and a CoreDNS whose cache has other
// fields turns hot answers off rather than guess.
func cacheOptions(c *cache.Cache) string {
	v := reflect.ValueOf(c).Elem()
	field := func(name string, kind reflect.Kind) (reflect.Value, bool) {
		f := v.FieldByName(name)
		return f, f.IsValid() && f.Kind() == kind
	}
	if f, ok := field("prefetch", reflect.Int); !ok || f.Int() > 0 {
		return "cache prefetch"
	}
	if f, ok := field("keepttl", reflect.Bool); !ok || f.Bool() {
		return "cache keepttl"
	}
	if f, ok := field("preferPositive", reflect.Bool); !ok || f.Bool() {
		return "cache serve_stale prefer_positive"
	}
	for _, name := range []string{"pexcept", "nexcept", "bypass"} {
		if f, ok := field(name, reflect.Slice); !ok || f.Len() > 0 {
			return "cache disable (or a zone that bypasses it)"
		}
	}
	return ""
}

// zoneRoute maps each zone of one *dnsserver.Server (every block sharing
// the listener, with afxdp or without) to its block's policy, so a query is
// routed to its block as the server routes it.
type zoneRoute map[string]*blockPolicy

// routeOf reads the server's zones. It is unexported in CoreDNS; reflection
// reads the map's keys and compares its configs' pointers with the blocks
// afxdp knows, without touching them. A zone of a block afxdp does not know
// (one without afxdp on this listener) gets an "off" policy; a view
// anywhere turns the whole listener off, as its filters route per client.
func routeOf(s *dnsserver.Server, known map[*dnsserver.Config]*blockPolicy) (zoneRoute, string) {
	zones := reflect.ValueOf(s).Elem().FieldByName("zones")
	if !zones.IsValid() || zones.Kind() != reflect.Map {
		return nil, "a CoreDNS whose server has no zones map"
	}
	byPtr := make(map[uintptr]*blockPolicy, len(known))
	for cfg, p := range known {
		byPtr[reflect.ValueOf(cfg).Pointer()] = p
	}
	r := zoneRoute{}
	it := zones.MapRange()
	for it.Next() {
		cfgs := it.Value()
		if cfgs.Len() != 1 {
			return nil, "view" // several blocks for one zone: per-client filters choose
		}
		p := byPtr[cfgs.Index(0).Pointer()]
		if p == nil {
			p = &blockPolicy{why: "a server block without afxdp"}
		} else if p.why == "view" {
			return nil, "view"
		}
		r[it.Key().String()] = p
	}
	return r, ""
}

// route finds the block that answers name (lowercased, fully qualified) as
// dnsserver.Server.ServeDNS does for a query that is not DS: the most
// specific zone, else the root.
func (r zoneRoute) route(name string) *blockPolicy {
	for off := 0; ; {
		if p := r[name[off:]]; p != nil {
			return p
		}
		i := strings.IndexByte(name[off:], '.')
		if i < 0 || off+i+1 >= len(name) {
			return r["."]
		}
		off += i + 1
	}
}

func (p *blockPolicy) String() string {
	if p.cfg == nil {
		return "server block"
	}
	return fmt.Sprintf("server block %s:%s", p.cfg.Zone, p.cfg.Port)
}
