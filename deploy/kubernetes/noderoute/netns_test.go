package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

// A node in network namespaces: a "node" namespace, two DNS "pods" and a
// client "pod", each pod on its own veth to the node (the node forwards
// between them, as with any CNI). The real noderoute binary runs `addr` and
// `register` in each DNS pod and `route` in the node; each DNS pod answers UDP on the
// node-local address with its name and serves /ready on its pod IP. The
// client's queries to 169.254.20.10 reach the pod the router chose, through
// a rolling update (the newer ready pod takes over), a new pod going
// unready, the old pod's sidecar stopping, and the last one going (no
// route; a restarted router then adopts and keeps the route).
func TestNodeInNamespaces(t *testing.T) {
	priv.Require(t)
	bin := filepath.Join(t.TempDir(), "noderoute")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "reg")

	node := netns.New(t, "node")
	node.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	client := netns.New(t, "cli")
	netns.Veth(t, node, "vethc", client, "eth0", 1)
	node.Addr("vethc", "10.244.0.1/24")
	client.Addr("eth0", "10.244.0.7/24")
	client.Run("ip", "route", "add", "default", "via", "10.244.0.1")

	type pod struct {
		name   string
		ns     *netns.NS
		ip     string
		ready  atomic.Bool
		reg    *exec.Cmd
		closes []func()
	}
	newPod := func(name, subnet string) *pod {
		p := &pod{name: name, ns: netns.New(t, "pod"+name), ip: subnet + ".5"}
		netns.Veth(t, node, "veth"+name, p.ns, "eth0", 1)
		node.Addr("veth"+name, subnet+".1/24")
		p.ns.Addr("eth0", p.ip+"/24")
		p.ns.Run("ip", "route", "add", "default", "via", subnet+".1")
		return p
	}
	start := func(p *pod) {
		p.ns.Run(bin, "addr", "-addr", "169.254.20.10")
		p.ns.Run(bin, "addr", "-addr", "169.254.20.10") // again: a restarted init container
		p.reg = p.ns.Command(bin, "register", "-dir", dir, "-heartbeat", "200ms")
		p.reg.Env = append(os.Environ(), "POD_UID=uid-"+p.name, "POD_NAME=dns-"+p.name, "POD_IPS="+p.ip)
		p.reg.Stdout, p.reg.Stderr = os.Stderr, os.Stderr
		if err := p.reg.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.reg.Process.Kill(); p.reg.Wait() })
		var udp net.PacketConn
		var ln net.Listener
		if a := p.ns.Run("ip", "-4", "addr", "show", "dev", "lo"); !strings.Contains(a, "169.254.20.10/32 scope global lo") {
			t.Fatalf("%s's loopback: %s", p.name, a)
		}
		if err := p.ns.Do(func() (err error) {
			if udp, err = net.ListenPacket("udp4", "169.254.20.10:5353"); err != nil {
				return err
			}
			ln, err = net.Listen("tcp4", p.ip+":8181")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		go func() {
			b := make([]byte, 512)
			for {
				_, from, err := udp.ReadFrom(b)
				if err != nil {
					return
				}
				udp.WriteTo([]byte(p.name), from)
			}
		}()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ready" && p.ready.Load() {
				w.Write([]byte("OK"))
				return
			}
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		})}
		go srv.Serve(ln)
		p.closes = append(p.closes, func() { udp.Close(); srv.Close() })
		t.Cleanup(func() {
			for _, c := range p.closes {
				c()
			}
		})
	}
	stopSidecar := func(p *pod) {
		p.reg.Process.Signal(syscall.SIGTERM)
		if err := p.reg.Wait(); err != nil {
			t.Fatalf("register of %s: %v", p.name, err)
		}
	}
	startRouter := func() *exec.Cmd {
		c := node.Command(bin, "route", "-dir", dir, "-addr", "169.254.20.10", "-interval", "100ms")
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	// answeredBy asks from the client pod which pod answers 169.254.20.10.
	answeredBy := func() string {
		var who string
		client.Do(func() error {
			c, err := net.Dial("udp4", "169.254.20.10:5353")
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(200 * time.Millisecond))
			c.Write([]byte("who"))
			b := make([]byte, 64)
			n, err := c.Read(b)
			if err == nil {
				who = string(b[:n])
			}
			return nil
		})
		return who
	}
	route := func() string { return strings.TrimSpace(node.Run("ip", "route", "show", "proto", "175")) }
	expect := func(what, who string) {
		t.Helper()
		waitFor(t, what+": answered by "+fmt.Sprintf("%q", who), func() bool { return answeredBy() == who })
	}

	a, b := newPod("a", "10.244.1"), newPod("b", "10.244.2")
	router := startRouter()

	start(a)
	expect("pod a registered, not ready", "")
	a.ready.Store(true)
	expect("pod a ready", "a")
	if r := route(); !strings.Contains(r, "169.254.20.10 via 10.244.1.5 dev vetha") {
		t.Errorf("route: %q", r)
	}

	start(b) // the rolling update's new pod
	time.Sleep(300 * time.Millisecond)
	expect("pod b registered, not ready", "a")
	b.ready.Store(true)
	expect("pod b ready", "b")

	b.ready.Store(false)
	expect("pod b unready", "a")
	b.ready.Store(true)
	expect("pod b ready again", "b")

	stopSidecar(a) // the old pod stops
	if _, err := os.Stat(filepath.Join(dir, "uid-a.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's registration after its sidecar stopped: %v", err)
	}
	expect("pod a gone", "b")

	// The router restarts: the route stays meanwhile.
	router.Process.Signal(syscall.SIGTERM)
	router.Wait()
	if r := route(); !strings.Contains(r, "via 10.244.2.5") {
		t.Errorf("route after the router stopped: %q", r)
	}
	b.ready.Store(false) // and b is unready when the new router starts
	startRouter()
	time.Sleep(500 * time.Millisecond)
	expect("a restarted router keeps the route to the unready pod", "b")

	stopSidecar(b)
	waitFor(t, "no route once no pod is registered", func() bool { return route() == "" })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
