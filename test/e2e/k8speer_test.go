package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/miekg/dns"
)

// redirectPeerProgram is a tc program for the ingress of a client pod's
// node-side veth, delivering as eBPF CNIs do (Cilium, Calico's eBPF
// dataplane): IPv4 (no options) UDP to dst port 53 gets the destination
// pod's MAC and goes straight into the pod's eth0 with bpf_redirect_peer
// (to the peer of the node-side veth hostIfindex): no forwarding in the
// node, no transmit on the veth, and so no pass through the veth's NAPI
// receive, where native XDP runs. Everything else passes (TC_ACT_OK).
func redirectPeerProgram(dst netip.Addr, mac net.HardwareAddr, hostIfindex int) (*ebpf.Program, error) {
	d := dst.As4()
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 76, asm.Word), // skb->data
		asm.LoadMem(asm.R3, asm.R1, 80, asm.Word), // skb->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 38), // Ethernet, IPv4 without options, UDP ports
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, 0x0008, "pass"), // ETH_P_IP, as loaded on little-endian
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 23, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 30, asm.Word),
		asm.JNE.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(d[:])), "pass"),
		asm.LoadMem(asm.R5, asm.R2, 36, asm.Half),
		asm.JNE.Imm(asm.R5, 0x3500, "pass"), // port 53
		asm.StoreImm(asm.R2, 0, int64(int32(binary.LittleEndian.Uint32(mac[0:4]))), asm.Word),
		asm.StoreImm(asm.R2, 4, int64(binary.LittleEndian.Uint16(mac[4:6])), asm.Half),
		asm.Mov.Imm(asm.R1, int32(hostIfindex)),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirectPeer.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("pass"),
		asm.Return(),
	}
	return ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, Instructions: insns, License: "GPL"})
}

// redirectPeer attaches redirectPeerProgram to from's node-side veth, for
// queries to p, until the link is closed (in cleanup at the latest).
func (n *k8sNode) redirectPeer(from, p *k8sPod) link.Link {
	t := n.t
	t.Helper()
	var mac net.HardwareAddr
	if err := p.ns.Do(func() error {
		ifc, err := net.InterfaceByName("eth0")
		if err == nil {
			mac = ifc.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var l link.Link
	if err := n.node.Do(func() error {
		to, err := net.InterfaceByName(p.hostIf)
		if err != nil {
			return err
		}
		at, err := net.InterfaceByName(from.hostIf)
		if err != nil {
			return err
		}
		prog, err := redirectPeerProgram(p.ip, mac, to.Index)
		if err != nil {
			return fmt.Errorf("loading the tc program: %w", err)
		}
		defer prog.Close() // the link holds it
		l, err = link.AttachTCX(link.TCXOptions{Interface: at.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// forwarded counts, in the node, the UDP/53 packets it forwarded to ip
// (a rule added at the first call).
func (n *k8sNode) forwarded(ip netip.Addr) int64 {
	n.t.Helper()
	re := regexp.MustCompile(`ip daddr ` + regexp.QuoteMeta(ip.String()) + ` udp dport 53 counter packets (\d+)`)
	out := n.node.Run("nft", "list", "chain", "ip", "k8s", "routed")
	m := re.FindStringSubmatch(out)
	if m == nil {
		n.node.Run("nft", "add rule ip k8s routed ip daddr "+ip.String()+" udp dport 53 counter")
		return 0
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// TestK8sRedirectPeer: queries delivered to a CoreDNS pod as an eBPF CNI
// delivers them (a tc program on the client pod's node-side veth,
// bpf_redirect_peer into the CoreDNS pod's eth0; the client asks the pod
// IP, as Cilium's socket LB rewrites the Service IP in the client pod).
// For each xdp_mode, which one sees them: native XDP runs in the veth's
// NAPI receive, which bpf_redirect_peer skips (the skb enters the pod's
// eth0 at the core receive path, where generic XDP runs). The kernel
// listener answers whatever XDP does not see. xdp_mode auto must end in a
// mode that sees them.
func TestK8sRedirectPeer(t *testing.T) {
	n := newK8sNode(t)
	cli := n.clients[0]
	const queries = 200
	for _, mode := range []string{"native", "generic", "auto"} {
		opts := ""
		if mode != "auto" {
			opts = "        xdp_mode " + mode
		}
		p := n.dnsPod(false, clusterDNSCorefile(opts))
		fwd0 := n.forwarded(p.ip)
		tc := n.redirectPeer(cli, p)
		ask := func(i int) bool {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("h%d.wild.example.org.", i%20), dns.TypeA)
			_, err := n.tb.queryTimeout(cli.ns, netip.AddrPortFrom(p.ip, 53), m, "udp", 2*time.Second)
			return err == nil
		}
		if mode == "auto" {
			n.autoLeavesNative(p, ask)
		}
		before := n.afxdp(p)
		answered := 0
		for i := range queries {
			if ask(i) {
				answered++
			}
		}
		after := n.afxdp(p)
		tc.Close()
		p.stop()
		seen := after.viaXDP() - before.viaXDP()
		fwd := n.forwarded(p.ip) - fwd0
		t.Logf("xdp_mode %s (attached %s): %d of %d queries answered, %.0f of them seen by XDP (redirected %.0f, answered in XDP %.0f), the rest by the kernel listener; the node forwarded %d (0: all came by bpf_redirect_peer)",
			mode, after.mode, answered, queries, seen, after.redirected-before.redirected, after.xdpAnswered-before.xdpAnswered, fwd)
		if answered != queries {
			t.Errorf("xdp_mode %s: %d of %d answered", mode, answered, queries)
		}
		if fwd != 0 {
			t.Errorf("xdp_mode %s: the node forwarded %d queries: the tc program did not deliver them", mode, fwd)
		}
		switch mode {
		case "generic":
			if seen < queries {
				t.Errorf("generic XDP saw %.0f of %d queries delivered with bpf_redirect_peer", seen, queries)
			}
		case "auto":
			if seen < queries || after.mode != "generic" {
				t.Errorf("xdp_mode auto, attached in %s mode after its watch, saw %.0f of %d queries delivered with bpf_redirect_peer; the kernel listener answered the rest",
					after.mode, seen, queries)
			}
		}
	}
}

// autoLeavesNative: xdp_mode auto attaches a veth natively, where
// bpf_redirect_peer's frames pass unseen; its watch (plugin/afxdp's
// bypass.go) sees the kernel listener answer clients routed through eth0
// while XDP sees nothing, and reattaches in generic mode. Queries at
// about 40/s until then (at most 20 s): none may be lost on the way, and
// the log must say why the mode changed.
func (n *k8sNode) autoLeavesNative(p *k8sPod, ask func(int) bool) {
	n.t.Helper()
	if m := n.afxdp(p).mode; m != "native" {
		n.t.Fatalf("xdp_mode auto attached a veth in %s mode, not native", m)
	}
	start, sent, lost := time.Now(), 0, 0
	for n.afxdp(p).mode != "generic" && time.Since(start) < 20*time.Second {
		for range 40 {
			if !ask(sent) {
				lost++
			}
			sent++
			time.Sleep(20 * time.Millisecond)
		}
	}
	took := time.Since(start)
	n.t.Logf("xdp_mode auto: %s mode after %.1f s and %d queries (%d lost)", n.afxdp(p).mode, took.Seconds(), sent, lost)
	if n.afxdp(p).mode != "generic" {
		n.t.Fatalf("xdp_mode auto stayed in native mode for %s while every query went past it to the kernel listener", took.Round(time.Second))
	}
	if lost != 0 {
		n.t.Errorf("%d of %d queries lost while xdp_mode auto left native mode", lost, sent)
	}
	if !p.dns.waitFor("reattaching in generic mode", time.Second) {
		n.t.Errorf("the log does not say why the mode changed:\n%s", p.dns.output())
	}
}
