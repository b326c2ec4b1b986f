package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/internal/priv"
)

const xdpPass = 2

var (
	server4 = netip.MustParseAddr("198.18.0.1")
	client4 = netip.MustParseAddr("198.18.0.2")
	server6 = netip.MustParseAddr("fd00::1")
	client6 = netip.MustParseAddr("fd00::2")
)

func query4(mut func(*pkt.Frame)) []byte {
	f := pkt.Frame{SrcIP: client4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: pkt.Query("example.org.", 1)}
	if mut != nil {
		mut(&f)
	}
	return f.Build()
}

func query6(mut func(*pkt.Frame)) []byte {
	return query4(func(f *pkt.Frame) {
		f.SrcIP, f.DstIP = client6, server6
		if mut != nil {
			mut(f)
		}
	})
}

func loadServing(t *testing.T) *Filter {
	t.Helper()
	priv.Require(t)
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	for _, a := range []netip.Addr{server4, server6} {
		if err := f.Serve(a, 53); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// run test-runs the program once on frame and returns its verdict and the
// one counter that moved; it fails if none or several moved.
func run(t *testing.T, f *Filter, frame []byte) (uint32, Counter) {
	t.Helper()
	before, err := f.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := f.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	after, err := f.Counters()
	if err != nil {
		t.Fatal(err)
	}
	moved := Counter(-1)
	for i := range after {
		switch d := after[i] - before[i]; {
		case d == 0:
		case d == 1 && moved < 0:
			moved = Counter(i)
		default:
			t.Fatalf("counter %s moved by %d (already moved: %s)", Counter(i), d, moved)
		}
	}
	if moved < 0 {
		t.Fatal("no counter moved")
	}
	return ret, moved
}

func TestFilterVerdicts(t *testing.T) {
	f := loadServing(t)
	cut := func(b []byte, n int) []byte { return b[:n] }
	dnsFlags := func(flags uint16, qd uint16) func(*pkt.Frame) {
		return func(p *pkt.Frame) {
			q := pkt.Query("example.org.", 1)
			binary.BigEndian.PutUint16(q[2:], flags)
			binary.BigEndian.PutUint16(q[4:], qd)
			p.Payload = q
		}
	}
	// With no socket bound, a frame that would be redirected is passed and
	// counted as no_socket: that proves it got through every check.
	cases := []struct {
		name  string
		frame []byte
		want  Counter
	}{
		{"ipv4 query", query4(nil), PassNoSocket},
		{"ipv6 query", query6(nil), PassNoSocket},
		{"802.1Q ipv4", query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), PassNoSocket},
		{"802.1ad ipv6", query6(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8} }), PassNoSocket},
		{"ipv4 options", query4(func(p *pkt.Frame) { p.IPOptions = []byte{1, 1, 1, 0} }), PassNoSocket},
		{"ethernet padding", query4(func(p *pkt.Frame) { p.Padding = 20 }), PassNoSocket},
		{"stacked vlan tags", query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x88a8, 0x8100} }), PassNotIP},
		{"arp", query4(func(p *pkt.Frame) { p.EtherType = 0x0806 }), PassNotIP},
		{"other port", query4(func(p *pkt.Frame) { p.DstPort = 5353 }), PassPort},
		{"other port ipv6", query6(func(p *pkt.Frame) { p.DstPort = 853 }), PassPort},
		{"other address", query4(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("198.18.0.9") }), PassAddr},
		{"other address ipv6", query6(func(p *pkt.Frame) { p.DstIP = netip.MustParseAddr("fd00::9") }), PassAddr},
		{"tcp/53", query4(func(p *pkt.Frame) { p.Proto = 6 }), PassNotUDP},
		{"icmpv6", query6(func(p *pkt.Frame) { p.Proto = 58 }), PassNotUDP},
		{"ipv4 MF fragment", query4(func(p *pkt.Frame) { p.FragOff = 0x2000 }), PassFragment},
		{"ipv4 offset fragment", query4(func(p *pkt.Frame) { p.FragOff = 0x0010 }), PassFragment},
		{"ipv6 fragment header", query6(func(p *pkt.Frame) { p.Proto = 44 }), PassFragment},
		{"ipv6 hop-by-hop", edit(query6(nil), 14+6, 0), PassIPExt},
		{"ipv6 destination options", query6(func(p *pkt.Frame) { p.Proto = 60 }), PassIPExt},
		{"response", query4(dnsFlags(0x8180, 1)), PassNotQuery},
		{"opcode update", query4(dnsFlags(0x2800, 1)), PassNotQuery},
		{"opcode notify", query6(dnsFlags(0x2000, 1)), PassNotQuery},
		{"qdcount 0", query4(dnsFlags(0x0100, 0)), PassNotQuery},
		{"qdcount 2", query4(dnsFlags(0x0100, 2)), PassNotQuery},
		{"dns header cut", query4(func(p *pkt.Frame) { p.Payload = p.Payload[:11] }), PassMalformed},
		{"empty payload", query4(func(p *pkt.Frame) { p.Payload = nil }), PassMalformed},
		{"ipv4 header cut", cut(query4(nil), 14+12), PassMalformed},
		{"udp header cut", cut(query4(nil), 14+20+4), PassMalformed},
		{"ipv6 header cut", cut(query6(nil), 14+30), PassMalformed},
		{"ipv4 total length beyond frame", cut(query4(nil), 14+20+8+20), PassMalformed},
		{"ipv6 payload length beyond frame", cut(query6(nil), 14+40+8+20), PassMalformed},
		{"vlan tag cut", cut(query4(func(p *pkt.Frame) { p.VLANs = []uint16{0x8100} }), 16), PassMalformed},
		{"ipv4 ihl 4", edit(query4(nil), 14, 0x44), PassMalformed},
		{"ipv4 version 6 in ipv4 ethertype", edit(query4(nil), 14, 0x65), PassMalformed},
		{"udp length 7", edit16(query4(nil), 14+20+4, 7), PassMalformed},
		{"udp length beyond ip", edit16(query4(nil), 14+20+4, 500), PassMalformed},
		{"ipv4 total length below header", edit16(query4(nil), 14+2, 19), PassMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ret, got := run(t, f, c.frame)
			if ret != xdpPass {
				t.Errorf("verdict %d, want XDP_PASS", ret)
			}
			if got != c.want {
				t.Errorf("counted as %s, want %s", got, c.want)
			}
		})
	}
}

func TestFilterUnserve(t *testing.T) {
	f := loadServing(t)
	if err := f.Serve(server4, 5353); err != nil {
		t.Fatal(err)
	}
	other := query4(func(p *pkt.Frame) { p.DstPort = 5353 })
	if _, c := run(t, f, other); c != PassNoSocket {
		t.Fatalf("port 5353 served: counted %s", c)
	}
	if err := f.Unserve(server4, 5353); err != nil {
		t.Fatal(err)
	}
	if _, c := run(t, f, other); c != PassPort {
		t.Fatalf("port 5353 unserved: counted %s, want other_port", c)
	}
	// Port 53 is still served for IPv6 after IPv4 stops using it.
	if err := f.Unserve(server4, 53); err != nil {
		t.Fatal(err)
	}
	if _, c := run(t, f, query4(nil)); c != PassAddr {
		t.Fatalf("ipv4 unserved: counted %s, want other_address", c)
	}
	if _, c := run(t, f, query6(nil)); c != PassNoSocket {
		t.Fatalf("ipv6 still served: counted %s", c)
	}
	if err := f.Unserve(server4, 53); err != nil {
		t.Fatalf("unserving twice: %v", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ModeAuto, ModeNative, ModeGeneric} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("offload"); err == nil {
		t.Error("ParseMode(offload) succeeded")
	}
}

func edit(b []byte, off int, v byte) []byte {
	b[off] = v
	return b
}

func edit16(b []byte, off int, v uint16) []byte {
	binary.BigEndian.PutUint16(b[off:], v)
	return b
}
