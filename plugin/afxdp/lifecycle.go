package afxdp

import (
	"fmt"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
)

type generationKey struct{}

// generationOf returns the generation of the Corefile c belongs to, making
// it (and hooking it to the instance's lifecycle) for the first block.
func generationOf(c *caddy.Controller) *generation {
	if g, ok := c.Get(generationKey{}).(*generation); ok {
		return g
	}
	g := &generation{claims: map[string]*claim{}, blocks: map[*dnsserver.Config]*block{}, hotLog: map[string]bool{}}
	c.Set(generationKey{}, g)
	c.OnStartup(g.start)
	c.OnShutdown(g.stop)
	c.OnRestartFailed(g.restartFailed)
	return g
}

// decideHot decides, for every block, whether its cache hits are answered
// hot; the handlers are known by now (servers are made before OnStartup).
// A block that asks for hot answers and cannot have them fails start-up.
func (g *generation) decideHot() error {
	g.policies = map[*dnsserver.Config]*blockPolicy{}
	for cfg, b := range g.blocks {
		p := policyOf(cfg)
		if err := blockHot(p, b.set, b.where); err != nil {
			return plugin.Error(pluginName, err)
		}
		g.policies[cfg] = p
	}
	return nil
}

// start opens (or takes over) every claimed interface. Until the servers
// arrive through serverStarted nothing is redirected: the kernel listener
// answers.
func (g *generation) start() error {
	if err := g.decideHot(); err != nil {
		return err
	}
	for _, cl := range g.sorted() {
		cl.keys = map[listenKey]bool{}
		for _, cfg := range cl.configs {
			keys, err := keysOf(cfg)
			if err != nil {
				return plugin.Error(pluginName, fmt.Errorf("%s: interface %s: %w", cl.where, cl.name, err))
			}
			for _, k := range keys {
				cl.keys[k] = true
			}
		}
		if err := reg.acquire(g, cl); err != nil {
			// datapath.Open names the interface an error concerns.
			return plugin.Error(pluginName, fmt.Errorf("%s: %w", cl.where, err))
		}
	}
	g.mu.Lock()
	g.started = true
	g.mu.Unlock()
	go g.checkDelivered(5 * time.Second)
	return nil
}

// serverStarted is called from each UDP listener's ServePacket with its live
// Server; every claimed interface whose blocks listen there serves it.
func (g *generation) serverStarted(s *dnsserver.Server) {
	k, err := keyOf(s.Addr)
	if err != nil {
		log.Errorf("server %s: %v", s.Addr, err)
		return
	}
	for _, cl := range g.sorted() {
		if cl.keys[k] {
			if err := reg.setListener(g, cl.name, k, s); err != nil {
				log.Errorf("%s: interface %s: serving %s: %v", cl.where, cl.name, k, err)
			}
		}
	}
}

// checkDelivered warns about listeners whose server never arrived: another
// plugin's UDP writer decorator in a block that shares the listener won.
func (g *generation) checkDelivered(after time.Duration) {
	time.Sleep(after)
	for _, cl := range g.sorted() {
		for k := range cl.keys {
			if !reg.hasListener(g, cl.name, k) && reg.live(g) {
				log.Warningf("%s: interface %s: listener %s was never handed to afxdp; its queries go to the kernel. "+
					"Another plugin in a server block sharing it sets a UDP writer decorator (e.g. shed): add afxdp to that block too", cl.where, cl.name, k)
			}
		}
	}
}

func (g *generation) stop() error {
	reg.release(g)
	return nil
}

// restartFailed runs on the surviving (old) generation when a reload failed
// after the new one started: only the old one stays.
func (g *generation) restartFailed() error {
	reg.releaseAllBut(g)
	return nil
}
