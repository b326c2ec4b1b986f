package netns

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/afxdp/afxdp/internal/priv"
)

// TestDefinitions: what Go reads from run/testnet.sh is what bash sets, and
// the addresses stay in the ranges for testing.
func TestDefinitions(t *testing.T) {
	path, err := scriptPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", "-c", `set -eu; . "$0"; for v in ${!TESTNET_@}; do printf '%s=%s\n' "$v" "${!v}"; done`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("sourcing %s: %v\n%s", path, err, out)
	}
	defs, err := definitions()
	if err != nil {
		t.Fatal(err)
	}
	bash := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, value, _ := strings.Cut(l, "=")
		bash[name] = value
		if name != "TESTNET_ETHTOOL" && defs[name] != value {
			t.Errorf("%s: bash sets %q, Go reads %q", name, value, defs[name])
		}
	}
	for name := range defs {
		if _, ok := bash[name]; !ok {
			t.Errorf("%s: Go reads %q, bash sets nothing", name, defs[name])
		}
	}
	v4, v6 := netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00::/8")
	for _, p := range []netip.Prefix{Cli4, Cli6, Srv4, Srv6, SU4, SU6, Ups4, Ups6} {
		if !v4.Contains(p.Addr()) && !v6.Contains(p.Addr()) {
			t.Errorf("%s is outside %s and %s", p, v4, v6)
		}
	}
}

// TestNewNet builds the network with an upstream and checks every end:
// queues, offload flags and addresses, IPv6 on the upstream link included.
func TestNewNet(t *testing.T) {
	priv.Require(t)
	n := NewNet(t, 2, true)
	flags := map[string]string{ // as run/testnet.sh's TESTNET_ETHTOOL sets them
		"tx-checksumming":          "off",
		"tcp-segmentation-offload": "off",
		"generic-receive-offload":  "on",
	}
	for _, e := range []struct {
		ns     *NS
		dev    string
		queues int
		addrs  []netip.Prefix
	}{
		{n.Cli, "veth-c", 2, []netip.Prefix{Cli4, Cli6}},
		{n.Srv, "veth-s", 2, []netip.Prefix{Srv4, Srv6}},
		{n.Srv, "veth-su", 1, []netip.Prefix{SU4, SU6}},
		{n.Ups, "veth-u", 1, []netip.Prefix{Ups4, Ups6}},
	} {
		for _, l := range strings.Split(e.ns.Run("ethtool", "-k", e.dev), "\n") {
			name, value, _ := strings.Cut(l, ": ")
			if want, ok := flags[name]; ok && value != want {
				t.Errorf("%s: %s %s, want %s", e.dev, name, value, want)
			}
		}
		if q := strings.Fields(e.ns.Run("ls", "/sys/class/net/"+e.dev+"/queues")); len(q) != 2*e.queues {
			t.Errorf("%s: queues %v, want %d rx and tx", e.dev, q, e.queues)
		}
		have := e.ns.Run("ip", "-o", "addr", "show", "dev", e.dev)
		for _, a := range e.addrs {
			if !strings.Contains(have, " "+a.String()+" ") {
				t.Errorf("%s lacks %s:\n%s", e.dev, a, have)
			}
		}
	}
}

// TestNewNetWithoutUpstream: no upstream namespace, no upstream link.
func TestNewNetWithoutUpstream(t *testing.T) {
	priv.Require(t)
	n := NewNet(t, 1, false)
	if n.Ups != nil {
		t.Error("an upstream namespace without asking")
	}
	if out, err := n.Srv.Command("ip", "link", "show", "veth-su").CombinedOutput(); err == nil {
		t.Errorf("veth-su without an upstream:\n%s", out)
	}
}
