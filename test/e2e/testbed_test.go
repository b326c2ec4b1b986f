// Package e2e runs the project's coredns binary in network namespaces: a
// client, the afxdp server and an authoritative upstream (the same binary
// with the file plugin), joined by veth pairs.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/dnstest"
	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

var (
	corednsBin string // the coredns built for this run
	zone       string // the example zone
)

// The test network's addresses (run/testnet.sh).
var (
	srv4, srv6 = netns.Srv4.Addr(), netns.Srv6.Addr()
	cli4       = netns.Cli4.Addr()
	ups4, ups6 = netns.Ups4.Addr(), netns.Ups6.Addr()
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "afxdp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Chmod(dir, 0o755) // runnable by an unprivileged user too
	defer os.RemoveAll(dir)
	corednsBin = filepath.Join(dir, "coredns")
	if out, err := exec.Command("go", "build", "-o", corednsBin, "../../build").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building coredns: %v\n%s", err, out)
		return 1
	}
	// A copy beside the binary: tests run coredns as nobody too, who
	// cannot read a checkout under /root (0700 on Debian).
	zone = filepath.Join(dir, "example.org.zone")
	b, err := os.ReadFile("../../run/example.org.zone")
	if err == nil {
		err = os.WriteFile(zone, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "copying the zone:", err)
		return 1
	}
	return m.Run()
}

// testbed is the test network of run/testnet.sh with its upstream: cli
// (veth-c) — srv (veth-s; veth-su) — ups (veth-u), in namespaces of its own.
type testbed struct {
	t             *testing.T
	cli, srv, ups *netns.NS
}

func newTestbed(t *testing.T, queues int) *testbed {
	priv.Require(t)
	n := netns.NewNet(t, queues, true)
	return &testbed{t: t, cli: n.Cli, srv: n.Srv, ups: n.Ups}
}

// dropKernelDNS makes the server's kernel drop UDP/53 that arrives on
// veth-s: XDP runs before netfilter, so whatever the client still gets
// answered came through AF_XDP. Loopback stays open for kernel-path
// comparisons.
func (tb *testbed) dropKernelDNS() {
	tb.srv.Run("nft", `add table inet afx { chain in { type filter hook input priority 0; iifname "veth-s" udp dport 53 counter drop; }; }`)
}

// kernelDrops is how many UDP/53 packets the kernel saw on veth-s.
func (tb *testbed) kernelDrops() string {
	return tb.srv.Run("nft", "list", "chain", "inet", "afx", "in")
}

// upstream runs the authoritative example.org server in ups.
func (tb *testbed) upstream(extra string) *coredns {
	return tb.start(tb.ups, fmt.Sprintf(`example.org:53 {
    bind %s %s
    file %s
    log
    prometheus 127.0.0.1:9153
}
%s`, ups4, ups6, zone, extra))
}

type coredns struct {
	t      *testing.T
	ns     *netns.NS
	cmd    *exec.Cmd
	file   string
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
}

// start runs coredns with corefile in ns and waits until it has printed its
// banner. It is killed in cleanup.
func (tb *testbed) start(ns *netns.NS, corefile string) *coredns {
	tb.t.Helper()
	c := tb.launch(ns, corefile)
	if !c.waitFor("CoreDNS-", 10*time.Second) {
		tb.t.Fatalf("coredns in %s did not start:\n%s", ns.Name, c.output())
	}
	return c
}

// launch starts coredns without waiting for it.
func (tb *testbed) launch(ns *netns.NS, corefile string) *coredns {
	return tb.launchAs(ns, corefile, "")
}

// launchAs starts coredns as another user (with no capabilities), or as
// root when user is "".
func (tb *testbed) launchAs(ns *netns.NS, corefile, user string) *coredns {
	return tb.launchCaps(ns, corefile, user, nil)
}

// launchCaps starts coredns as user with exactly the capabilities caps
// (names as setpriv takes them, e.g. "net_admin"), or as root when user is "".
func (tb *testbed) launchCaps(ns *netns.NS, corefile, user string, caps []string) *coredns {
	tb.t.Helper()
	return tb.launchWith(ns, corefile, launchOpts{user: user, caps: caps})
}

// launchOpts: who runs coredns, which binary, and what more it is told.
type launchOpts struct {
	user string
	caps []string
	bin  string   // corednsBin if empty
	pre  []string // before -conf FILE (bin wraps coredns)
	args []string // after -conf FILE
	env  []string // added to the environment
}

func (tb *testbed) launchWith(ns *netns.NS, corefile string, o launchOpts) *coredns {
	tb.t.Helper()
	user, caps := o.user, o.caps
	dir, err := os.MkdirTemp("", "afxdp-corefile-")
	if err != nil {
		tb.t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // readable by an unprivileged user too
	tb.t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(file, []byte(corefile), 0o644); err != nil {
		tb.t.Fatal(err)
	}
	c := &coredns{t: tb.t, ns: ns, file: file, exited: make(chan struct{})}
	bin := o.bin
	if bin == "" {
		bin = corednsBin
	}
	args := append(append(append([]string{bin}, o.pre...), "-conf", file), o.args...)
	if user != "" {
		priv := []string{"setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups", "--inh-caps=-all"}
		if len(caps) > 0 {
			// Ambient capabilities survive the exec of a non-root user's
			// program; they must be inheritable first.
			priv = []string{"setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups",
				"--inh-caps=-all," + capList(caps), "--ambient-caps=-all," + capList(caps)}
		}
		args = append(priv, args...)
	}
	c.cmd = ns.Command(args...)
	// Its own process group: a SIGUSR2 upgrade's child (or a pod's
	// coredns under unshare) is killed with it at the end.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if len(o.env) > 0 {
		c.cmd.Env = append(os.Environ(), o.env...)
	}
	pr, pw := io.Pipe()
	c.cmd.Stdout, c.cmd.Stderr = pw, pw
	if err := c.cmd.Start(); err != nil {
		tb.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	go func() {
		c.cmd.Wait()
		pw.Close()
		close(c.exited)
	}()
	tb.t.Cleanup(func() {
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		// Bounded: a cleanup that hung would leave the test to be killed,
		// and its namespaces with it.
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			tb.t.Errorf("coredns in %s (pid %d) did not exit after SIGKILL", ns.Name, c.cmd.Process.Pid)
		}
		if tb.t.Failed() {
			tb.t.Logf("coredns in %s said:\n%s", ns.Name, c.output())
		}
	})
	return c
}

// capList is caps as setpriv's --inh-caps and --ambient-caps take them.
func capList(caps []string) string {
	var b strings.Builder
	for i, c := range caps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("+" + c)
	}
	return b.String()
}

func (c *coredns) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *coredns) waitFor(s string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(c.output(), s) {
			return true
		}
		select {
		case <-c.exited:
			return strings.Contains(c.output(), s)
		default:
		}
	}
	return false
}

func (c *coredns) signal(s syscall.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(s); err != nil {
		c.t.Fatal(err)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (c *coredns) waitExit(d time.Duration) int {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		c.t.Fatalf("coredns did not exit within %v:\n%s", d, c.output())
		return -1
	}
}

// query sends m from the client namespace over UDP (or TCP) and returns the
// answer.
func (tb *testbed) query(ns *netns.NS, server netip.Addr, port uint16, m *dns.Msg, network string) (*dns.Msg, error) {
	return tb.queryTimeout(ns, netip.AddrPortFrom(server, port), m, network, 2*time.Second)
}

func (tb *testbed) queryTimeout(ns *netns.NS, addrPort netip.AddrPort, m *dns.Msg, network string, d time.Duration) (*dns.Msg, error) {
	return dnstest.Exchange(ns, addrPort, m, network, d)
}

// ask queries name/type from the client over UDP and fails the test on error.
func (tb *testbed) ask(server netip.Addr, name string, qtype uint16) *dns.Msg {
	tb.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, err := tb.query(tb.cli, server, 53, m, "udp")
	if err != nil {
		tb.t.Fatalf("%s %s @%s: %v", name, dns.TypeToString[qtype], server, err)
	}
	return r
}

// metrics scrapes a Prometheus endpoint on 127.0.0.1:port inside ns.
func (tb *testbed) metrics(ns *netns.NS, port int) string {
	tb.t.Helper()
	text, err := scrape(ns, port)
	if err != nil {
		tb.t.Fatal(err)
	}
	return text
}

func scrape(ns *netns.NS, port int) (string, error) {
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	}); err != nil {
		return "", err
	}
	used := false
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, fmt.Errorf("one connection only")
			}
			used = true
			return conn, nil
		},
		DisableKeepAlives: true,
	}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metric sums the samples of name whose labels contain every label given
// (`key="value"` strings).
func metric(text, name string, labels ...string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
		sum += v
	}
	return sum
}

// xdpAttached reports whether veth-s carries an XDP program.
func (tb *testbed) xdpAttached() bool {
	return strings.Contains(tb.srv.Run("ip", "link", "show", "veth-s"), " xdp")
}

func addrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// newResolver is the testbed most tests use: the server's kernel drops
// UDP/53 on veth-s, the upstream runs (with upstreamExtra's server blocks),
// and the server runs serveCorefile and answers through AF_XDP (which
// caches www.example.org A).
func newResolver(t *testing.T, queues int, upstreamExtra string) (*testbed, *coredns) {
	t.Helper()
	tb := newTestbed(t, queues)
	tb.dropKernelDNS()
	ups := tb.upstream(upstreamExtra)
	tb.start(tb.srv, serveCorefile)
	tb.waitAFXDP(srv4)
	return tb, ups
}

// slowQueries sends n queries for <prefix><i>.slow.example at once, each
// waiting up to d, and returns a function that waits for them all and lists
// the ones that got no answer (or, with needSuccess, no NOERROR).
func (tb *testbed) slowQueries(n int, prefix string, d time.Duration, needSuccess bool) (wait func() []error) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("%s%d.slow.example.", prefix, i), dns.TypeA)
			r, err := tb.queryTimeout(tb.cli, addrPort(srv4, 53), m, "udp", d)
			if err == nil && needSuccess && r.Rcode != dns.RcodeSuccess {
				err = fmt.Errorf("%s: %s", m.Question[0].Name, dns.RcodeToString[r.Rcode])
			}
			if err != nil {
				errs <- err
			}
		})
	}
	return func() []error {
		wg.Wait()
		close(errs)
		var out []error
		for err := range errs {
			out = append(out, err)
		}
		return out
	}
}

// serveCorefile is a resolver-style server block: afxdp in front of cache
// and forward to the upstream.
var serveCorefile = fmt.Sprintf(`.:53 {
    afxdp veth-s
    cache
    forward . %s
    log
    prometheus 127.0.0.1:9153
}
`, ups4)

// waitAFXDP polls until a query over AF_XDP is answered: the server reaches
// afxdp a moment after CoreDNS prints its banner, and the kernel listener
// answers (or, in most tests, drops) the queries until then. From then on
// the XDP program answers every client in place whose reply route leaves
// by veth-s and whose next hop the server's kernel knows (the client's ARP
// or neighbour solicitation for the server taught it): there is no state
// per source to prime.
func (tb *testbed) waitAFXDP(server netip.Addr) {
	tb.t.Helper()
	if !tb.answers(server, 5*time.Second) {
		tb.t.Fatalf("no answer from %s through AF_XDP within 5s", server)
	}
	tb.resetKernelDrops()
}

// resetKernelDrops makes the count of UDP/53 the kernel saw on veth-s (if
// it drops it) start again, after the queries that primed afxdp.
func (tb *testbed) resetKernelDrops() {
	if tb.srv.Command("nft", "list", "chain", "inet", "afx", "in").Run() != nil {
		return
	}
	tb.srv.Run("nft", "flush", "chain", "inet", "afx", "in")
	tb.srv.Run("nft", `add rule inet afx in iifname "veth-s" udp dport 53 counter drop`)
}

// answers polls server from the client until it answers, for up to d.
func (tb *testbed) answers(server netip.Addr, d time.Duration) bool {
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := tb.queryTimeout(tb.cli, addrPort(server, 53), m, "udp", 500*time.Millisecond); err == nil {
			return true
		}
	}
	return false
}

// redirected reads the XDP program's redirect counter from the server.
func (tb *testbed) redirected() float64 {
	return metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_xdp_redirected_total")
}

// load sends queries from the client at a steady pace for d: `senders`
// sockets, each sending one query per `every` and waiting (up to 2 s, no
// retry) for its answer. A query without an answer is lost.
type load struct {
	sent, answered atomic.Int64
	firstErr       atomic.Value
	wait           func()
}

func (tb *testbed) steadyLoad(d time.Duration, senders int, every time.Duration) *load {
	tb.t.Helper()
	l := &load{}
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for s := range senders {
		var conn net.Conn
		if err := tb.cli.Do(func() (err error) {
			conn, err = net.Dial("udp", fmt.Sprintf("%s:53", srv4))
			return err
		}); err != nil {
			tb.t.Fatal(err)
		}
		wg.Go(func() {
			dc := &dns.Conn{Conn: conn}
			defer dc.Close()
			m := new(dns.Msg)
			for n := 0; time.Now().Before(stop); n++ {
				next := time.Now().Add(every)
				m.SetQuestion(fmt.Sprintf("h%d.example.org.", (s*7919+n)%1000), dns.TypeA)
				l.sent.Add(1)
				dc.SetDeadline(time.Now().Add(2 * time.Second))
				err := dc.WriteMsg(m)
				var r *dns.Msg
				for err == nil {
					if r, err = dc.ReadMsg(); err == nil && r.Id == m.Id {
						break
					}
				}
				if err == nil && r.Rcode == dns.RcodeSuccess {
					l.answered.Add(1)
				} else if err != nil {
					l.firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", m.Question[0].Name, err))
				}
				time.Sleep(time.Until(next))
			}
		})
	}
	tb.t.Cleanup(wg.Wait)
	l.wait = wg.Wait
	return l
}

func (l *load) lost() int64 { return l.sent.Load() - l.answered.Load() }

// moved lists the samples with the prefix that differ between two scrapes.
func moved(before, after, prefix string) string {
	old := map[string]string{}
	for _, l := range strings.Split(before, "\n") {
		if i := strings.LastIndexByte(l, ' '); strings.HasPrefix(l, prefix) && i > 0 {
			old[l[:i]] = l[i+1:]
		}
	}
	var b strings.Builder
	for _, l := range strings.Split(after, "\n") {
		if i := strings.LastIndexByte(l, ' '); strings.HasPrefix(l, prefix) && i > 0 && old[l[:i]] != l[i+1:] {
			fmt.Fprintf(&b, "  %s: %s -> %s\n", l[:i], old[l[:i]], l[i+1:])
		}
	}
	return b.String()
}
