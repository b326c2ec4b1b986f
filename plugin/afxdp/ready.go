package afxdp

import (
	"context"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

// handler puts afxdp in the block's chain for one reason: the ready plugin
// asks only the chain's handlers (Config.Handlers) whether they are ready.
// afxdp is the last directive, so it is the end of the chain, and it does
// what the end of the chain does: hand on to a next plugin if there is one,
// else answer SERVFAIL with plugin.NextOrFailure's "no next plugin found"
// (naming afxdp rather than the plugin before it). It runs after cache, so
// hot answers never meet it.
type handler struct {
	Next plugin.Handler
	g    *generation
}

func (h *handler) Name() string { return pluginName }

func (h *handler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(pluginName, h.Next, ctx, w, r)
}

// Ready reports, for the ready plugin, whether every interface the
// Corefile claims has its program attached, its sockets bound and all its
// listeners mapped to their live servers: from then on queries are answered
// through AF_XDP. It stays ready while a queue is handed to the kernel
// (blocked misses) or a reload swaps servers: the kernel listener answers
// meanwhile.
func (h *handler) Ready() bool { return h.g.ready() }

func (g *generation) ready() bool {
	g.mu.Lock()
	started := g.started
	g.mu.Unlock()
	if !started {
		return false
	}
	for _, cl := range g.sorted() {
		for k := range cl.keys {
			if !reg.hasListener(g, cl.name, k) {
				return false
			}
		}
	}
	return true
}
