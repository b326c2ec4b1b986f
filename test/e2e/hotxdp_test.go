package e2e

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// hotXDPCorefile is hotCorefile with the hot answers in the XDP program.
var hotXDPCorefile = strings.Replace(hotCorefile, "afxdp veth-s\n", "afxdp veth-s {\n        hot xdp\n    }\n", 1)

// passOnPeer attaches an XDP program that passes everything to veth-c:
// a veth's XDP_TX frames reach a peer that has one (its NAPI) at once.
func passOnPeer(t *testing.T, tb *testbed) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := tb.cli.Do(func() error {
		nif, err := net.InterfaceByName("veth-c")
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: nif.Index})
		return err
	}); err != nil {
		t.Fatalf("XDP on veth-c: %v", err)
	}
	t.Cleanup(func() { l.Close() })
}

// xdpAnswered is the program's own count of its answers, read live (the
// hot_hits_total{tier="xdp"} series moves at the refreshes).
func (tb *testbed) xdpAnswered() float64 {
	return metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_xdp_answered_total")
}

// xdpKeyed: could the XDP program answer q, given the chain's answer?
// Its limits: a name of at most 64 bytes on the wire, a reply of at most
// 512 bytes.
func xdpKeyed(q hotQuery, answer []byte) bool {
	n := len(q.name) + 1
	if q.name == "." {
		n = 1
	}
	return n <= 64 && len(answer) <= 512
}

// TestHotXDPSameAsChain: with `hot xdp`, each query shape the program can
// key is answered by the XDP program (its tier's counter moves for that
// one query), and the answer equals the chain's at the same moment, ID
// aside and TTLs within a second; other shapes are never answered there.
// CoreDNS's own request counter counts every answer, whichever tier gave
// it.
func TestHotXDPSameAsChain(t *testing.T) {
	sizes := []int{500, 512, 520, 1200}
	tb := newTestbed(t, 1)
	tb.dropKernelDNS()
	passOnPeer(t, tb)
	tb.upstream(sizesZone(t, sizes))
	c := tb.start(tb.srv, hotXDPCorefile)
	tb.waitAFXDP(srv4)
	tb.waitAFXDP(srv6)
	if !strings.Contains(c.output(), "in the XDP program") {
		t.Fatalf("hot answers not in the XDP program:\n%s", c.output())
	}
	requests := func() float64 { return metric(tb.metrics(tb.srv, 9153), "coredns_dns_requests_total") }
	time.Sleep(time.Second) // the hot answers to waitAFXDP's queries reach the series
	reqBefore := requests()
	sent := 0

	inXDP := 0
	queries := hotShapes(sizes)
	for i, q := range queries {
		server := srv4
		if q.v6 {
			server = srv6
		}
		at := netip.AddrPortFrom(server, 53)
		id := uint16(2000 + 40*i)
		exchange := func(ns interface{ Do(func() error) error }, at netip.AddrPort) ([]byte, error) {
			id++
			sent++
			return rawExchange(tb, ns, at, q.pack(id))
		}
		// Fill the cache and the hot table, then ask until the program
		// answers (its map is refreshed every 500 ms) or 1.5 s went by.
		var viaXDP []byte
		answered := false
		deadline := time.Now().Add(1500 * time.Millisecond)
		for k := 0; time.Now().Before(deadline); k++ {
			before := tb.xdpAnswered()
			a, err := exchange(tb.cli, at)
			if err != nil {
				t.Fatalf("%v: %v", q, err)
			}
			if k >= 2 && tb.xdpAnswered() == before+1 {
				viaXDP, answered = a, true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		viaChain, err := exchange(tb.srv, netip.AddrPortFrom(server, 53))
		if err != nil {
			t.Fatalf("%v: through the chain: %v", q, err)
		}
		want := q.hot && len(viaChain) <= framePayload(q.v6) && fitsUncompressed(t, q, viaChain) && xdpKeyed(q, viaChain)
		if answered != want {
			t.Errorf("%v (%d-byte answer): answered in XDP %v, want %v", q, len(viaChain), answered, want)
			continue
		}
		if !answered {
			continue
		}
		inXDP++
		if err := sameButTTL(viaXDP, viaChain); err != nil {
			t.Errorf("%v: %v", q, err)
		}
		// And from then on, every time (whatever room the frame has).
		before := tb.xdpAnswered()
		for range 5 {
			if _, err := exchange(tb.cli, at); err != nil {
				t.Fatalf("%v: %v", q, err)
			}
		}
		if n := tb.xdpAnswered() - before; n != 5 {
			t.Errorf("%v: the program answered %v of the next 5", q, n)
		}
	}
	if out := tb.kernelDrops(); !strings.Contains(out, "packets 0 ") {
		t.Errorf("the kernel saw UDP/53 on veth-s:\n%s", out)
	}
	// XDP answers reach CoreDNS's series at the next refresh and flush.
	var got float64
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got = requests() - reqBefore; got == float64(sent) {
			break
		}
	}
	if got != float64(sent) {
		t.Errorf("coredns_dns_requests_total moved by %v; %d queries were answered", got, sent)
	}
	// And the plugin's own count of XDP hits agrees with the program's.
	if x, h := tb.xdpAnswered(), metric(tb.metrics(tb.srv, 9153), "coredns_afxdp_hot_hits_total", `tier="xdp"`); x != h {
		t.Errorf("the program answered %v, hot_hits_total{tier=\"xdp\"} says %v", x, h)
	}
	t.Logf("%d of %d query shapes answered in XDP, each the same as the chain's answer; %d queries, all counted", inXDP, len(queries), sent)
}
