package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
)

func TestKillLeavesNoProgram(t *testing.T) {
	tb := newTestbed(t, 2)
	srv := tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n}\n", zone))
	tb.waitAFXDP(srv4)
	srv.signal(syscall.SIGKILL)
	srv.waitExit(10 * time.Second)
	for end := time.Now().Add(3 * time.Second); tb.xdpAttached() && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if tb.xdpAttached() {
		t.Error("XDP program left on veth-s after SIGKILL")
	}
}

func TestStartupErrors(t *testing.T) {
	tb := newTestbed(t, 2)
	cases := []struct {
		name, corefile, want string
		user                 bool
	}{
		{"unknown interface", ".:53 {\n    whoami\n    afxdp nosuch0\n}\n", `Corefile:3 - Error during parsing: unknown interface "nosuch0"`, false},
		{"unknown option", ".:53 {\n    afxdp veth-s {\n        turbo on\n    }\n}\n", `Corefile:3 - Error during parsing: unknown option "turbo"`, false},
		{"bad value", ".:53 {\n    afxdp veth-s {\n        ring_size 1000\n    }\n}\n", `Corefile:3 - Error during parsing: ring_size: ring size 1000`, false},
		{"claimed twice", "a.example:53 {\n    afxdp veth-s\n    whoami\n}\nb.example:53 {\n    afxdp veth-s {\n        batch 8\n    }\n    whoami\n}\n",
			`Corefile:6 - Error during parsing: interface veth-s claimed twice with different settings (first at /`, false},
		{"not plain dns", "tls://.:853 {\n    afxdp veth-s\n    whoami\n}\n", `serves plain DNS over UDP`, false},
		{"no privileges", ".:5300 {\n    afxdp veth-s\n    whoami\n}\n", `Corefile:2 - Error during parsing: missing privileges: CAP_NET_ADMIN`, true},
		{"hot on, log ahead of cache", ".:53 {\n    afxdp veth-s {\n        hot on\n    }\n    log\n    cache\n    whoami\n}\n",
			`Corefile:3: hot answers asked for, but in server block .:53 log runs ahead of cache`, false},
		{"hot on, no cache", ".:53 {\n    afxdp veth-s {\n        hot on\n    }\n    whoami\n}\n",
			`Corefile:3: hot answers asked for, but in server block .:53 no cache in the block`, false},
		{"hot bad value", ".:53 {\n    afxdp veth-s {\n        hot fast\n    }\n    whoami\n}\n", `Corefile:3 - Error during parsing: hot: "fast": want auto, on, off, user or xdp`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb.t = t
			var srv *coredns
			if c.user {
				srv = tb.launchAs(tb.srv, c.corefile, "nobody")
			} else {
				srv = tb.launch(tb.srv, c.corefile)
			}
			if code := srv.waitExit(10 * time.Second); code == 0 {
				t.Fatalf("exit code 0 for a bad configuration:\n%s", srv.output())
			}
			if !strings.Contains(srv.output(), c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, srv.output())
			}
		})
	}
	if tb.xdpAttached() {
		t.Error("a failed start left an XDP program on veth-s")
	}
}

// TestSIGTERMUnderLoad: SIGTERM while queries stream in ends the process
// cleanly and leaves no program on the interface.
func TestSIGTERMUnderLoad(t *testing.T) {
	tb := newTestbed(t, 2)
	srv := tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n}\n", zone))
	tb.waitAFXDP(srv4)
	if !tb.xdpAttached() {
		t.Fatal("no XDP program on veth-s while serving")
	}
	tb.steadyLoad(3*time.Second, 4, 200*time.Microsecond)
	time.Sleep(time.Second)
	srv.signal(syscall.SIGTERM)
	if code := srv.waitExit(10 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if tb.xdpAttached() {
		t.Error("XDP program left after SIGTERM under load")
	}
}

// TestReloadTenTimes reloads ten times under a steady stream, every other
// time with changed afxdp settings: a plain reload swaps the servers and
// keeps the sockets, a changed one reopens the interface while the kernel
// listener answers. Not one query may be lost.
func TestReloadTenTimes(t *testing.T) {
	tb := newTestbed(t, 2)
	const corefile = ".:53 {\n afxdp veth-s {\n  batch %d\n }\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n"
	srv := tb.start(tb.srv, fmt.Sprintf(corefile, 64, zone))
	tb.waitAFXDP(srv4)
	const loadFor = 20 * time.Second
	loadEnd := time.Now().Add(loadFor)
	l := tb.steadyLoad(loadFor, 4, time.Millisecond)
	time.Sleep(time.Second)
	detached := 0
	for i := range 10 {
		if i%2 == 1 {
			if err := os.WriteFile(srv.file, fmt.Appendf(nil, corefile, 32+i, zone), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// One reload at a time: CoreDNS takes signals one after another
		// and keeps one pending, so a signal sent during a reload that
		// reopens (the program's load alone takes a third of a second)
		// could merge with the next.
		srv.signal(syscall.SIGUSR1)
		done := false
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !tb.xdpAttached() {
				detached++
			}
			if !done && strings.Count(srv.output(), "Reloading complete") == i+1 {
				done, end = true, time.Now().Add(500*time.Millisecond) // and serve a while
			}
		}
		if !done {
			t.Fatalf("reload %d did not complete within 10 s:\n%s", i+1, srv.output())
		}
	}
	if time.Now().After(loadEnd) {
		t.Errorf("the reloads outlasted the %v of load", loadFor)
	}
	l.wait()
	// A reopen moves the link to the new program: XDP never leaves.
	if detached > 0 {
		t.Errorf("XDP was detached at %d polls during the reloads", detached)
	}
	t.Logf("sent %d, answered %d", l.sent.Load(), l.answered.Load())
	if n := strings.Count(srv.output(), "Reloading complete"); n != 10 {
		t.Errorf("%d reloads completed, want 10", n)
	}
	if n := strings.Count(srv.output(), "settings changed, reopening"); n != 5 {
		t.Errorf("%d reloads reopened the interface, want 5", n)
	}
	if l.lost() != 0 {
		t.Errorf("lost %d of %d queries across 10 reloads (first: %v)", l.lost(), l.sent.Load(), l.firstErr.Load())
	}
	if v := tb.redirected(); v < float64(l.sent.Load())/2 {
		t.Errorf("only %v of %d queries went through AF_XDP", v, l.sent.Load())
	}
	// Still served through AF_XDP after the reloads.
	r1 := tb.redirected()
	tb.ask(srv4, "www.example.org.", dns.TypeA)
	if r2 := tb.redirected(); r2 != r1+1 {
		t.Errorf("after the reloads a query was not redirected (%v -> %v)", r1, r2)
	}
}

// TestSecondInstanceRefused: a second coredns that claims the same
// interface fails at start with an error naming the owner's PID; the owner
// keeps answering through AF_XDP, and no query is lost meanwhile.
func TestSecondInstanceRefused(t *testing.T) {
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	corefile := fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone)
	owner := tb.start(tb.srv, corefile)
	tb.waitAFXDP(srv4)
	l := tb.steadyLoad(3*time.Second, 2, time.Millisecond)
	before := tb.redirected()
	second := tb.launch(tb.srv, strings.Replace(corefile, "127.0.0.1:9153", "127.0.0.1:9154", 1))
	if code := second.waitExit(10 * time.Second); code == 0 {
		t.Fatalf("the second instance exited 0:\n%s", second.output())
	}
	want := fmt.Sprintf("interface veth-s is already served by another afxdp process (pid %d)", owner.cmd.Process.Pid)
	if !strings.Contains(second.output(), want) {
		t.Errorf("the second instance's output lacks %q:\n%s", want, second.output())
	}
	l.wait()
	if l.lost() != 0 {
		t.Errorf("lost %d of %d queries while a second instance tried", l.lost(), l.sent.Load())
	}
	if tb.redirected() <= before {
		t.Error("the owner stopped answering through AF_XDP")
	}
}

// httpStatus GETs path from 127.0.0.1:port inside ns; 0 if nothing answers.
func httpStatus(ns *netns.NS, port int, path string) int {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	}); err != nil {
		return 0
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext:       func(context.Context, string, string) (net.Conn, error) { return conn, nil },
		DisableKeepAlives: true,
	}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReady: the ready plugin reports 200 only once afxdp serves: from the
// first poll that says so (and again 20 ms later: readyConfirmed), a query
// through AF_XDP (the kernel path dropped) is answered at the first try.
func TestReady(t *testing.T) {
	tb := newTestbed(t, 2)
	tb.dropKernelDNS()
	srv := tb.launch(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n ready 127.0.0.1:8181\n prometheus 127.0.0.1:9153\n}\n", zone))
	seen := map[int]int{}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		code := httpStatus(tb.srv, 8181, "/ready")
		if code == http.StatusOK && !readyConfirmed(tb.srv) {
			code = -http.StatusOK // CoreDNS's own window, before it asks afxdp (readyConfirmed)
		}
		seen[code]++
		if code == http.StatusOK {
			break
		}
	}
	if seen[http.StatusOK] == 0 {
		t.Fatalf("/ready never said 200 (%v):\n%s", seen, srv.output())
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	// The first query is answered, at the first try: the route is looked
	// up for every query (and the client's ARP or neighbour solicitation
	// for the server gave the server its neighbour entry).
	for _, server := range []netip.Addr{srv4, srv6} {
		r, err := tb.queryTimeout(tb.cli, addrPort(server, 53), m, "udp", time.Second)
		if err != nil || len(r.Answer) != 1 {
			t.Errorf("right after /ready said 200, %s: %v %v", server, r, err)
		}
	}
	t.Logf("/ready polls by status: %v", seen)
}
