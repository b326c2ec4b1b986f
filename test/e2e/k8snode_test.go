package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

// A Kubernetes node emulated in network namespaces (issue 25): the node's
// own namespace with a bridge, br0 (the pods' gateway, as the bridge CNI's
// cni0), and "pods", each a namespace of its own joined to br0 by a veth
// whose pod side is eth0. Pods get a /32 and a default route via the
// gateway (as Calico and Cilium give them), so every packet between pods is
// routed by the node and passes its nftables NAT both ways: a bridge CNI
// with pods in one subnet needs br_netfilter for that, a kernel module these
// tests leave alone. The upstream authoritative server (the testbed's, at
// its address) is one more namespace on the bridge.
//
// The Service IP is DNATed in the node by nftables as kube-proxy's nftables
// mode does (numgen random over a vmap of one chain per endpoint, each with
// a named counter of what it DNATed), and a removed endpoint's UDP
// conntrack entries are deleted as kube-proxy deletes them (over netlink:
// k8sconntrack_test.go).
const (
	k8sGateway   = "198.18.20.1" // br0, the pods' default gateway
	k8sService   = "198.18.100.10"
	k8sNodeLocal = "198.18.9.10" // NodeLocal DNSCache's 169.254.20.10
	k8sRate      = 200           // queries a second from each client pod
	k8sLameduck  = time.Second
)

type k8sNode struct {
	t       *testing.T
	tb      *testbed // its ups is the upstream pod's namespace
	node    *netns.NS
	clients []*k8sPod
	links   int             // veths made
	dnsPods int             // CoreDNS pods made
	chains  map[string]bool // the endpoint chains made
}

type k8sPod struct {
	name   string
	ns     *netns.NS
	ip     netip.Addr
	hostIf string   // its veth's node side, a port of br0
	dns    *coredns // nil for a client
}

func newK8sNode(t *testing.T) *k8sNode {
	t.Helper()
	priv.Require(t)
	n := &k8sNode{t: t, tb: &testbed{t: t}, node: netns.New(t, "knode"), chains: map[string]bool{}}
	// rp_filter off (a namespace copies the host's IPv4 defaults): the old
	// node-local pod's answers during its lameduck leave from the address
	// now routed to another pod (noderoute's documentation says why).
	n.node.Run("sysctl", "-qw", "net.ipv4.ip_forward=1",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0")
	// A fixed MAC: a bridge's own would follow its ports', and the pods'
	// neighbour entries for the gateway with it.
	n.node.Run("ip", "link", "add", "br0", "address", "02:00:c6:12:14:01", "type", "bridge")
	n.node.Run("ip", "link", "set", "br0", "up")
	n.node.Addr("br0", k8sGateway+"/24")
	n.node.Run("nft", "add table ip k8s; "+
		"add chain ip k8s prerouting { type nat hook prerouting priority dstnat; policy accept; }; "+
		"add chain ip k8s svc; "+
		"add rule ip k8s prerouting ip daddr "+k8sService+" udp dport 53 jump svc; "+
		"add chain ip k8s routed { type filter hook forward priority filter; policy accept; }")

	ups := n.pod("kups", ups4, 0)
	ups.ns.Addr("eth0", ups6.String()+"/128") // the upstream binds both
	n.tb.ups = ups.ns
	n.tb.upstream("")
	for i := range 3 {
		n.clients = append(n.clients, n.pod("kcli", netip.AddrFrom4([4]byte{198, 18, 20, byte(101 + i)}), 0))
	}
	return n
}

// pod makes a pod's namespace and its veth into br0 (mtu both ends when
// not 0), with ip/32 and a default route via the gateway.
func (n *k8sNode) pod(role string, ip netip.Addr, mtu int) *k8sPod {
	n.t.Helper()
	n.links++
	p := &k8sPod{name: fmt.Sprintf("%s%d", role, n.links), ns: netns.New(n.t, role), ip: ip,
		hostIf: fmt.Sprintf("veth%d", n.links)}
	netns.Veth(n.t, n.node, p.hostIf, p.ns, "eth0", 1)
	if mtu > 0 {
		n.node.Run("ip", "link", "set", p.hostIf, "mtu", strconv.Itoa(mtu))
		p.ns.Run("ip", "link", "set", "eth0", "mtu", strconv.Itoa(mtu))
	}
	n.node.Run("ip", "link", "set", p.hostIf, "master", "br0")
	p.ns.Addr("eth0", ip.String()+"/32")
	p.ns.Run("ip", "route", "add", k8sGateway, "dev", "eth0", "scope", "link")
	p.ns.Run("ip", "route", "add", "default", "via", k8sGateway, "dev", "eth0")
	n.node.Run("ip", "route", "replace", ip.String()+"/32", "dev", "br0")
	return p
}

// clusterDNSCorefile is the cluster DNS pods' Corefile (deploy/kubernetes/
// cluster-dns's, with the testbed's upstream for the kubernetes plugin):
// afxdp on the pod's eth0, with opts inside its block.
func clusterDNSCorefile(opts string) string {
	return fmt.Sprintf(`.:53 {
    errors
    health :8080 {
        lameduck %v
    }
    ready :8181
    afxdp eth0 {
%s
    }
    cache
    forward . %s
    prometheus 127.0.0.1:9153
}
`, k8sLameduck, opts, ups4)
}

// dnsPod starts a CoreDNS pod: its own namespace, an MTU 9000 veth when
// jumbo (else the default 1500), coredns with corefile, and waits until its
// /ready answers 200 from the node (the kubelet's readiness probe).
func (n *k8sNode) dnsPod(jumbo bool, corefile string) *k8sPod {
	n.t.Helper()
	n.dnsPods++
	mtu := 0
	if jumbo {
		mtu = 9000
	}
	p := n.pod("kdns", netip.AddrFrom4([4]byte{198, 18, 20, byte(10 + n.dnsPods)}), mtu)
	p.dns = n.tb.start(p.ns, corefile)
	n.waitReady(p)
	return p
}

// waitReady polls the pod's /ready from the node for up to 10 s.
func (n *k8sNode) waitReady(p *k8sPod) {
	n.t.Helper()
	url := fmt.Sprintf("http://%s:8181/ready", p.ip)
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if code, _, err := nsGet(n.node, url); err == nil && code == http.StatusOK {
			return
		}
	}
	n.t.Fatalf("pod %s not ready within 10s:\n%s", p.name, p.dns.output())
}

// nsGet is an HTTP GET from inside ns.
func nsGet(ns *netns.NS, url string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = ns.Do(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func epChain(p *k8sPod) string { return "ep_" + p.name }

// setEndpoints makes pods the Service's endpoints, in one nftables
// transaction: the Service chain picks one at random per new flow.
func (n *k8sNode) setEndpoints(pods ...*k8sPod) {
	n.t.Helper()
	var b strings.Builder
	b.WriteString("flush chain ip k8s svc; ")
	var vmap []string
	for i, p := range pods {
		c := epChain(p)
		if !n.chains[c] {
			fmt.Fprintf(&b, "add counter ip k8s %s; add chain ip k8s %s; add rule ip k8s %s counter name %s dnat to %s; ", c, c, c, c, p.ip)
			n.chains[c] = true
		}
		vmap = append(vmap, fmt.Sprintf("%d : jump %s", i, c))
	}
	if len(pods) > 0 {
		fmt.Fprintf(&b, "add rule ip k8s svc numgen random mod %d vmap { %s }", len(pods), strings.Join(vmap, ", "))
	}
	n.node.Run("nft", b.String())
}

// removeEndpoint takes p out of the endpoints (keeping the others) and
// deletes its UDP conntrack entries, as kube-proxy does.
func (n *k8sNode) removeEndpoint(keep []*k8sPod, p *k8sPod) {
	n.t.Helper()
	n.setEndpoints(keep...)
	if _, err := conntrackDeleteUDP(n.node, netip.MustParseAddr(k8sService), p.ip); err != nil {
		n.t.Fatalf("deleting %s's conntrack entries: %v", p.name, err)
	}
}

// dnated is how many queries the Service DNATed to p.
func (n *k8sNode) dnated(p *k8sPod) int64 {
	n.t.Helper()
	m := packetsRE.FindStringSubmatch(n.node.Run("nft", "list", "counter", "ip", "k8s", epChain(p)))
	if m == nil {
		n.t.Fatalf("no counter for %s", p.name)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// afxdpCounts is what p's afxdp counted on eth0: frames redirected to its
// sockets, queries answered by the XDP program itself, and the XDP mode.
type afxdpCounts struct {
	redirected, xdpAnswered float64
	mode                    string
	passed                  string // the pass reasons that moved
}

func (c afxdpCounts) viaXDP() float64 { return c.redirected + c.xdpAnswered }

func (n *k8sNode) afxdp(p *k8sPod) afxdpCounts {
	n.t.Helper()
	text := n.tb.metrics(p.ns, 9153)
	c := afxdpCounts{
		redirected:  metric(text, "coredns_afxdp_xdp_redirected_total", `interface="eth0"`),
		xdpAnswered: metric(text, "coredns_afxdp_xdp_answered_total", `interface="eth0"`),
		passed:      strings.TrimSpace(moved("", text, "coredns_afxdp_xdp_passed_total")),
	}
	for _, m := range []string{"native", "generic"} {
		if metric(text, "coredns_afxdp_xdp_mode", `mode="`+m+`"`) == 1 {
			c.mode = m
		}
	}
	return c
}

// checkServedByAFXDP fails the test unless every query the Service DNATed
// to p reached p's afxdp (redirected to its sockets or answered in XDP).
// afxdp may count a little more than the DNAT counter: a client socket
// that draws the source port of an earlier query to the same endpoint
// whose conntrack entry still lives (30 s for UDP) is DNATed by that entry,
// without passing the endpoint's chain and its counter.
func (n *k8sNode) checkServedByAFXDP(p *k8sPod) afxdpCounts {
	n.t.Helper()
	c, d := n.afxdp(p), n.dnated(p)
	n.t.Logf("pod %s (%s XDP): the Service DNATed %d queries to it; its afxdp redirected %.0f and answered %.0f in XDP",
		p.name, c.mode, d, c.redirected, c.xdpAnswered)
	if d == 0 || c.viaXDP() < float64(d) {
		n.t.Errorf("pod %s: %d queries DNATed to it, %.0f reached AF_XDP or were answered in XDP; passed to the kernel:\n%s",
			p.name, d, c.viaXDP(), c.passed)
	}
	return c
}

// stop stops p as the kubelet does: SIGTERM, and coredns's lameduck.
func (p *k8sPod) stop() {
	p.dns.signal(syscall.SIGTERM)
	if code := p.dns.waitExit(k8sLameduck + 10*time.Second); code != 0 {
		p.dns.t.Errorf("pod %s exited with %d:\n%s", p.name, code, p.dns.output())
	}
}

// k8sStream is a steady stream of queries from every client pod: each
// query from a new socket (a new source port, the kernel's pick: the same
// one comes back now and then), none retried, lost without an answer
// within 2 s.
type k8sStream struct {
	sent, answered atomic.Int64
	mu             sync.Mutex
	lost           []k8sLost
	stop           chan struct{}
	once           sync.Once
	wg             sync.WaitGroup
}

type k8sLost struct {
	client string
	sent   time.Time
	err    error
}

func (l k8sLost) String() string {
	return fmt.Sprintf("%s, sent %s: %v", l.client, l.sent.Format("15:04:05.000000"), l.err)
}

func (n *k8sNode) stream(target netip.AddrPort) *k8sStream {
	s := &k8sStream{stop: make(chan struct{})}
	for ci, c := range n.clients {
		s.wg.Go(func() {
			tick := time.NewTicker(time.Second / k8sRate)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-s.stop:
					return
				case <-tick.C:
				}
				name := fmt.Sprintf("h%d.wild.example.org.", (ci*17+i)%50)
				s.wg.Go(func() { s.one(c, target, name) })
			}
		})
	}
	n.t.Cleanup(s.end) // bounded: the last queries wait 2 s at most
	return s
}

func (s *k8sStream) one(c *k8sPod, target netip.AddrPort, name string) {
	var conn net.Conn
	err := c.ns.Do(func() (err error) {
		conn, err = net.Dial("udp", target.String())
		return err
	})
	sent := time.Now()
	s.sent.Add(1)
	if err == nil {
		dc := &dns.Conn{Conn: conn}
		defer dc.Close()
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		dc.SetDeadline(time.Now().Add(2 * time.Second))
		sent = time.Now()
		err = dc.WriteMsg(m)
		var r *dns.Msg
		for err == nil {
			if r, err = dc.ReadMsg(); err == nil && r.Id == m.Id {
				break
			}
		}
		if err == nil && r.Rcode != dns.RcodeSuccess {
			err = fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
		}
	}
	if err != nil {
		s.mu.Lock()
		s.lost = append(s.lost, k8sLost{client: c.name, sent: sent, err: err})
		s.mu.Unlock()
		return
	}
	s.answered.Add(1)
}

// end stops the stream and waits for its last answers.
func (s *k8sStream) end() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// lostBetween lists the lost queries sent in [from, to).
func (s *k8sStream) lostBetween(from, to time.Time) []k8sLost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []k8sLost
	for _, l := range s.lost {
		if !l.sent.Before(from) && l.sent.Before(to) {
			out = append(out, l)
		}
	}
	return out
}

func (s *k8sStream) lostCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lost)
}

// TestK8sRollingUpdate: the cluster DNS Deployment's rolling update
// (maxSurge 1, maxUnavailable 0) under a steady stream of 200 queries a
// second from each of three client pods to the Service IP. Two replicas,
// the second on an MTU 9000 veth (both ends); a rollout replaces each in
// turn: the new pod starts and waits for /ready, joins the endpoints; the
// old one leaves them (its UDP conntrack entries deleted once its answers
// to what it already had are out), gets SIGTERM and exits after its
// lameduck. Five rollouts, 0 lost; every pod's afxdp counters hold every
// query DNATed to it. At MTU 9000 xdp_mode auto cannot attach natively
// (the veth's limit is about 3.5 KB without frags) and falls back to
// generic mode.
func TestK8sRollingUpdate(t *testing.T) {
	n := newK8sNode(t)
	corefile := clusterDNSCorefile("")
	pods := []*k8sPod{n.dnsPod(false, corefile), n.dnsPod(true, corefile)}
	checkJumboMode(t, n, pods[1])
	n.setEndpoints(pods...)
	s := n.stream(netip.AddrPortFrom(netip.MustParseAddr(k8sService), 53))
	time.Sleep(time.Second)
	start := time.Now()
	for round := 1; round <= 5; round++ {
		sent0 := s.sent.Load()
		from := time.Now()
		for slot := range pods {
			old := pods[slot]
			next := n.dnsPod(slot == 1, corefile)
			n.setEndpoints(append(slices.Clone(pods), next)...) // surge: three endpoints
			time.Sleep(300 * time.Millisecond)                  // the new pod takes its share
			pods[slot] = next
			n.setEndpoints(pods...) // the old one leaves
			// The old pod answers what it already had meanwhile, then its
			// entries go: deleted at once, an entry still waiting for its
			// answer would let the answer through un-NATed (lost).
			time.Sleep(200 * time.Millisecond)
			if _, err := conntrackDeleteUDP(n.node, netip.MustParseAddr(k8sService), old.ip); err != nil {
				t.Fatal(err)
			}
			n.checkServedByAFXDP(old)
			old.stop()
		}
		lost := s.lostBetween(from, time.Now())
		t.Logf("rollout %d: %d queries sent, %d lost", round, s.sent.Load()-sent0, len(lost))
	}
	time.Sleep(500 * time.Millisecond)
	for _, p := range pods {
		n.checkServedByAFXDP(p)
	}
	s.end()
	t.Logf("5 rollouts in %v: %d queries sent, %d answered, %d lost", time.Since(start).Round(time.Millisecond),
		s.sent.Load(), s.answered.Load(), s.lostCount())
	if l := s.lostCount(); l > 0 {
		t.Errorf("%d queries lost: %v", l, s.lostBetween(time.Time{}, time.Now().Add(time.Hour)))
	}
}

// checkJumboMode: what xdp_mode auto does on a pod whose veth has MTU 9000
// at both ends. The kernel refuses native XDP there (veth_xdp_set: "Peer
// MTU is too large to set XDP", ERANGE; the program has no frags support)
// and afxdp falls back to generic mode, which its start-up line and
// coredns_afxdp_xdp_mode say, and a line after it says why.
func checkJumboMode(t *testing.T, n *k8sNode, p *k8sPod) {
	t.Helper()
	c := n.afxdp(p)
	line := ""
	for _, l := range strings.Split(p.dns.output(), "\n") {
		if strings.Contains(l, "interface eth0:") && strings.Contains(l, "mode") {
			line = l
			break
		}
	}
	t.Logf("MTU 9000 pod: coredns_afxdp_xdp_mode says %q; start-up line: %s", c.mode, line)
	if c.mode != "generic" || !strings.Contains(line, "XDP generic mode (xdp_mode auto)") {
		t.Errorf("MTU 9000: want xdp_mode auto to fall back to generic mode, got %q:\n%s", c.mode, p.dns.output())
	}
	if !strings.Contains(p.dns.output(), "generic mode, as native was refused: native mode: the MTU is too large") {
		t.Errorf("MTU 9000: the log does not say why native mode was not used:\n%s", p.dns.output())
	}
}

// TestK8sPodKilled: a CoreDNS pod is SIGKILLed under the steady stream and
// taken out of the endpoints 500 ms later (its conntrack entries deleted):
// no query sent after the removal is lost, and no more are lost than the
// Service DNATed to the killed pod between the kill and the removal (its
// endpoint's nftables counter).
func TestK8sPodKilled(t *testing.T) {
	n := newK8sNode(t)
	corefile := clusterDNSCorefile("")
	a, b := n.dnsPod(false, corefile), n.dnsPod(true, corefile)
	n.setEndpoints(a, b)
	s := n.stream(netip.AddrPortFrom(netip.MustParseAddr(k8sService), 53))
	time.Sleep(time.Second)
	before := n.dnated(b)
	if err := syscall.Kill(-b.dns.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	time.Sleep(500 * time.Millisecond)
	n.removeEndpoint([]*k8sPod{a}, b)
	removed := time.Now()
	inBetween := n.dnated(b) - before
	time.Sleep(time.Second)
	s.end()
	after := s.lostBetween(removed, time.Now().Add(time.Hour))
	t.Logf("killed pod: removed from the endpoints %v after the kill; %d queries DNATed to it in between (nft counter, from just before the kill); %d sent, %d lost (%d of them sent after the removal)",
		removed.Sub(killed).Round(time.Millisecond), inBetween, s.sent.Load(), s.lostCount(), len(after))
	if len(after) > 0 {
		t.Errorf("%d queries sent after the endpoint was removed (%s) were lost: %v", len(after), removed.Format("15:04:05.000000"), after)
	}
	if l := s.lostCount(); int64(l) > inBetween {
		t.Errorf("%d lost, more than the %d DNATed to the killed pod", l, inBetween)
	}
	n.checkServedByAFXDP(a)
}
