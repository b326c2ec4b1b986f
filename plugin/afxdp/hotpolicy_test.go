package afxdp

import (
	"context"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/bpf"
)

// named is a plugin that does nothing but carry a directive's name, so
// that policyOf sees it where the directive would run.
type named struct {
	name string
	next plugin.Handler
}

func (n named) Name() string { return n.name }

func (n named) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(n.name, n.next, ctx, w, r)
}

// chainOf makes a block's plugins from directive names, "cache" being
// CoreDNS's own with its defaults.
func chainOf(names ...string) []plugin.Plugin {
	var ps []plugin.Plugin
	for _, n := range names {
		ps = append(ps, func(next plugin.Handler) plugin.Handler {
			if n == "cache" {
				c := cache.New()
				c.Next = next
				return c
			}
			return named{name: n, next: next}
		})
	}
	return ps
}

// hotCase is one listener: its root block (and an optional second block
// for zone a., same chain) and the interface it is served on.
type hotCase struct {
	name    string
	hot     string   // the root block's `hot`, as the Corefile says it
	second  string   // the a. block's `hot`, "" for no second block
	chain   []string // directives of each block, in the order they run
	mode    bpf.Mode // the XDP mode the datapath attached in
	driver  string
	noDP    bool   // the interface has no datapath
	wantErr bool   // start-up fails
	want    string // where the listener answers hot: off, user or xdp
}

// TestHotDecision: from a block's `hot` setting, its chain and the
// interface, whether start-up fails and where the listener answers hot,
// through the steps of hotpolicy.go as start and serving take them.
func TestHotDecision(t *testing.T) {
	cached, logged, counted := []string{"cache"}, []string{"log", "cache"}, []string{"prometheus", "errors", "cache"}
	native, generic := bpf.ModeNative, bpf.ModeGeneric
	for _, c := range []hotCase{
		{name: "auto, nic native", hot: "auto", chain: cached, mode: native, driver: "ixgbe", want: "xdp"},
		{name: "auto, nic generic", hot: "auto", chain: cached, mode: generic, driver: "ixgbe", want: "xdp"},
		{name: "auto, veth native", hot: "auto", chain: cached, mode: native, driver: "veth", want: "user"},
		{name: "auto, veth generic", hot: "auto", chain: cached, mode: generic, driver: "veth", want: "xdp"},
		{name: "auto, driver unknown", hot: "auto", chain: cached, mode: native, want: "xdp"},
		{name: "auto, no datapath", hot: "auto", chain: cached, noDP: true, want: "user"},
		{name: "on, veth native", hot: "on", chain: cached, mode: native, driver: "veth", want: "user"},
		{name: "on, nic", hot: "on", chain: cached, mode: native, driver: "ixgbe", want: "xdp"},
		{name: "user, nic", hot: "user", chain: cached, mode: native, driver: "ixgbe", want: "user"},
		{name: "xdp, veth native", hot: "xdp", chain: cached, mode: native, driver: "veth", want: "xdp"},
		{name: "xdp, no datapath", hot: "xdp", chain: cached, noDP: true, want: "xdp"},
		{name: "off, nic", hot: "off", chain: cached, mode: native, driver: "ixgbe", want: "off"},
		{name: "transparent plugins ahead", hot: "auto", chain: counted, mode: native, driver: "ixgbe", want: "xdp"},
		{name: "auto, log ahead of cache", hot: "auto", chain: logged, mode: native, driver: "ixgbe", want: "off"},
		{name: "auto, no cache", hot: "auto", chain: []string{"log"}, mode: native, want: "off"},
		{name: "auto, empty chain", hot: "auto", mode: native, want: "off"},
		{name: "off, no cache", hot: "off", chain: []string{"log"}, mode: native, want: "off"},
		{name: "on, no cache", hot: "on", chain: []string{"errors"}, wantErr: true},
		{name: "on, log ahead", hot: "on", chain: logged, wantErr: true},
		{name: "user, no cache", hot: "user", chain: logged, wantErr: true},
		{name: "xdp, no cache", hot: "xdp", chain: logged, wantErr: true},
		{name: "user in one block beats xdp", hot: "xdp", second: "user", chain: cached, mode: native, driver: "ixgbe", want: "user"},
		{name: "xdp in one block, auto on a veth", hot: "auto", second: "xdp", chain: cached, mode: native, driver: "veth", want: "xdp"},
		{name: "user in a block off does not count", hot: "on", second: "off", chain: cached, mode: native, driver: "ixgbe", want: "xdp"},
		{name: "off beside on", hot: "off", second: "on", chain: cached, mode: native, driver: "veth", want: "user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := decideHotCase(t, c)
			if (err != nil) != c.wantErr {
				t.Fatalf("start-up error %v, want one: %v", err, c.wantErr)
			}
			if err == nil && got != c.want {
				t.Errorf("answers hot %s, want %s", got, c.want)
			}
		})
	}
}

// decideHotCase runs c through the decision: blocks at start, the
// interface's tier, then the listener.
func decideHotCase(t *testing.T, c hotCase) (string, error) {
	t.Helper()
	sets := map[*dnsserver.Config]settings{}
	var cfgs []*dnsserver.Config
	for _, b := range [][2]string{{".", c.hot}, {"a.", c.second}} {
		if b[1] == "" {
			continue
		}
		set := defaultSettings()
		var err error
		if set.hot, err = parseHotMode(b[1]); err != nil {
			t.Fatal(err)
		}
		cfg := &dnsserver.Config{Zone: b[0], Port: "53", Transport: "dns", ListenHosts: []string{""}, Plugin: chainOf(c.chain...)}
		cfgs = append(cfgs, cfg)
		sets[cfg] = set
	}
	// The servers are made before start decides, as CoreDNS does: the
	// chains' handlers are known by then.
	s, err := dnsserver.NewServer("dns://:53", cfgs)
	if err != nil {
		t.Fatal(err)
	}
	policies := map[*dnsserver.Config]*blockPolicy{}
	for _, cfg := range cfgs {
		policies[cfg] = policyOf(cfg)
		if err := blockHot(policies[cfg], sets[cfg], "Corefile:1"); err != nil {
			return "", err
		}
	}
	tier := tierFor("eth0", nil)
	if !c.noDP {
		tier = xdpTierOf("eth0", c.mode, c.driver)
	}
	route, why := routeOf(s, policies)
	d := decideListener(route, why, tier)
	switch {
	case d.entries == 0:
		return "off", nil
	case d.entries != defaultHotEntries:
		t.Errorf("table of %d entries, want the blocks' hot_entries %d", d.entries, defaultHotEntries)
	case !d.xdp && d.why == "":
		t.Error("in the receive loop only, with no reason given")
	}
	if d.xdp {
		return "xdp", nil
	}
	return "user", nil
}
