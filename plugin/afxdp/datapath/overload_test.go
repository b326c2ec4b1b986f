package datapath

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/bpf"
)

// spin answers after burning CPU: a handler the CPU is behind on, with no
// upstream to block on.
func spin(r *Request) {
	for end := time.Now().Add(200 * time.Microsecond); time.Now().Before(end); {
	}
	echo(r)
}

// flood sends n queries from one socket in the client namespace as fast as
// it can and counts the answers that come back within wait.
func flood(t *testing.T, tb *testbed, server netip.Addr, n int, wait time.Duration) int64 {
	t.Helper()
	var conn net.Conn
	if err := tb.cli.Do(func() (err error) {
		conn, err = net.Dial("udp", netip.AddrPortFrom(server, 53).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var answered atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		conn.SetReadDeadline(time.Now().Add(wait))
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
			answered.Add(1)
		}
	}()
	m := new(dns.Msg)
	m.SetQuestion("flood.example.", dns.TypeTXT)
	q, _ := m.Pack()
	for k := range n {
		q[0], q[1] = byte(k>>8), byte(k)
		conn.Write(q)
	}
	<-done
	return answered.Load()
}

func handoffs(i *Interface) (n uint64) {
	for _, s := range i.Stats() {
		n += s.Handoffs
	}
	return n
}

// TestCPUOverloadNoHandoff: far more queries than a CPU-bound handler
// serves, with every slot taken by queries merely waiting for the CPU: the
// queue is never handed to the kernel (whose path costs more per query),
// and it keeps answering.
func TestCPUOverloadNoHandoff(t *testing.T) {
	tb := newTestbed(t)
	opts := DefaultOptions()
	opts.MaxPending, opts.Batch, opts.MaxWorkers = 32, 16, 4
	i := openWith(t, tb, opts, HandlerFunc(spin))
	prime(t, tb, i, "prime.example.")
	answered := flood(t, tb, srv4, 4000, 3*time.Second)
	if h := handoffs(i); h != 0 {
		t.Errorf("handed to the kernel %d times while the CPU was only behind", h)
	}
	if answered < int64(opts.MaxPending) {
		t.Errorf("%d of 4000 answered, want the server to keep answering", answered)
	}
	t.Logf("%d of 4000 answered (the rest dropped in the full RX ring)", answered)
}

// TestBlockedMissesHandOff: queries blocked in the handler (a silent
// upstream) hold every slot: the queue goes to the kernel until they drain,
// then comes back.
func TestBlockedMissesHandOff(t *testing.T) {
	tb := newTestbed(t)
	opts := DefaultOptions()
	opts.MaxPending, opts.Batch, opts.MaxWorkers = 32, 16, 64
	release := make(chan struct{})
	i := openWith(t, tb, opts, HandlerFunc(func(r *Request) { <-release; echo(r) }))
	prime(t, tb, i, "prime.example.") // one query blocked: the flood's are more than the slots anyway
	flood(t, tb, srv4, 40, 300*time.Millisecond)
	// The blocked ones count only after blockedAfter; new queries then
	// find the queue handed off.
	deadline := time.Now().Add(3 * time.Second)
	for handoffs(i) == 0 && time.Now().Before(deadline) {
		flood(t, tb, srv4, 1, 50*time.Millisecond)
	}
	if handoffs(i) == 0 {
		t.Fatal("blocked queries held every slot and the queue was never handed to the kernel")
	}
	close(release)
	for time.Now().Before(deadline.Add(3*time.Second)) && flood(t, tb, srv4, 1, 100*time.Millisecond) == 0 {
	}
	if flood(t, tb, srv4, 1, time.Second) != 1 {
		t.Error("the queue did not come back from the kernel once the blocked queries drained")
	}
}

// TestOneOwner: a second claim on an interface fails before anything is
// loaded or attached, naming the owner's PID; once the owner closes it, the
// interface can be opened again.
func TestOneOwner(t *testing.T) {
	tb := newNet(t, 1)
	first, err := openIn(tb, DefaultOptions(), HandlerFunc(echo))
	if err != nil {
		t.Fatal(err)
	}
	_, err = openIn(tb, DefaultOptions(), HandlerFunc(echo))
	want := fmt.Sprintf("interface veth-s is already served by another afxdp process (pid %d)", os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second Open: %v, want %q", err, want)
	}
	if first.XDPMode() == bpf.ModeAuto {
		t.Error("the owner lost its program")
	}
	if err := first.Close(time.Second); err != nil {
		t.Fatal(err)
	}
	again, err := openIn(tb, DefaultOptions(), HandlerFunc(echo))
	if err == nil {
		err = again.Close(time.Second)
	}
	if err != nil {
		t.Fatalf("after the owner closed it: %v", err)
	}
}
