package main

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/internal/priv"
)

const (
	xdpPass = 2
	xdpTX   = 3
)

var (
	clientMAC = [6]byte{0x02, 0, 0, 0, 0, 2}
	serverMAC = [6]byte{0x02, 0, 0, 0, 0, 1}
	client4   = netip.MustParseAddr("198.18.0.2")
	server4   = netip.MustParseAddr("198.18.0.1")
	client6   = netip.MustParseAddr("fd00::2")
	server6   = netip.MustParseAddr("fd00::1")
)

func load(t *testing.T) *ebpf.Program {
	t.Helper()
	priv.Require(t)
	var objs floorObjects
	if err := loadFloorObjects(&objs, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	return objs.XdpFloor
}

func run(t *testing.T, prog *ebpf.Program, in []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(in)+256)
	ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		t.Fatal(err)
	}
	return ret, out[:len(in)]
}

// reply is the frame the floor should send for q: built from scratch, so its
// checksums are computed in full, not updated.
func reply(q pkt.Frame) pkt.Frame {
	r := q
	r.Dst, r.Src = q.Src, q.Dst
	r.SrcIP, r.DstIP = q.DstIP, q.SrcIP
	r.SrcPort, r.DstPort = q.DstPort, q.SrcPort
	r.Payload = append([]byte{}, q.Payload...)
	r.Payload[2] |= 0x80
	return r
}

func query(src, dst netip.Addr) pkt.Frame {
	return pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: src, DstIP: dst, SrcPort: 40000, DstPort: 53,
		Payload: pkt.Query("h1.example.org.", 1)}
}

func TestAnswers(t *testing.T) {
	prog := load(t)
	cases := map[string]pkt.Frame{
		"ipv4":         query(client4, server4),
		"ipv6":         query(client6, server6),
		"ipv4 802.1Q":  func() pkt.Frame { f := query(client4, server4); f.VLANs = []uint16{0x8100}; return f }(),
		"ipv6 802.1Q":  func() pkt.Frame { f := query(client6, server6); f.VLANs = []uint16{0x8100}; return f }(),
		"ipv4 options": func() pkt.Frame { f := query(client4, server4); f.IPOptions = []byte{1, 1, 1, 0}; return f }(),
		"padding":      func() pkt.Frame { f := query(client4, server4); f.Padding = 6; return f }(),
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			ret, out := run(t, prog, q.Build())
			if ret != xdpTX {
				t.Fatalf("verdict %d, want XDP_TX", ret)
			}
			if want := reply(q).Build(); !bytes.Equal(out, want) {
				t.Fatalf("reply\n got %x\nwant %x", out, want)
			}
		})
	}
}

// The checksum update against a full computation, over random queries: every
// flags word, ID and port, so the folds and the 0 -> 0xffff case are met.
func TestChecksums(t *testing.T) {
	prog := load(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		q := query(client4, server4)
		if i%2 == 1 {
			q = query(client6, server6)
		}
		q.SrcPort = uint16(r.UintN(65536))
		binary.BigEndian.PutUint16(q.Payload[0:], uint16(r.UintN(65536)))
		binary.BigEndian.PutUint16(q.Payload[2:], uint16(r.UintN(65536))&^0x8000)
		ret, out := run(t, prog, q.Build())
		if want := reply(q).Build(); ret != xdpTX || !bytes.Equal(out, want) {
			t.Fatalf("query %x: verdict %d, reply\n got %x\nwant %x", q.Build(), ret, out, want)
		}
	}
}

// A reply whose checksum computes to zero carries 0xffff, IPv4 and IPv6.
func TestChecksumZeroSentAsFFFF(t *testing.T) {
	prog := load(t)
	for _, q := range []pkt.Frame{query(client4, server4), query(client6, server6)} {
		found := false
		for id := range 65536 {
			binary.BigEndian.PutUint16(q.Payload[0:], uint16(id))
			r := reply(q)
			l4 := r.Build()[len(r.Build())-8-len(r.Payload):]
			if pkt.UDPChecksum(r.SrcIP, r.DstIP, l4) != 0xffff {
				continue
			}
			found = true
			ret, out := run(t, prog, q.Build())
			if want := r.Build(); ret != xdpTX || !bytes.Equal(out, want) {
				t.Fatalf("id %d: verdict %d, reply\n got %x\nwant %x", id, ret, out, want)
			}
			break
		}
		if !found {
			t.Fatal("no ID gives a zero checksum")
		}
	}
}

// An IPv4 UDP checksum of zero (none) stays zero.
func TestZeroChecksum(t *testing.T) {
	prog := load(t)
	q := query(client4, server4)
	in := q.Build()
	in[14+20+6], in[14+20+7] = 0, 0
	ret, out := run(t, prog, in)
	want := reply(q).Build()
	want[14+20+6], want[14+20+7] = 0, 0
	if ret != xdpTX || !bytes.Equal(out, want) {
		t.Fatalf("verdict %d, reply\n got %x\nwant %x", ret, out, want)
	}
}

func TestPasses(t *testing.T) {
	prog := load(t)
	cases := map[string][]byte{
		"response":  func() []byte { f := query(client4, server4); f.Payload[2] |= 0x80; return f.Build() }(),
		"port 5353": func() []byte { f := query(client4, server4); f.DstPort = 5353; return f.Build() }(),
		"tcp":       func() []byte { f := query(client4, server4); f.Proto = 6; return f.Build() }(),
		"fragment":  func() []byte { f := query(client4, server4); f.FragOff = 0x2000; return f.Build() }(),
		"offset":    func() []byte { f := query(client4, server4); f.FragOff = 0x0001; return f.Build() }(),
		"ipv6 ext":  func() []byte { f := query(client6, server6); f.Proto = 44; return f.Build() }(), // a fragment header
		"qinq":      func() []byte { f := query(client4, server4); f.VLANs = []uint16{0x88a8, 0x8100}; return f.Build() }(),
		"arp":       func() []byte { f := query(client4, server4); f.EtherType = 0x0806; return f.Build() }(),
		"dns cut":   func() []byte { f := query(client4, server4); f.Payload = f.Payload[:11]; return f.Build() }(),
		"udp cut":   query(client4, server4).Build()[:14+20+7],
		"ip cut":    query(client6, server6).Build()[:14+39],
		"ihl 4":     func() []byte { b := query(client4, server4).Build(); b[14] = 0x44; return b }(),
		"ethernet":  query(client4, server4).Build()[:14],
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			ret, out := run(t, prog, in)
			if ret != xdpPass || !bytes.Equal(out, in) {
				t.Fatalf("verdict %d (want XDP_PASS), frame changed: %v", ret, !bytes.Equal(out, in))
			}
		})
	}
}

// TestSink: the sink drops and counts IPv4 frames, whatever they hold, and
// passes the rest (ARP and neighbour discovery keep the testbed's
// addresses resolved).
func TestSink(t *testing.T) {
	priv.Require(t)
	var objs floorObjects
	if err := loadFloorObjects(&objs, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	const xdpDrop = 1
	cases := []struct {
		name string
		in   []byte
		want uint32
	}{
		{"query", query(client4, server4).Build(), xdpDrop},
		{"tcp", func() []byte { f := query(client4, server4); f.Proto = 6; return f.Build() }(), xdpDrop},
		{"ipv6", query(client6, server6).Build(), xdpPass},
		{"arp", func() []byte { f := query(client4, server4); f.EtherType = 0x0806; return f.Build() }(), xdpPass},
		{"ethernet header only", query(client4, server4).Build()[:14], xdpDrop},
	}
	var dropped uint64
	for _, c := range cases {
		ret, _ := run(t, objs.XdpSink, c.in)
		if ret != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, ret, c.want)
		}
		if c.want == xdpDrop {
			dropped++
		}
		var n uint64
		if err := objs.Sunk.Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		if n != dropped {
			t.Errorf("after %s: counted %d, dropped %d", c.name, n, dropped)
		}
	}
}
