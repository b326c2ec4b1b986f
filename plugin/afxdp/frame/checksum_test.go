package frame

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// Known-answer frames: real DNS queries sent by dig and captured with
// tcpdump on a veth whose TX checksum offload was off, so the Linux kernel
// computed both checksums in software; tcpdump -vvv reported the IPv4
// checksum good and "udp sum ok" for both. They were captured once in a
// private network namespace:
//
//	ethtool -K veth0 tx off
//	tcpdump -i veth0 -w q.pcap udp port 53 &
//	dig @192.0.2.53 -b 192.0.2.1#53000 example.com A
//	dig @2001:db8::53 -b 2001:db8::1#53001 example.org AAAA
//
// The checksum constants below are the captured ones, which the reference
// implementation in this file and the package's own code must both match.
var (
	capturedIPv4 = []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
		0x00, 0x50, 0x48, 0xb7, 0x00, 0x00, 0x40, 0x11, 0xad, 0xaf, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00,
		0x02, 0x35, 0xcf, 0x08, 0x00, 0x35, 0x00, 0x3c, 0x85, 0x90, 0x91, 0x55, 0x01, 0x20, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63,
		0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0xe7, 0x1d, 0x56, 0xa4, 0xd0, 0xf2, 0xb1, 0xc0,
	}
	capturedIPv6 = []byte{
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60, 0x0a,
		0x2e, 0x80, 0x00, 0x3c, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0xcf, 0x09, 0x00, 0x35, 0x00, 0x3c, 0xcc, 0x25, 0xea, 0xdd,
		0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70,
		0x6c, 0x65, 0x03, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0x1b, 0x37, 0x87, 0x99, 0x68, 0x91,
		0x1f, 0x60,
	}
)

const (
	capturedIPv4HeaderSum = 0xadaf
	capturedIPv4UDPSum    = 0x8590
	capturedIPv6UDPSum    = 0xcc25
)

func TestKnownAnswerIPv4(t *testing.T) {
	b := capturedIPv4
	var h Header
	payload, err := Decode(b, &h)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		DstMAC: [6]byte{2, 0, 0, 0, 0, 2}, SrcMAC: [6]byte{2, 0, 0, 0, 0, 1},
		Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.53"),
		SrcPort: 53000, DstPort: 53, TOS: 0, HopLimit: 64,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	ip, udp := b[14:34], b[34:]
	if got := refChecksum(ip[:10], ip[12:]); got != capturedIPv4HeaderSum {
		t.Errorf("reference IPv4 header checksum %#04x, captured %#04x", got, capturedIPv4HeaderSum)
	}
	if got := checksum(sum(0, ip[:10]) + sum(0, ip[12:])); got != capturedIPv4HeaderSum {
		t.Errorf("package IPv4 header checksum %#04x, captured %#04x", got, capturedIPv4HeaderSum)
	}
	if got := refChecksum(refPseudo(h.Src, h.Dst, len(udp)), udp[:6], udp[8:]); got != capturedIPv4UDPSum {
		t.Errorf("reference UDP checksum %#04x, captured %#04x", got, capturedIPv4UDPSum)
	}
	// Re-encoding the same header must reproduce the kernel's frame, except
	// that Encode sends ID 0 with DF where dig's socket sent an ID and no DF.
	out, n := encodeWith(t, &h, payload)
	wantFrame := clone(b)
	copy(wantFrame[18:22], []byte{0x00, 0x00, 0x40, 0x00})
	binary.BigEndian.PutUint16(wantFrame[24:], refChecksum(wantFrame[14:24], wantFrame[26:34]))
	if !bytes.Equal(out[:n], wantFrame) {
		t.Errorf("re-encoded\n got %x\nwant %x", out[:n], wantFrame)
	}
	if got := binary.BigEndian.Uint16(out[40:]); got != capturedIPv4UDPSum {
		t.Errorf("Encode UDP checksum %#04x, captured %#04x", got, capturedIPv4UDPSum)
	}
}

func TestKnownAnswerIPv6(t *testing.T) {
	b := capturedIPv6
	var h Header
	payload, err := Decode(b, &h)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		DstMAC: [6]byte{2, 0, 0, 0, 0, 2}, SrcMAC: [6]byte{2, 0, 0, 0, 0, 1},
		Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::53"),
		SrcPort: 53001, DstPort: 53, TOS: 0, HopLimit: 64,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	udp := b[54:]
	if got := refChecksum(refPseudo(h.Src, h.Dst, len(udp)), udp[:6], udp[8:]); got != capturedIPv6UDPSum {
		t.Errorf("reference UDP checksum %#04x, captured %#04x", got, capturedIPv6UDPSum)
	}
	// Identical but for the flow label, which Encode leaves at 0.
	out, n := encodeWith(t, &h, payload)
	wantFrame := clone(b)
	copy(wantFrame[14:18], []byte{0x60, 0x00, 0x00, 0x00})
	if !bytes.Equal(out[:n], wantFrame) {
		t.Errorf("re-encoded\n got %x\nwant %x", out[:n], wantFrame)
	}
}

// TestIPv4HeaderVector is the worked example of the IPv4 header checksum
// from Wikipedia's "Internet checksum" article (checksum 0xb861).
func TestIPv4HeaderVector(t *testing.T) {
	hdr := []byte{
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	}
	if s := refSum(hdr); s != 0xffff {
		t.Errorf("reference sum over header with checksum = %#04x, want 0xffff", s)
	}
	if s := fold(sum(0, hdr)); s != 0xffff {
		t.Errorf("package sum over header with checksum = %#04x, want 0xffff", s)
	}
	if c := checksum(sum(0, hdr[:10]) + sum(0, hdr[12:])); c != 0xb861 {
		t.Errorf("package checksum %#04x, want 0xb861", c)
	}
}

// TestSumMatchesReference compares the package's word-at-a-time sum with
// the naive reference on random data of every length up to 300 bytes,
// summed whole and split into an even-length head and a tail.
func TestSumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300)
	for n := 0; n <= len(buf); n++ {
		for range 20 {
			for i := range buf[:n] {
				buf[i] = byte(rng.Uint32())
			}
			b := buf[:n]
			want := refChecksum(b)
			if got := checksum(sum(0, b)); got != want {
				t.Fatalf("len %d: checksum %#04x, reference %#04x (%x)", n, got, want, b)
			}
			split := rng.IntN(n/2+1) * 2
			if got := checksum(sum(sum(0, b[:split]), b[split:])); got != want {
				t.Fatalf("len %d split %d: checksum %#04x, reference %#04x", n, split, got, want)
			}
		}
	}
}

// TestSumCarries drives the folding hard: all-ones data, whose one's
// complement sum is "negative zero", and a 64 KiB block of 0xff.
func TestSumCarries(t *testing.T) {
	for _, n := range []int{2, 8, 9, 1 << 16} {
		b := bytes.Repeat([]byte{0xff}, n)
		if got, want := checksum(sum(0, b)), refChecksum(b); got != want {
			t.Errorf("%d bytes of 0xff: checksum %#04x, reference %#04x", n, got, want)
		}
	}
	if got := udpChecksum(sum(0, []byte{0xff, 0xff})); got != 0xffff {
		t.Errorf("udpChecksum of a zero checksum = %#04x, want 0xffff", got)
	}
}
