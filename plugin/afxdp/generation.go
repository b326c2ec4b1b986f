package afxdp

import (
	"fmt"
	"slices"
	"sync"

	"github.com/coredns/coredns/core/dnsserver"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
)

// generation is what one loaded Corefile asks of afxdp: the interfaces its
// server blocks claim. A reload makes a new generation that takes over the
// interfaces of the old one without closing them.
type generation struct {
	mu       sync.Mutex
	claims   map[string]*claim
	blocks   map[*dnsserver.Config]*block
	policies map[*dnsserver.Config]*blockPolicy // decided at start
	hotLog   map[string]bool                    // listeners whose hot state was logged
	started  bool                               // start opened every claimed interface
	kernel   sync.Map                           // *dnsserver.Server -> what its kernel socket answered (bypass.go)
}

// block is one server block's afxdp directive.
type block struct {
	set   settings
	where string // Corefile:line of its hot setting
}

// claim is one interface as claimed by one or more server blocks.
type claim struct {
	name    string
	opts    datapath.Options
	where   string // Corefile:line of the first block naming it
	configs []*dnsserver.Config
	keys    map[listenKey]bool // the listeners of those blocks, known at start
}

// claim records that a server block serves through an interface. Several
// blocks may name one interface if they agree on its settings.
func (g *generation) claim(name string, opts datapath.Options, cfg *dnsserver.Config, where string) error {
	if cl, ok := g.claims[name]; ok {
		if !cl.opts.Equal(opts) {
			return fmt.Errorf("interface %s claimed twice with different settings (first at %s)", name, cl.where)
		}
		cl.configs = append(cl.configs, cfg)
		return nil
	}
	g.claims[name] = &claim{name: name, opts: opts, where: where, configs: []*dnsserver.Config{cfg}}
	return nil
}

// setBlock records a block's own settings.
func (g *generation) setBlock(cfg *dnsserver.Config, set settings, where string) {
	g.blocks[cfg] = &block{set: set, where: where}
}

func (g *generation) sorted() []*claim {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*claim, 0, len(g.claims))
	for _, cl := range g.claims {
		out = append(out, cl)
	}
	slices.SortFunc(out, func(a, b *claim) int {
		if a.name < b.name {
			return -1
		}
		return 1
	})
	return out
}
