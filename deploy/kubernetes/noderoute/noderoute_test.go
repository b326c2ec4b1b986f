package main

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	nodeV4 = netip.MustParseAddr("169.254.20.10")
	nodeV6 = netip.MustParseAddr("fd00:20::10")
	ipA    = netip.MustParseAddr("10.244.1.5")
	ipB    = netip.MustParseAddr("10.244.1.9")
	ipB6   = netip.MustParseAddr("fd10:244:1::9")
)

func cand(uid string, registered time.Duration, ready bool, beat time.Time, ips ...netip.Addr) Candidate {
	return Candidate{Registration: Registration{UID: uid, Name: "pod-" + uid, IPs: ips,
		Registered: t0.Add(registered), Heartbeat: beat}, Ready: ready}
}

func TestChoose(t *testing.T) {
	p := DefaultPolicy
	now := t0.Add(time.Minute)
	stale := now.Add(-p.StaleAfter - time.Second)
	for _, tc := range []struct {
		name    string
		cands   []Candidate
		current string
		want    string
	}{
		{"none registered", nil, "", ""},
		{"one ready", []Candidate{cand("a", 0, true, now, ipA)}, "", "a"},
		{"one, not yet ready", []Candidate{cand("a", 0, false, now, ipA)}, "", ""},
		{"surge: the new pod not ready yet", []Candidate{cand("a", 0, true, now, ipA), cand("b", time.Second, false, now, ipB)}, "a", "a"},
		{"surge: the new pod ready takes over", []Candidate{cand("a", 0, true, now, ipA), cand("b", time.Second, true, now, ipB)}, "a", "b"},
		{"the new pod fails: back to the old", []Candidate{cand("a", 0, true, now, ipA), cand("b", time.Second, false, now, ipB)}, "b", "a"},
		{"none ready: keep the current while registered", []Candidate{cand("a", 0, false, now, ipA), cand("b", time.Second, false, now, ipB)}, "a", "a"},
		{"none ready, current gone: none", []Candidate{cand("b", time.Second, false, now, ipB)}, "a", ""},
		{"none ready, current stale: none", []Candidate{cand("a", 0, false, stale, ipA)}, "a", ""},
		{"a stale ready pod is not chosen", []Candidate{cand("a", 0, true, now, ipA), cand("b", time.Second, true, stale, ipB)}, "a", "a"},
		{"a pod without IPs is not chosen", []Candidate{cand("a", 0, true, now, ipA), cand("b", time.Second, true, now)}, "", "a"},
		{"equal times: a fixed order", []Candidate{cand("b", 0, true, now, ipB), cand("a", 0, true, now, ipA)}, "", "b"},
	} {
		if got := Choose(tc.cands, tc.current, now, p); got != tc.want {
			t.Errorf("%s: Choose = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestProbeHysteresis(t *testing.T) {
	var s probeState
	p := DefaultPolicy // UnreadyAfter 2
	for i, step := range []struct{ ok, ready bool }{
		{false, false}, {true, true}, {false, true}, {true, true}, {false, true}, {false, false}, {true, true},
	} {
		s.observe(step.ok, p)
		if s.ready != step.ready {
			t.Fatalf("probe %d (ok %v): ready %v, want %v", i, step.ok, s.ready, step.ready)
		}
	}
}

func TestRegistrationFiles(t *testing.T) {
	dir := t.TempDir()
	r := Registration{UID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", Name: "node-local-dns-x", IPs: []netip.Addr{ipB, ipB6},
		Registered: t0, Heartbeat: t0.Add(5 * time.Second)}
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	// Litter the directory: a temporary file, a foreign file, a lie.
	os.WriteFile(filepath.Join(dir, ".x.json.123"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("hi"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"uid":"not-other"}`), 0o644)
	regs, bad, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(regs) != 1 || regs[0].UID != r.UID || !regs[0].Registered.Equal(t0) || len(regs[0].IPs) != 2 {
		t.Fatalf("ReadAll = %+v", regs)
	}
	if len(bad) != 2 {
		t.Errorf("bad = %v, want bad.json and other.json", bad)
	}
	if ip, ok := regs[0].IPFor(nodeV6); !ok || ip != ipB6 {
		t.Errorf("IPFor(v6) = %v %v", ip, ok)
	}
	if err := (Registration{UID: "../etc/x"}).Write(dir); err == nil {
		t.Error("a UID with a slash was written")
	}
	if err := Remove(dir, r.UID); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir, r.UID); err != nil {
		t.Errorf("removing twice: %v", err)
	}
	if _, err := parseIPs(""); err == nil {
		t.Error("empty POD_IPS accepted")
	}
	if ips, err := parseIPs("10.244.1.9,fd10:244:1::9"); err != nil || len(ips) != 2 {
		t.Errorf("parseIPs: %v %v", ips, err)
	}
}

// The sidecar's loop: registered at once, heartbeats, removed when stopped;
// a restarted sidecar keeps the pod's first registration time.
func TestRegisterLoop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	clock := t0
	now := func() time.Time { return clock }
	reg := Registration{UID: "u1", Name: "p1", IPs: []netip.Addr{ipA}}
	run := func() (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- register(ctx, dir, reg, 5*time.Millisecond, now) }()
		return cancel, done
	}
	waitFor := func(cond func([]Registration) bool) []Registration {
		t.Helper()
		for i := 0; i < 200; i++ {
			regs, _, _ := ReadAll(dir)
			if cond(regs) {
				return regs
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal("timed out")
		return nil
	}
	cancel, done := run()
	regs := waitFor(func(r []Registration) bool { return len(r) == 1 })
	if !regs[0].Registered.Equal(t0) {
		t.Errorf("registered %v", regs[0].Registered)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(func(r []Registration) bool { return len(r) == 0 })

	// A restart while the file is still there (the container died).
	reg.Registered, reg.Heartbeat = t0, t0
	if err := reg.Write(dir); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(time.Hour)
	cancel, done = run()
	regs = waitFor(func(r []Registration) bool { return len(r) == 1 && r[0].Heartbeat.Equal(clock) })
	if !regs[0].Registered.Equal(t0) {
		t.Errorf("a restarted sidecar registered anew at %v, want the first time %v", regs[0].Registered, t0)
	}
	cancel()
	<-done
}

// fakeKernel is a routing table.
type fakeKernel struct {
	routes map[netip.Addr]netip.Addr
	calls  int
}

func (k *fakeKernel) Routes() (map[netip.Addr]netip.Addr, error) { return maps.Clone(k.routes), nil }
func (k *fakeKernel) ReplaceRoute(dst, gw netip.Addr) error {
	k.calls++
	k.routes[dst] = gw
	return nil
}
func (k *fakeKernel) DeleteRoute(dst netip.Addr) error {
	k.calls++
	delete(k.routes, dst)
	return nil
}

// A rolling update with surge, a failing new pod, a pod that goes away
// without unregistering, and a restarted router, through Router.Step.
func TestRouterRollout(t *testing.T) {
	dir := t.TempDir()
	clock := t0
	ready := map[netip.Addr]bool{}
	k := &fakeKernel{routes: map[netip.Addr]netip.Addr{}}
	var logs []string
	newRouter := func() *Router {
		return &Router{Dir: dir, Addrs: []netip.Addr{nodeV4, nodeV6}, Policy: DefaultPolicy,
			Probe: func(ip netip.Addr) bool { return ready[ip] }, Kernel: k,
			Now: func() time.Time { return clock }, Resync: 10 * time.Second,
			Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }}
	}
	r := newRouter()
	beat := func(uid string, registered time.Time, ips ...netip.Addr) {
		t.Helper()
		if err := (Registration{UID: uid, Name: "pod-" + uid, IPs: ips, Registered: registered, Heartbeat: clock}).Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	step := func(want string, wantRoutes map[netip.Addr]netip.Addr) {
		t.Helper()
		clock = clock.Add(time.Second)
		got, err := r.Step()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("at %v: routed to %q, want %q; log:\n%q", clock.Sub(t0), got, want, logs)
		}
		if !maps.Equal(k.routes, wantRoutes) {
			t.Fatalf("at %v: routes %v, want %v", clock.Sub(t0), k.routes, wantRoutes)
		}
	}
	none := map[netip.Addr]netip.Addr{}
	toA := map[netip.Addr]netip.Addr{nodeV4: ipA}
	toB := map[netip.Addr]netip.Addr{nodeV4: ipB, nodeV6: ipB6}

	step("", none)
	beat("a", t0, ipA) // pod a starts; not ready yet
	step("", none)
	ready[ipA] = true
	step("a", toA) // IPv4 only: no route for the IPv6 address
	calls := k.calls
	step("a", toA)
	if k.calls != calls {
		t.Errorf("an unchanged decision wrote %d routes", k.calls-calls)
	}

	// Surge: b registers, is not ready, then is.
	beat("a", t0, ipA)
	beat("b", clock, ipB, ipB6)
	step("a", toA)
	ready[ipB] = true
	step("b", toB)

	// b fails twice in a row (once is not enough): back to a.
	ready[ipB] = false
	step("b", toB)
	step("a", toA)
	ready[ipB] = true
	step("b", toB)

	// The old pod stops: its sidecar removes its registration.
	Remove(dir, "a")
	step("b", toB)

	// b unready but registered: the routes stay.
	ready[ipB] = false
	step("b", toB)
	step("b", toB)

	// A restarted router adopts the pod its routes point at, even unready.
	r = newRouter()
	step("b", toB)

	// b is deleted without unregistering (no heartbeat): after StaleAfter
	// the routes go; after RemoveAfter the file.
	clock = clock.Add(DefaultPolicy.StaleAfter)
	step("", none)
	if _, err := os.Stat(filepath.Join(dir, "b.json")); err != nil {
		t.Errorf("removed too early: %v", err)
	}
	clock = clock.Add(DefaultPolicy.RemoveAfter)
	step("", none)
	if _, err := os.Stat(filepath.Join(dir, "b.json")); !os.IsNotExist(err) {
		t.Errorf("stale registration still there: %v", err)
	}

	// Someone removes the route behind the router's back: put back at the
	// next resync.
	ready[ipA] = true
	beat("a", t0, ipA)
	step("a", toA)
	delete(k.routes, nodeV4)
	clock = clock.Add(10 * time.Second)
	step("a", toA)
}
