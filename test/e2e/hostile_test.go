package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/afxdp/afxdp/internal/pkt"
)

// rawSocket is an AF_PACKET socket on the client's veth: it sends frames as
// they are, and sees every frame that arrives.
type rawSocket struct {
	fd      int
	ifindex int
}

func (tb *testbed) rawSocket() *rawSocket { return tb.packetSocket(true) }

// sendSocket is an AF_PACKET socket on the client's veth that only sends
// (protocol 0: it receives nothing).
func (tb *testbed) sendSocket() *rawSocket { return tb.packetSocket(false) }

func (tb *testbed) packetSocket(receive bool) *rawSocket {
	tb.t.Helper()
	s := &rawSocket{}
	if err := tb.cli.Do(func() error {
		nif, err := net.InterfaceByName("veth-c")
		if err != nil {
			return err
		}
		s.ifindex = nif.Index
		proto := 0
		if receive {
			proto = int(pkt.Htons(unix.ETH_P_ALL))
		}
		if s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		if !receive {
			return unix.Bind(s.fd, &unix.SockaddrLinklayer{Ifindex: s.ifindex})
		}
		unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
		// The kernel strips a VLAN tag on receive and reports it here.
		unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1)
		return unix.Bind(s.fd, &unix.SockaddrLinklayer{Protocol: pkt.Htons(unix.ETH_P_ALL), Ifindex: s.ifindex})
	}); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func (s *rawSocket) send(frame []byte) error {
	return unix.Sendto(s.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: s.ifindex, Halen: 6})
}

// inFrame is a frame that arrived, with the VLAN tag the kernel stripped.
type inFrame struct {
	data []byte
	vlan int // -1 when untagged
}

// received reads frames for up to d and returns those arriving (not sent).
func (s *rawSocket) received(d time.Duration) []inFrame {
	var out []inFrame
	buf := make([]byte, 10000)
	oob := make([]byte, 256)
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, oobn, _, from, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if err != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f := inFrame{data: append([]byte(nil), buf[:n]...), vlan: -1}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
				aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
				if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
					f.vlan = int(aux.Vlan_tci & 0xfff)
				}
			}
		}
		out = append(out, f)
	}
	return out
}

func mac(tb *testbed, ns interface{ Run(...string) string }, dev string) [6]byte {
	hw, err := net.ParseMAC(strings.TrimSpace(ns.Run("cat", "/sys/class/net/"+dev+"/address")))
	if err != nil {
		tb.t.Fatal(err)
	}
	return [6]byte(hw)
}

// TestHostileFrames sends malformed and unusual frames from a raw socket in
// the client namespace. Each must be counted where it ended (passed to the
// kernel by reason, or dropped or answered FORMERR in user space), nothing
// may crash, and the server must go on answering normal queries.
func TestHostileFrames(t *testing.T) {
	tb := newTestbed(t, 1)
	srv := tb.start(tb.srv, fmt.Sprintf(".:53 {\n afxdp veth-s\n file %s example.org\n prometheus 127.0.0.1:9153\n}\n", zone))
	tb.waitAFXDP(srv4)
	raw := tb.rawSocket()
	cmac, smac := mac(tb, tb.cli, "veth-c"), mac(tb, tb.srv, "veth-s")
	query := pkt.Query("www.example.org.", dns.TypeA)
	base := func(mut func(*pkt.Frame)) []byte {
		f := pkt.Frame{Dst: smac, Src: cmac, SrcIP: cli4, DstIP: srv4, SrcPort: 40053, DstPort: 53, Payload: query}
		if mut != nil {
			mut(&f)
		}
		return f.Build()
	}
	base6 := func(mut func(*pkt.Frame)) []byte {
		return base(func(f *pkt.Frame) {
			f.SrcIP, f.DstIP = netip.MustParseAddr("fd00::2"), srv6
			if mut != nil {
				mut(f)
			}
		})
	}
	edit := func(b []byte, off int, v ...byte) []byte { copy(b[off:], v); return b }
	dnsHeader := func(flags, qd uint16, rest ...byte) []byte {
		h := binary.BigEndian.AppendUint16([]byte{0xbe, 0xef}, flags)
		h = binary.BigEndian.AppendUint16(h, qd)
		return append(append(h, 0, 0, 0, 0, 0, 0), rest...)
	}
	garbage := []byte{0xff, 0x13, 0x37, 0x00, 0x42, 0x99, 0xaa, 0x01, 0x02}
	loop := []byte{0xc0, 0x0c, 0, 1, 0, 1} // a name that points at itself

	// want: the metric and label that must move by one.
	cases := []struct {
		name   string
		frame  []byte
		metric string
		label  string
	}{
		{"ethernet header only", base(nil)[:14], "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"ipv4 header cut", base(nil)[:14+12], "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"udp header cut", base(nil)[:14+20+4], "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"ip total length lies", edit(base(nil), 14+2, 0x05, 0xdc), "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"udp length lies", edit(base(nil), 14+20+4, 0x02, 0x00), "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"empty dns payload", base(func(f *pkt.Frame) { f.Payload = nil }), "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"ipv6 payload length lies", edit(base6(nil), 14+4, 0x05, 0xdc), "coredns_afxdp_xdp_passed_total", `reason="malformed"`},
		{"bad udp checksum", edit(base(nil), 14+20+6, 0xde, 0xad), "coredns_afxdp_dropped_total", `reason="checksum"`},
		{"bad ipv4 header checksum", edit(base(nil), 14+10, 0xde, 0xad), "coredns_afxdp_dropped_total", `reason="checksum"`},
		{"ipv4 fragment", base(func(f *pkt.Frame) { f.FragOff = 0x2000 }), "coredns_afxdp_xdp_passed_total", `reason="fragment"`},
		{"ipv6 fragment header", base6(func(f *pkt.Frame) { f.Proto = 44 }), "coredns_afxdp_xdp_passed_total", `reason="fragment"`},
		{"ipv6 hop-by-hop", edit(base6(nil), 14+6, 0), "coredns_afxdp_xdp_passed_total", `reason="ipv6_ext"`},
		{"stacked vlan tags", base(func(f *pkt.Frame) { f.VLANs = []uint16{0x88a8, 0x8100} }), "coredns_afxdp_xdp_passed_total", `reason="not_ip"`},
		{"arp", base(func(f *pkt.Frame) { f.EtherType = 0x0806 }), "coredns_afxdp_xdp_passed_total", `reason="not_ip"`},
		{"tcp/53", base(func(f *pkt.Frame) { f.Proto = 6 }), "coredns_afxdp_xdp_passed_total", `reason="not_udp"`},
		{"qdcount 0", base(func(f *pkt.Frame) { f.Payload = dnsHeader(0x0100, 0) }), "coredns_afxdp_xdp_passed_total", `reason="not_query"`},
		{"opcode update", base(func(f *pkt.Frame) { f.Payload = dnsHeader(0x2800, 1, garbage...) }), "coredns_afxdp_xdp_passed_total", `reason="not_query"`},
		{"a response", base(func(f *pkt.Frame) { f.Payload = dnsHeader(0x8180, 1, garbage...) }), "coredns_afxdp_xdp_passed_total", `reason="not_query"`},
		{"garbage question", base(func(f *pkt.Frame) { f.Payload = dnsHeader(0x0100, 1, garbage...) }), "coredns_afxdp_formerr_total", ""},
		{"compression loop", base6(func(f *pkt.Frame) { f.Payload = dnsHeader(0x0100, 1, loop...) }), "coredns_afxdp_formerr_total", ""},
		{"ipv4 options", base(func(f *pkt.Frame) { f.IPOptions = []byte{1, 1, 1, 0} }), "coredns_afxdp_tx_frames_total", ""},
		// No VLAN device on the server for the tag: no device the
		// kernel delivers it to, so it goes to the kernel (which drops it).
		{"802.1Q tag", base(func(f *pkt.Frame) { f.VLANs = []uint16{0x8100} }), "coredns_afxdp_xdp_passed_total", `reason="routed_elsewhere"`},
		{"largest frame", base(func(f *pkt.Frame) {
			f.Payload = append(append([]byte{}, query...), make([]byte, 1500-20-8-len(query))...)
		}), "coredns_afxdp_tx_frames_total", ""},
	}
	for _, c := range cases {
		before := tb.metrics(tb.srv, 9153)
		if err := raw.send(c.frame); err != nil {
			t.Errorf("%s: sending: %v", c.name, err)
			continue
		}
		if c.name == "802.1Q tag" {
			for _, f := range raw.received(300 * time.Millisecond) {
				if f.vlan == 100 {
					t.Errorf("%s: a reply tagged with VLAN 100, for a VLAN the server has no device for", c.name)
				}
			}
		}
		var d float64
		var after string
		for end := time.Now().Add(time.Second); d == 0 && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			after = tb.metrics(tb.srv, 9153)
			d = metric(after, c.metric, c.label) - metric(before, c.metric, c.label)
		}
		if d != 1 {
			t.Errorf("%s: %s{%s} moved by %v, want 1; what moved:\n%s", c.name, c.metric, c.label, d, moved(before, after, "coredns_afxdp_"))
		}
	}

	// A frame larger than the server's MTU from a client with a larger one
	// (native XDP on veth caps the peer's MTU near 3.5k): veth drops it
	// before XDP sees it.
	tb.cli.Run("ip", "link", "set", "veth-c", "mtu", "3000")
	// veth refuses it (ENOBUFS): it never reaches the server.
	if err := raw.send(base(func(f *pkt.Frame) { f.Payload = append(append([]byte{}, query...), make([]byte, 2500)...) })); err != nil && err != unix.ENOBUFS {
		t.Errorf("oversized frame: %v", err)
	}
	tb.cli.Run("ip", "link", "set", "veth-c", "mtu", "1500")

	for _, server := range []netip.Addr{srv4, srv6} {
		if r := tb.ask(server, "www.example.org.", dns.TypeA); len(r.Answer) != 1 {
			t.Errorf("after the hostile frames: %v", r)
		}
	}
	if out := srv.output(); strings.Contains(out, "panic") || strings.Contains(out, "Recovered") {
		t.Errorf("the server panicked:\n%s", out)
	}
}
