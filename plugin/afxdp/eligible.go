package afxdp

import (
	"reflect"

	"github.com/coredns/coredns/plugin/cache"
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
