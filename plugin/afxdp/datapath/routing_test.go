package datapath

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/internal/netns"
)

// TestAskedOncePerSecond: a burst of requests for one next hop costs one
// netlink request a second; another next hop, or another device, is asked
// at once; the memory is bounded.
func TestAskedOncePerSecond(t *testing.T) {
	a := asked{when: make(map[bpf.NeighbourRequest]time.Time)}
	hop := bpf.NeighbourRequest{Index: 2, Addr: netip.MustParseAddr("198.18.0.2")}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		req  bpf.NeighbourRequest
		at   time.Duration
		want bool
	}{
		{hop, 0, true},
		{hop, 10 * time.Millisecond, false},
		{hop, 999 * time.Millisecond, false},
		{bpf.NeighbourRequest{Index: 2, Addr: netip.MustParseAddr("fd00::2")}, time.Millisecond, true},
		{bpf.NeighbourRequest{Index: 3, Addr: hop.Addr}, time.Millisecond, true},
		{hop, resolveAgain, true},
	}
	for i, s := range steps {
		if got := a.first(s.req, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%v at %v): first=%v, want %v", i, s.req, s.at, got, s.want)
		}
	}
	for i := range maxAsked + 10 {
		a.first(bpf.NeighbourRequest{Index: 1, Addr: netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})}, t0)
	}
	if n := len(a.when); n > maxAsked {
		t.Errorf("%d next hops remembered, want at most %d", n, maxAsked)
	}
}

// TestForwardingPolicy: in a fresh namespace IPv6 loopback forwarding
// starts at 0. ForwardingKeep fails naming the setting and changes
// nothing; ForwardingSet turns both families on and says which it set;
// a reset at run time is undone by ensure.
func TestForwardingPolicy(t *testing.T) {
	ns := netns.New(t, "fwd")
	ns.Run("sysctl", "-qw", "net.ipv4.conf.lo.forwarding=0", "net.ipv6.conf.lo.forwarding=0")
	read := func(fam int) string {
		name := "net.ipv4.conf.lo.forwarding"
		if fam == 6 {
			name = "net.ipv6.conf.lo.forwarding"
		}
		return strings.TrimSpace(ns.Run("sysctl", "-n", name))
	}
	var off *ForwardingOffError
	err := ns.Do(func() error {
		fw, _, err := openForwarding(ForwardingKeep)
		closeForwarding(fw)
		return err
	})
	if !errors.As(err, &off) || off.Sysctl != "net.ipv4.conf.lo.forwarding" {
		t.Fatalf("keep with forwarding off: %v, want the IPv4 setting named", err)
	}
	if read(4) != "0" || read(6) != "0" {
		t.Fatal("keep changed a setting")
	}
	var fw []*forwarding
	var set []string
	if err := ns.Do(func() (err error) {
		fw, set, err = openForwarding(ForwardingSet)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer closeForwarding(fw)
	if strings.Join(set, ",") != "net.ipv4.conf.lo.forwarding,net.ipv6.conf.lo.forwarding" || read(4) != "1" || read(6) != "1" {
		t.Fatalf("set: said %v, namespace has %s/%s", set, read(4), read(6))
	}
	// Writing conf.all resets every device's, loopback's included.
	ns.Run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	ns.Run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
	if read(6) != "0" {
		t.Fatal("writing conf.all.forwarding left lo's setting alone: this test no longer makes the reset it checks")
	}
	changed, err := ensure(fw[1].sysctl, ForwardingSet)
	if err != nil || !changed || read(6) != "1" {
		t.Errorf("restoring: changed=%v err=%v, namespace has %s", changed, err, read(6))
	}
	if changed, err := ensure(fw[1].sysctl, ForwardingSet); err != nil || changed {
		t.Errorf("restoring again: changed=%v err=%v, want nothing to do", changed, err)
	}
}
