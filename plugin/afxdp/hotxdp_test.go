package afxdp

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/cache"
)

// TestParseHotModes: `hot` takes on, off, user and xdp; the last three
// and on make start-up fail where hot answers cannot be given.
func TestParseHotModes(t *testing.T) {
	for in, want := range map[string]hotMode{"on": hotOn, "off": hotOff, "user": hotUser, "xdp": hotXDP} {
		c := caddy.NewTestController("dns", "afxdp lo {\n\thot "+in+"\n}")
		_, set, _, err := parse(c)
		if err != nil || set.hot != want {
			t.Errorf("hot %s: %v, %v", in, set.hot, err)
		}
		if want.required() == (want == hotOff) {
			t.Errorf("hot %s: required %v", in, want.required())
		}
	}
	c := caddy.NewTestController("dns", "afxdp lo {\n\thot kernel\n}")
	if _, _, _, err := parse(c); err == nil || !strings.Contains(err.Error(), "want on, off, user or xdp") {
		t.Errorf("hot kernel: %v", err)
	}
}

// TestTierOf: `hot user` in any block of a listener keeps it out of the
// program, `hot xdp` puts it in whatever the interface, and otherwise
// the interface decides.
func TestTierOf(t *testing.T) {
	on := func(m hotMode) *blockPolicy { return &blockPolicy{cache: &cache.Cache{}, tier: m} }
	off := &blockPolicy{tier: hotUser} // a block without hot answers says nothing
	veth := xdpTier{iface: "veth0", why: "a veth"}
	nic := xdpTier{iface: "eth0", ok: true}
	for _, c := range []struct {
		name  string
		route zoneRoute
		tier  xdpTier
		want  bool
	}{
		{"auto on a veth", zoneRoute{".": on(hotAuto)}, veth, false},
		{"auto on a nic", zoneRoute{".": on(hotAuto)}, nic, true},
		{"xdp on a veth", zoneRoute{".": on(hotXDP)}, veth, true},
		{"user on a nic", zoneRoute{".": on(hotUser)}, nic, false},
		{"user beats xdp", zoneRoute{".": on(hotXDP), "a.": on(hotUser)}, nic, false},
		{"a block off does not count", zoneRoute{".": on(hotOn), "a.": off}, nic, true},
	} {
		if got, why := tierOf(c.route, c.tier); got != c.want || (!got && why == "") {
			t.Errorf("%s: %v (%q), want %v", c.name, got, why, c.want)
		}
	}
}
