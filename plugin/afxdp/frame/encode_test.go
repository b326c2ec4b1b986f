package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

func TestReplyRoundTrip(t *testing.T) {
	for name, tf := range testFrames() {
		t.Run(name, func(t *testing.T) {
			var q Header
			payload, err := Decode(tf.bytes(), &q)
			if err != nil {
				t.Fatalf("Decode query: %v", err)
			}
			r := q.Reply()
			want := Header{
				DstMAC: tf.srcMAC, SrcMAC: tf.dstMAC,
				VLANProto: q.VLANProto, VLANTCI: q.VLANTCI,
				Src: tf.dst, Dst: tf.src, SrcPort: tf.dport, DstPort: tf.sport,
				TOS: 0, HopLimit: 64,
			}
			if r != want {
				t.Fatalf("Reply\n got %+v\nwant %+v", r, want)
			}
			answer := append(clone(payload), "and some answer"...)
			b, n := encodeWith(t, &r, answer)
			if wantLen := r.Len() + len(answer); n != wantLen {
				t.Errorf("Encode = %d bytes, want %d", n, wantLen)
			}
			var got Header
			p2, err := Decode(b[:n], &got)
			if err != nil {
				t.Fatalf("Decode reply: %v", err)
			}
			if got != r {
				t.Errorf("decoded reply\n got %+v\nwant %+v", got, r)
			}
			if !bytes.Equal(p2, answer) {
				t.Errorf("reply payload = %x, want %x", p2, answer)
			}
			checkWire(t, b[:n], &r)
		})
	}
}

// encodeWith places payload into a fresh buffer with spare room after it,
// encodes h in front, and checks that Encode touched neither the payload nor
// anything past it.
func encodeWith(t *testing.T, h *Header, payload []byte) ([]byte, int) {
	t.Helper()
	b := bytes.Repeat([]byte{0xa5}, h.Len()+len(payload)+32)
	copy(b[h.Len():], payload)
	n, err := Encode(b, h, len(payload))
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if !bytes.Equal(b[h.Len():n], payload) {
		t.Error("Encode changed the payload")
	}
	if !bytes.Equal(b[n:], bytes.Repeat([]byte{0xa5}, len(b)-n)) {
		t.Error("Encode wrote past the frame")
	}
	return b, n
}

// checkWire checks an encoded frame byte by byte against h, and its
// checksums against the reference implementation.
func checkWire(t *testing.T, b []byte, h *Header) {
	t.Helper()
	ip := 14
	if h.VLANProto != 0 {
		ip = 18
		if tpid, tci := binary.BigEndian.Uint16(b[12:]), binary.BigEndian.Uint16(b[14:]); tpid != h.VLANProto || tci != h.VLANTCI {
			t.Errorf("VLAN tag %#04x/%#04x, want %#04x/%#04x", tpid, tci, h.VLANProto, h.VLANTCI)
		}
	}
	var udp []byte
	if h.Src.Is4() {
		hdr := b[ip : ip+20]
		udp = b[ip+20:]
		if hdr[0] != 0x45 || binary.BigEndian.Uint16(hdr[2:]) != uint16(20+len(udp)) {
			t.Errorf("IPv4 version/IHL %#02x, total length %d", hdr[0], binary.BigEndian.Uint16(hdr[2:]))
		}
		if id, frag := binary.BigEndian.Uint16(hdr[4:]), binary.BigEndian.Uint16(hdr[6:]); id != 0 || frag != 0x4000 {
			t.Errorf("IPv4 ID %#x, flags/offset %#x; want 0, DF", id, frag)
		}
		if s := refSum(hdr); s != 0xffff {
			t.Errorf("IPv4 header sums to %#04x including its checksum, want 0xffff", s)
		}
		if want := refChecksum(hdr[:10], hdr[12:]); binary.BigEndian.Uint16(hdr[10:]) != want {
			t.Errorf("IPv4 checksum %#04x, reference %#04x", binary.BigEndian.Uint16(hdr[10:]), want)
		}
	} else {
		hdr := b[ip : ip+40]
		udp = b[ip+40:]
		if vtf := binary.BigEndian.Uint32(hdr); vtf != 6<<28|uint32(h.TOS)<<20 {
			t.Errorf("IPv6 version/class/flow %#08x", vtf)
		}
		if pl := binary.BigEndian.Uint16(hdr[4:]); int(pl) != len(udp) {
			t.Errorf("IPv6 payload length %d, want %d", pl, len(udp))
		}
	}
	if ul := binary.BigEndian.Uint16(udp[4:]); int(ul) != len(udp) {
		t.Errorf("UDP length %d, want %d", ul, len(udp))
	}
	pseudo := refPseudo(h.Src, h.Dst, len(udp))
	if s := refSum(pseudo, udp); s != 0xffff {
		t.Errorf("UDP datagram sums to %#04x including its checksum, want 0xffff", s)
	}
	want := refChecksum(pseudo, udp[:6], udp[8:])
	if want == 0 {
		want = 0xffff
	}
	if got := binary.BigEndian.Uint16(udp[6:]); got != want {
		t.Errorf("UDP checksum %#04x, reference %#04x", got, want)
	}
}

// TestEncodeZeroChecksum crafts a payload whose UDP checksum computes to 0,
// which must go on the wire as 0xffff since 0 means "no checksum".
func TestEncodeZeroChecksum(t *testing.T) {
	for _, name := range []string{"ipv4", "ipv6"} {
		h := testFrames()[name].header()
		payload := make([]byte, 20)
		b, n := encodeWith(t, &h, payload)
		c := binary.BigEndian.Uint16(b[n-len(payload)-2:])
		// Adding the checksum as a payload word makes the sum 0xffff.
		binary.BigEndian.PutUint16(payload[18:], c)
		b, n = encodeWith(t, &h, payload)
		if got := binary.BigEndian.Uint16(b[n-len(payload)-2:]); got != 0xffff {
			t.Errorf("%s: UDP checksum %#04x, want 0xffff", name, got)
		}
		checkWire(t, b[:n], &h)
	}
}

func TestEncodeRejects(t *testing.T) {
	v4 := testFrames()["ipv4"].header()
	v6 := testFrames()["802.1ad-ipv6"].header()
	mixed := v4
	mixed.Dst = v6.Dst
	mappedDst := v6
	mappedDst.Dst = netip.MustParseAddr("::ffff:192.0.2.1")
	mappedSrc := v6
	mappedSrc.Src = netip.AddrFrom16(netip.MustParseAddr("192.0.2.1").As16())
	var zero Header
	big := make([]byte, 70000)
	tests := []struct {
		name       string
		h          *Header
		buf        []byte
		payloadLen int
		want       error
	}{
		{"buffer one byte short", &v4, make([]byte, v4.Len()+99), 100, ErrTooBig},
		{"buffer short of headers", &v6, make([]byte, v6.Len()-1), 0, ErrTooBig},
		{"nil buffer", &v4, nil, 0, ErrTooBig},
		{"IPv4 total length 65536", &v4, big, 65535 - 28 + 1, ErrTooBig},
		{"IPv6 UDP length 65536", &v6, big, 65535 - 8 + 1, ErrTooBig},
		{"negative payload", &v4, big, -1, ErrLength},
		{"IPv4 source, IPv6 destination", &mixed, big, 10, ErrFamily},
		{"zero header", &zero, big, 10, ErrFamily},
		{"mapped destination", &mappedDst, big, 10, ErrFamily},
		{"mapped source", &mappedSrc, big, 10, ErrFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Encode(tt.buf, tt.h, tt.payloadLen)
			if !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("Encode = %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

// TestEncodeLargest checks the biggest payloads the length fields allow.
func TestEncodeLargest(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
	}{{"ipv4", 65535 - 20 - 8}, {"802.1ad-ipv6", 65535 - 8}} {
		h := testFrames()[tc.name].header()
		payload := bytes.Repeat([]byte{0x5a, 0xc3, 0x01}, tc.max/3+1)[:tc.max]
		b, n := encodeWith(t, &h, payload)
		var got Header
		p, err := Decode(b[:n], &got)
		if err != nil || got != h || !bytes.Equal(p, payload) {
			t.Fatalf("%s: Decode = %v, header %+v", tc.name, err, got)
		}
		checkWire(t, b[:n], &h)
	}
}

func TestLen(t *testing.T) {
	frames := testFrames()
	for name, want := range map[string]struct{ len, link int }{
		"ipv4": {42, 14}, "ipv4-options": {42, 14}, "ipv6": {62, 14}, "802.1q-ipv4": {46, 18}, "802.1ad-ipv6": {66, 18},
	} {
		h := frames[name].header()
		if got := h.Len(); got != want.len {
			t.Errorf("%s: Len = %d, want %d", name, got, want.len)
		}
		if got := h.LinkLen(); got != want.link {
			t.Errorf("%s: LinkLen = %d, want %d", name, got, want.link)
		}
	}
}
