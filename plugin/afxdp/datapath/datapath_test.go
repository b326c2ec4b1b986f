package datapath

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/bpf"
	"github.com/afxdp/afxdp/internal/dnstest"
	"github.com/afxdp/afxdp/internal/netns"
	"github.com/afxdp/afxdp/internal/priv"
)

var (
	srv4, srv6 = netns.Srv4.Addr(), netns.Srv6.Addr()
	cli4, cli6 = netns.Cli4.Addr(), netns.Cli6.Addr()
)

// testbed is the client and server of the test network (run/testnet.sh;
// no upstream).
type testbed struct {
	cli, srv *netns.NS
}

func newNet(t testing.TB, queues int) *testbed {
	priv.Require(t)
	n := netns.NewNet(t, queues, false)
	return &testbed{cli: n.Cli, srv: n.Srv}
}

// newTestbed has two queues, and the server's kernel drops every UDP/53
// packet it sees, so any answer the client gets came through AF_XDP.
func newTestbed(t *testing.T) *testbed {
	tb := newNet(t, 2)
	tb.srv.Run("nft", "add table inet afx { chain in { type filter hook input priority 0; udp dport 53 counter drop; }; }")
	return tb
}

// echo answers every query with a TXT record naming the queue it came on
// and the client address it came from.
func echo(r *Request) {
	replyTXT(r, fmt.Sprintf("q=%d src=%s", r.Queue(), netip.AddrPortFrom(r.Header.Src, r.Header.SrcPort)))
}

// replyTXT answers r's query with one TXT record holding txt.
func replyTXT(r *Request, txt string) {
	var q dns.Msg
	if err := q.Unpack(r.Payload); err != nil || len(q.Question) != 1 {
		return
	}
	var m dns.Msg
	m.SetReply(&q)
	m.Answer = append(m.Answer, &dns.TXT{
		Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 30},
		Txt: []string{txt},
	})
	out, err := m.Pack()
	if err != nil {
		panic(err)
	}
	r.Reply(out)
}

func openServing(t *testing.T, tb *testbed, opts Options) *Interface {
	t.Helper()
	return openWith(t, tb, opts, HandlerFunc(echo))
}

// openIn opens veth-s in the server's namespace.
func openIn(tb *testbed, opts Options, h Handler) (i *Interface, err error) {
	err = tb.srv.Do(func() (err error) {
		i, err = Open("veth-s", opts, h)
		return err
	})
	return i, err
}

// openWith opens veth-s with handler h and serves both server addresses.
func openWith(t *testing.T, tb *testbed, opts Options, h Handler) *Interface {
	t.Helper()
	i, err := openIn(tb, opts, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close(time.Second) })
	for _, a := range []netip.Addr{srv4, srv6} {
		if err := i.Serve(netip.AddrPortFrom(a, 53)); err != nil {
			t.Fatal(err)
		}
	}
	return i
}

// prime waits until queries from the client (to name, which the handler
// may leave unanswered) are answered in place. The first query from a
// source goes to the kernel (which drops it here) while the filter asks
// about its route, and so does the first after every change of the
// namespace's routes: prime first waits for the links' IPv6 duplicate
// address detection, whose end adds routes. It then makes the nftables
// counter start from zero again.
func prime(t *testing.T, tb *testbed, i *Interface, name string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if tb.srv.Run("ip", "-6", "addr", "show", "tentative")+tb.cli.Run("ip", "-6", "addr", "show", "tentative") == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("IPv6 addresses still tentative")
		}
	}
	for _, server := range []netip.Addr{srv4, srv6} {
		for deadline := time.Now().Add(5 * time.Second); ; {
			before, err := i.FilterCounters()
			if err != nil {
				t.Fatal(err)
			}
			exchangeWait(t, tb, server, name, 100*time.Millisecond)
			after, err := i.FilterCounters()
			if err != nil {
				t.Fatal(err)
			}
			if after[bpf.Redirect] > before[bpf.Redirect] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("queries to %s never answered in place", server)
			}
		}
	}
	tb.srv.Run("nft", "flush", "chain", "inet", "afx", "in")
	tb.srv.Run("nft", "add", "rule", "inet", "afx", "in", "udp", "dport", "53", "counter", "drop")
}

// exchange sends one query from a fresh socket in the client namespace and
// waits up to a second for the answer.
func exchange(t *testing.T, tb *testbed, server netip.Addr, name string) (*dns.Msg, error) {
	return exchangeWait(t, tb, server, name, time.Second)
}

func exchangeWait(t *testing.T, tb *testbed, server netip.Addr, name string, wait time.Duration) (*dns.Msg, error) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeTXT)
	return dnstest.Exchange(tb.cli, netip.AddrPortFrom(server, 53), q, "udp", wait)
}

func TestAnswersThroughAFXDP(t *testing.T) {
	tb := newTestbed(t)
	i := openServing(t, tb, DefaultOptions())
	if got := i.Queues(); len(got) != 2 {
		t.Fatalf("bound queues %v, want 2", got)
	}
	t.Logf("XDP mode %s, zero-copy %v", i.XDPMode(), i.ZeroCopy())
	prime(t, tb, i, "prime.example.")
	c0, err := i.FilterCounters()
	if err != nil {
		t.Fatal(err)
	}
	s0 := i.Stats()

	const perFamily = 40
	for _, server := range []netip.Addr{srv4, srv6} {
		for n := range perFamily {
			r, err := exchange(t, tb, server, fmt.Sprintf("q%d.example.", n))
			if err != nil {
				t.Fatalf("query %d to %s: %v", n, server, err)
			}
			txt := r.Answer[0].(*dns.TXT).Txt[0]
			client := cli4.String() + ":"
			if server.Is6() {
				client = "[" + cli6.String() + "]:"
			}
			if !strings.Contains(txt, "src="+client) {
				t.Fatalf("answer %q does not name the client %s", txt, client)
			}
		}
	}

	c, err := i.FilterCounters()
	if err != nil {
		t.Fatal(err)
	}
	if c[bpf.Redirect]-c0[bpf.Redirect] != 2*perFamily {
		t.Errorf("filter redirected %d, want %d", c[bpf.Redirect]-c0[bpf.Redirect], 2*perFamily)
	}
	var rx, tx uint64
	for q, s := range i.Stats() {
		t.Logf("queue %d: rx %d tx %d drops %v xdp %+v", s.Queue, s.RxFrames, s.TxFrames, s.Drops, s.XDP)
		if s.RxFrames == s0[q].RxFrames {
			t.Errorf("queue %d received nothing: queries should spread over both queues", s.Queue)
		}
		rx, tx = rx+s.RxFrames-s0[q].RxFrames, tx+s.TxFrames-s0[q].TxFrames
	}
	if rx != 2*perFamily || tx != 2*perFamily {
		t.Errorf("received %d and transmitted %d frames, want %d each", rx, tx, 2*perFamily)
	}
	// The kernel never saw a query: XDP runs before netfilter.
	if out := tb.srv.Run("nft", "list", "chain", "inet", "afx", "in"); !strings.Contains(out, "packets 0 ") {
		t.Errorf("the kernel's UDP/53 input saw packets:\n%s", out)
	}
}

func TestQueueWithoutSocketFallsBackToKernel(t *testing.T) {
	tb := newTestbed(t)
	opts := DefaultOptions()
	opts.Queues = []int{0}
	i := openServing(t, tb, opts)
	prime(t, tb, i, "prime.example.")
	c0, err := i.FilterCounters()
	if err != nil {
		t.Fatal(err)
	}
	var answered, lost int
	for n := range 30 {
		if _, err := exchangeWait(t, tb, srv4, fmt.Sprintf("q%d.example.", n), 200*time.Millisecond); err != nil {
			lost++
		} else {
			answered++
		}
	}
	c, err := i.FilterCounters()
	if err != nil {
		t.Fatal(err)
	}
	// Queue 1's queries were passed to the kernel, whose nftables rule drops
	// them: each lost query must be one counted as no_socket.
	if answered == 0 || lost == 0 {
		t.Fatalf("answered %d lost %d: expected both queues to be used", answered, lost)
	}
	noSocket, redirect := c[bpf.PassNoSocket]-c0[bpf.PassNoSocket], c[bpf.Redirect]-c0[bpf.Redirect]
	if noSocket != uint64(lost) || redirect != uint64(answered) {
		t.Errorf("no_socket %d redirect %d, want %d and %d", noSocket, redirect, lost, answered)
	}
}

func TestCloseDetaches(t *testing.T) {
	tb := newTestbed(t)
	i, err := openIn(tb, DefaultOptions(), HandlerFunc(echo))
	if err != nil {
		t.Fatal(err)
	}
	if out := tb.srv.Run("ip", "link", "show", "veth-s"); !strings.Contains(out, "xdp") {
		t.Fatalf("no XDP program on veth-s after Open:\n%s", out)
	}
	if err := i.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	if out := tb.srv.Run("ip", "link", "show", "veth-s"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP program left on veth-s after Close:\n%s", out)
	}
}

func TestOpenErrors(t *testing.T) {
	tb := newTestbed(t)
	err := tb.srv.Do(func() error {
		_, err := Open("nosuch0", DefaultOptions(), HandlerFunc(echo))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("unknown interface: %v", err)
	}
	opts := DefaultOptions()
	opts.Queues = []int{7}
	err = tb.srv.Do(func() error {
		_, err := Open("veth-s", opts, HandlerFunc(echo))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "queue 7") {
		t.Errorf("missing queue: %v", err)
	}
	if out := tb.srv.Run("ip", "link", "show", "veth-s"); strings.Contains(out, "xdp") {
		t.Errorf("failed Open left an XDP program:\n%s", out)
	}
}

// BenchmarkRoundTrip sends one query at a time from a client socket in the
// client namespace through the datapath and back, with a handler that
// allocates nothing. allocs/op is the datapath's own per-packet allocation
// (the client uses raw syscalls on preallocated buffers): it must be 0.
func BenchmarkRoundTrip(b *testing.B) {
	tb := newNet(b, 1)
	var out [512]byte
	reflect := HandlerFunc(func(r *Request) {
		n := copy(out[:], r.Payload)
		out[2] |= 0x80 // QR
		r.Reply(out[:n])
	})
	var i *Interface
	if err := tb.srv.Do(func() (err error) {
		i, err = Open("veth-s", DefaultOptions(), reflect)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer i.Close(time.Second)
	if err := i.Serve(netip.AddrPortFrom(srv4, 53)); err != nil {
		b.Fatal(err)
	}
	var fd int
	if err := tb.cli.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		return unix.Connect(fd, &unix.SockaddrInet4{Port: 53, Addr: srv4.As4()})
	}); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	q := new(dns.Msg)
	q.SetQuestion("www.example.org.", dns.TypeA)
	query, _ := q.Pack()
	reply := make([]byte, 512)
	roundTrip := func() {
		if _, err := unix.Write(fd, query); err != nil {
			b.Fatal(err)
		}
		if n, err := unix.Read(fd, reply); err != nil || n != len(query) {
			b.Fatalf("reply: %d bytes, %v", n, err)
		}
	}
	// The first queries go to the kernel (no listener: refused) while the
	// filter asks about the client's route.
	for tries := 0; ; tries++ {
		unix.Write(fd, query)
		if n, err := unix.Read(fd, reply); err == nil && n == len(query) {
			break
		}
		if tries == 50 {
			b.Fatal("never answered in place")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 100 { // warm up: pool workers, first faults
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
}

// TestPartialChecksums: a client with TX checksum offload on (veth's
// default) sends CHECKSUM_PARTIAL packets whose UDP checksum field holds
// only the pseudo-header sum. They must be answered, not dropped as bad.
func TestPartialChecksums(t *testing.T) {
	tb := newTestbed(t)
	tb.cli.Run("ethtool", "-K", "veth-c", "tx", "on")
	i := openServing(t, tb, DefaultOptions())
	prime(t, tb, i, "prime.example.")
	for _, server := range []netip.Addr{srv4, srv6} {
		if _, err := exchange(t, tb, server, "partial.example."); err != nil {
			t.Fatalf("query to %s with a partial checksum: %v", server, err)
		}
	}
	for _, s := range i.Stats() {
		if s.Drops[DropChecksum] != 0 {
			t.Errorf("queue %d dropped %d frames for their checksum", s.Queue, s.Drops[DropChecksum])
		}
	}
}
