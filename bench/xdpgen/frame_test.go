package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/internal/pkt"
)

var (
	cliMAC = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	srvMAC = net.HardwareAddr{2, 0, 0, 0, 0, 1}
)

// ip4HeaderOK checks an IPv4 header checksum the way a receiver does: the
// one's complement sum over the header, checksum included, is all ones.
func ip4HeaderOK(h []byte) bool {
	var s uint64
	for i := 0; i < len(h); i += 2 {
		s += uint64(binary.BigEndian.Uint16(h[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s == 0xffff
}

func addr16(a netip.Addr) *[16]byte {
	var b [16]byte
	if a.Is4() {
		v := a.As4()
		copy(b[:], v[:])
	} else {
		b = a.As16()
	}
	return &b
}

// TestBuild builds queries for both families from many sources, ports
// and IDs and checks each frame field by field, the checksums against
// independent code, and the DNS message with miekg/dns.
func TestBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		server netip.Addr
		prefix netip.Prefix
	}{
		{netip.MustParseAddr("198.18.0.1"), netip.MustParsePrefix("198.19.0.0/16")},
		{netip.MustParseAddr("fd00::1"), netip.MustParsePrefix("fd00:19::/48")},
	} {
		h := newHeader(cliMAC, srvMAC, tc.server, 53)
		var qs []query
		for _, q := range []struct {
			name  string
			qtype uint16
			edns  bool
		}{{"www.example.org.", dns.TypeA, true}, {"a.b", dns.TypeAAAA, false}, {"n12345.example.org", dns.TypeTXT, true}} {
			pq, err := packQuery(q.name, q.qtype, q.edns)
			if err != nil {
				t.Fatal(err)
			}
			qs = append(qs, pq)
		}
		src := newSources(tc.prefix, true, 7)
		buf := make([]byte, 2048)
		for i := range 3000 {
			var a [16]byte
			src.pick(&a)
			sport := uint16(1024 + rng.IntN(64512))
			id := uint16(rng.Uint32())
			q := &qs[i%len(qs)]
			for j := range buf {
				buf[j] = 0xaa // stale bytes from an earlier frame
			}
			n := h.build(buf, q, &a, sport, id)
			f := buf[:n]
			if string(f[0:6]) != string(srvMAC) || string(f[6:12]) != string(cliMAC) {
				t.Fatalf("MACs %x %x", f[0:6], f[6:12])
			}
			var srcIP netip.Addr
			var udp []byte
			if tc.server.Is4() {
				if binary.BigEndian.Uint16(f[12:]) != 0x0800 {
					t.Fatalf("EtherType %x", f[12:14])
				}
				ip := f[14:34]
				if ip[0] != 0x45 || ip[8] != 64 || ip[9] != 17 || int(binary.BigEndian.Uint16(ip[2:])) != n-14 {
					t.Fatalf("IPv4 header %x", ip)
				}
				if !ip4HeaderOK(ip) {
					t.Fatalf("IPv4 header checksum wrong: %x", ip)
				}
				srcIP = netip.AddrFrom4([4]byte(ip[12:16]))
				if netip.AddrFrom4([4]byte(ip[16:20])) != tc.server {
					t.Fatalf("destination %x", ip[16:20])
				}
				udp = f[34:]
			} else {
				if binary.BigEndian.Uint16(f[12:]) != 0x86dd {
					t.Fatalf("EtherType %x", f[12:14])
				}
				ip := f[14:54]
				if ip[0] != 0x60 || ip[6] != 17 || ip[7] != 64 || int(binary.BigEndian.Uint16(ip[4:])) != n-54 {
					t.Fatalf("IPv6 header %x", ip)
				}
				srcIP = netip.AddrFrom16([16]byte(ip[8:24]))
				if netip.AddrFrom16([16]byte(ip[24:40])) != tc.server {
					t.Fatalf("destination %x", ip[24:40])
				}
				udp = f[54:]
			}
			if !tc.prefix.Contains(srcIP) || *addr16(srcIP) != a {
				t.Fatalf("source %s, picked %x", srcIP, a)
			}
			if binary.BigEndian.Uint16(udp[0:]) != sport || binary.BigEndian.Uint16(udp[2:]) != 53 || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
				t.Fatalf("UDP header %x", udp[:8])
			}
			if got, want := binary.BigEndian.Uint16(udp[6:]), pkt.UDPChecksum(srcIP, tc.server, udp); got != want {
				t.Fatalf("UDP checksum %#04x, want %#04x", got, want)
			}
			m := new(dns.Msg)
			if err := m.Unpack(udp[8:]); err != nil {
				t.Fatalf("unpacking: %v", err)
			}
			if m.Id != id || m.Response || !m.RecursionDesired || len(m.Question) != 1 {
				t.Fatalf("message %v", m)
			}
			want := new(dns.Msg)
			want.Unpack(q.wire)
			if m.Question[0] != want.Question[0] || (m.IsEdns0() == nil) != (want.IsEdns0() == nil) {
				t.Fatalf("question %v, want %v", m.Question[0], want.Question[0])
			}
		}
	}
	if n := newHeader(cliMAC, srvMAC, netip.MustParseAddr("198.18.0.1"), 53).build(make([]byte, 40), &query{wire: make([]byte, 30)}, &[16]byte{}, 1, 1); n != 0 {
		t.Errorf("built %d bytes into a 40-byte buffer", n)
	}
}

// TestBuildMatchesPkt: the frame equals the one internal/pkt builds from
// the same fields (pkt sends no DF: that bit and the IPv4 checksum aside).
func TestBuildMatchesPkt(t *testing.T) {
	q, err := packQuery("www.example.org.", dns.TypeA, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"198.19.3.4", "198.18.0.1"}, {"fd00:19::3:4", "fd00::1"}} {
		src, dst := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		buf := make([]byte, 2048)
		n := newHeader(cliMAC, srvMAC, dst, 53).build(buf, &q, addr16(src), 40000, 0x1234)
		payload := append([]byte{0x12, 0x34}, q.wire[2:]...)
		want := pkt.Frame{Dst: [6]byte(srvMAC), Src: [6]byte(cliMAC), SrcIP: src, DstIP: dst, SrcPort: 40000, DstPort: 53, Payload: payload}.Build()
		got := buf[:n]
		if src.Is4() {
			got = append([]byte{}, got...)
			got[14+6] &^= 0x40
			got[14+10], got[14+11] = want[14+10], want[14+11]
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %x\nwant %x", src, got, want)
		}
	}
}

func TestParseReply(t *testing.T) {
	for _, pair := range [][2]string{{"198.18.0.1", "198.19.0.77"}, {"fd00::1", "fd00:19::77"}} {
		srv, cli := netip.MustParseAddr(pair[0]), netip.MustParseAddr(pair[1])
		m := new(dns.Msg)
		m.SetQuestion("www.example.org.", dns.TypeA)
		m.Id = 0xbeef
		r := new(dns.Msg)
		r.SetRcode(m, dns.RcodeNameError)
		wire, _ := r.Pack()
		qwire, _ := m.Pack()
		f := pkt.Frame{Dst: [6]byte(cliMAC), Src: [6]byte(srvMAC), SrcIP: srv, DstIP: cli, SrcPort: 53, DstPort: 33333, Payload: wire}
		got, ok := parseReply(f.Build(), 53)
		if !ok || got.addr != *addr16(cli) || got.port != 33333 || got.id != 0xbeef || got.rcode != dns.RcodeNameError {
			t.Errorf("%s: parsed %+v, %v", cli, got, ok)
		}
		bad := map[string][]byte{
			"wrong port":  f.Build(),
			"a query":     pkt.Frame{SrcIP: srv, DstIP: cli, SrcPort: 53, DstPort: 33333, Payload: qwire}.Build(),
			"short":       f.Build()[:14+20+8+4],
			"not UDP":     pkt.Frame{SrcIP: srv, DstIP: cli, Proto: 6, SrcPort: 53, DstPort: 33333, Payload: wire}.Build(),
			"ARP":         pkt.Frame{EtherType: 0x0806, SrcIP: srv, DstIP: cli, Payload: wire}.Build(),
			"no DNS body": pkt.Frame{SrcIP: srv, DstIP: cli, SrcPort: 53, DstPort: 33333, Payload: wire[:4]}.Build(),
		}
		if srv.Is4() {
			bad["fragment"] = pkt.Frame{SrcIP: srv, DstIP: cli, FragOff: 0x2000, SrcPort: 53, DstPort: 33333, Payload: wire}.Build()
		}
		for name, frame := range bad {
			port := uint16(53)
			if name == "wrong port" {
				port = 5353
			}
			if got, ok := parseReply(frame, port); ok {
				t.Errorf("%s %s: parsed %+v", srv, name, got)
			}
		}
	}
}
