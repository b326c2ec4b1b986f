package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nodeLocalCorefile is deploy/kubernetes/node-local's catch-all block, with
// the node-local address of these tests and the testbed's upstream.
var nodeLocalCorefile = fmt.Sprintf(`.:53 {
    errors
    health :8080 {
        lameduck %v
    }
    ready :8181
    bind %s
    afxdp eth0
    cache
    forward . %s
    prometheus 127.0.0.1:9153
}
`, k8sLameduck, k8sNodeLocal, ups4)

// syncBuffer is a process's output, written and read concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background starts cmd with its output in out; it is killed in cleanup.
func background(t *testing.T, cmd *exec.Cmd, out *syncBuffer) {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not exit after SIGKILL", cmd.Path)
		}
		if t.Failed() {
			t.Logf("%s said:\n%s", strings.Join(cmd.Args, " "), out)
		}
	})
}

// nodeLocalPod is a node-local DNS pod as deploy/kubernetes/node-local runs
// it: noderoute's init container puts the node-local address on its
// loopback, its sidecar registers the pod with the node's router, and
// coredns serves the address through AF_XDP on eth0. It waits for /ready.
func (n *k8sNode) nodeLocalPod(bin, dir string) (*k8sPod, *exec.Cmd) {
	n.t.Helper()
	n.dnsPods++
	p := n.pod("kdns", netip.AddrFrom4([4]byte{198, 18, 20, byte(10 + n.dnsPods)}), 0)
	p.ns.Run(bin, "addr", "-addr", k8sNodeLocal)
	reg := p.ns.Command(bin, "register", "-dir", dir, "-heartbeat", "200ms")
	reg.Env = append(os.Environ(), "POD_UID=uid-"+p.name, "POD_NAME="+p.name, "POD_IPS="+p.ip.String())
	background(n.t, reg, &syncBuffer{})
	n.node.Run("nft", fmt.Sprintf(`add rule bridge k8sbr out oifname "%s" udp dport 53 counter`, p.hostIf))
	p.dns = n.tb.start(p.ns, nodeLocalCorefile)
	n.waitReady(p)
	return p, reg
}

// delivered is how many UDP/53 packets the node's bridge sent to p.
func (n *k8sNode) delivered(p *k8sPod) int64 {
	n.t.Helper()
	re := regexp.MustCompile(`oifname "` + regexp.QuoteMeta(p.hostIf) + `" udp dport 53 counter packets (\d+)`)
	m := re.FindStringSubmatch(n.node.Run("nft", "list", "chain", "bridge", "k8sbr", "out"))
	if m == nil {
		n.t.Fatalf("no bridge counter for %s", p.name)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// waitRoute waits until the node routes the node-local address via p.
func (n *k8sNode) waitRoute(p *k8sPod, router *syncBuffer) {
	n.t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(n.node.Run("ip", "-4", "route", "show", k8sNodeLocal+"/32"), "via "+p.ip.String()+" ") {
			return
		}
	}
	n.t.Fatalf("%s not routed via %s within 10s:\n%s", k8sNodeLocal, p.ip, router)
}

// TestK8sNodeLocal: NodeLocal DNSCache served through AF_XDP. The real
// noderoute runs in the node (route, probing each registered pod's /ready
// every 100 ms, and choosing as deploy/kubernetes/noderoute's Choose does)
// and routes the node-local address (/32) via the ready afxdp pod; the
// client pods send 200 queries a second each to that address. Three
// replacements as the DaemonSet's surge update does them: the new pod
// starts and is ready, noderoute moves the route, the old pod gets SIGTERM
// and exits after its lameduck, then its sidecar. 0 lost; every pod's afxdp
// saw every query the bridge delivered to it.
func TestK8sNodeLocal(t *testing.T) {
	n := newK8sNode(t)
	bin := filepath.Join(t.TempDir(), "noderoute")
	if out, err := exec.Command("go", "build", "-o", bin, "../../deploy/kubernetes/noderoute").CombinedOutput(); err != nil {
		t.Fatalf("building noderoute: %v\n%s", err, out)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	dir := filepath.Join(t.TempDir(), "reg")
	n.node.Run("nft", "add table bridge k8sbr; add chain bridge k8sbr out { type filter hook output priority 0; policy accept; }")
	router := &syncBuffer{}
	background(t, n.node.Command(bin, "route", "-dir", dir, "-addr", k8sNodeLocal, "-interval", "100ms"), router)

	p, reg := n.nodeLocalPod(bin, dir)
	n.waitRoute(p, router)
	s := n.stream(netip.AddrPortFrom(netip.MustParseAddr(k8sNodeLocal), 53))
	time.Sleep(time.Second)
	check := func(p *k8sPod) {
		t.Helper()
		c, d := n.afxdp(p), n.delivered(p)
		t.Logf("pod %s (%s XDP): the bridge delivered %d queries to it; its afxdp redirected %.0f and answered %.0f in XDP",
			p.name, c.mode, d, c.redirected, c.xdpAnswered)
		if d == 0 || c.viaXDP() < float64(d) {
			t.Errorf("pod %s: %d queries delivered, %.0f reached AF_XDP or were answered in XDP; passed:\n%s", p.name, d, c.viaXDP(), c.passed)
		}
	}
	for round := 1; round <= 3; round++ {
		sent0, from := s.sent.Load(), time.Now()
		next, nextReg := n.nodeLocalPod(bin, dir)
		n.waitRoute(next, router)
		time.Sleep(200 * time.Millisecond) // the old pod answers what it had
		check(p)
		p.stop()
		reg.Process.Signal(syscall.SIGTERM)
		p, reg = next, nextReg
		t.Logf("replacement %d: %d queries sent, %d lost", round, s.sent.Load()-sent0, len(s.lostBetween(from, time.Now())))
	}
	time.Sleep(500 * time.Millisecond)
	s.end()
	check(p)
	t.Logf("3 replacements: %d queries sent, %d answered, %d lost", s.sent.Load(), s.answered.Load(), s.lostCount())
	if l := s.lostCount(); l > 0 {
		t.Errorf("%d queries lost: %v", l, s.lostBetween(time.Time{}, time.Now().Add(time.Hour)))
	}
}
