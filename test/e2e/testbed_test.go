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
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

var (
	corednsBin string // the coredns built for this run
	zone       string // the example zone
)

var (
	srv4 = netip.MustParseAddr("198.18.0.1")
	srv6 = netip.MustParseAddr("fd00::1")
	cli4 = netip.MustParseAddr("198.18.0.2")
	ups4 = netip.MustParseAddr("198.18.1.2")
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
	if zone, err = filepath.Abs("../../run/example.org.zone"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testbed: cli (198.18.0.2, fd00::2) — veth-c/veth-s — srv (198.18.0.1,
// fd00::1; 198.18.1.1, fd00:1::1) — veth-su/veth-u — ups (198.18.1.2,
// fd00:1::2).
type testbed struct {
	t             *testing.T
	cli, srv, ups *netns.NS
}

func newTestbed(t *testing.T, queues int) *testbed {
	priv.Require(t)
	tb := &testbed{t: t, cli: netns.New(t, "cli"), srv: netns.New(t, "srv"), ups: netns.New(t, "ups")}
	netns.Veth(t, tb.cli, "veth-c", tb.srv, "veth-s", queues)
	netns.Veth(t, tb.srv, "veth-su", tb.ups, "veth-u", 1)
	tb.cli.Addr("veth-c", "198.18.0.2/24", "fd00::2/64")
	tb.srv.Addr("veth-s", "198.18.0.1/24", "fd00::1/64")
	tb.srv.Addr("veth-su", "198.18.1.1/24", "fd00:1::1/64")
	tb.ups.Addr("veth-u", "198.18.1.2/24", "fd00:1::2/64")
	return tb
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
    bind 198.18.1.2 fd00:1::2
    file %s
    log
    prometheus 127.0.0.1:9153
}
%s`, zone, extra))
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
	args := []string{corednsBin, "-conf", file}
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
		c.cmd.Process.Kill()
		<-c.exited
		if tb.t.Failed() {
			tb.t.Logf("coredns in %s said:\n%s", ns.Name, c.output())
		}
	})
	return c
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
	var conn net.Conn
	addr := addrPort.String()
	if err := ns.Do(func() (err error) {
		conn, err = net.DialTimeout(network, addr, time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	dc := &dns.Conn{Conn: conn, UDPSize: 65535}
	defer dc.Close()
	dc.SetDeadline(time.Now().Add(d))
	if err := dc.WriteMsg(m); err != nil {
		return nil, err
	}
	r, err := dc.ReadMsg()
	if err != nil {
		return nil, err
	}
	if r.Id != m.Id {
		return nil, fmt.Errorf("answer id %d for query %d", r.Id, m.Id)
	}
	return r, nil
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
	var conn net.Conn
	if err := ns.Do(func() (err error) {
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	}); err != nil {
		tb.t.Fatal(err)
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
		tb.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.t.Fatal(err)
	}
	return string(b)
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
