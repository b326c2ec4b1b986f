package frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestDecode(t *testing.T) {
	for name, tf := range testFrames() {
		t.Run(name, func(t *testing.T) {
			b := tf.bytes()
			var h Header
			payload, err := Decode(b, &h)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := tf.header(); h != want {
				t.Errorf("header\n got %+v\nwant %+v", h, want)
			}
			if !bytes.Equal(payload, tf.payload) {
				t.Errorf("payload = %x, want %x", payload, tf.payload)
			}
			if !within(payload, b) {
				t.Error("payload is not a sub-slice of the frame")
			}
		})
	}
}

// TestDecodeOverwrites checks that nothing from an earlier, tagged decode
// leaks into the next one through a reused Header.
func TestDecodeOverwrites(t *testing.T) {
	frames := testFrames()
	var h Header
	if _, err := Decode(frames["802.1ad-ipv6"].bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(frames["ipv4"].bytes(), &h); err != nil {
		t.Fatal(err)
	}
	if want := frames["ipv4"].header(); h != want {
		t.Errorf("header\n got %+v\nwant %+v", h, want)
	}
}

// within reports whether sub lies inside frame's length, sharing its memory.
// Decode never caps the capacity of the payload, so the offset of sub in
// frame follows from the capacities.
func within(sub, frame []byte) bool {
	start := cap(frame) - cap(sub)
	if start < 0 || start+len(sub) > len(frame) {
		return false
	}
	if len(sub) == 0 {
		return true
	}
	return &frame[start] == &sub[0]
}

// Offsets into testFrames()["ipv4"] and ["ipv6"], which are untagged.
const (
	offIP  = 14
	offUDP = offIP + 20
)

func TestDecodeRejects(t *testing.T) {
	frames := testFrames()
	v4, v6 := frames["ipv4"].bytes(), frames["ipv6"].bytes()
	put16 := func(b []byte, off int, v uint16) []byte {
		binary.BigEndian.PutUint16(b[off:], v)
		return b
	}
	put8 := func(b []byte, off int, v byte) []byte {
		b[off] = v
		return b
	}
	v6udp := offIP + 40
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrShort},
		{"13 bytes", v4[:13], ErrShort},
		{"truncated VLAN tag", withTags(v4, 0x8100)[:17], ErrShort},
		{"two stacked VLAN tags", withTags(v4, 0x88a8, 0x8100), ErrNotIP},
		{"two 802.1Q tags", withTags(v4, 0x8100, 0x8100), ErrNotIP},
		{"ARP EtherType", put16(clone(v4), 12, 0x0806), ErrNotIP},
		{"ARP inside VLAN", put16(withTags(v4, 0x8100), 16, 0x0806), ErrNotIP},
		{"Ethernet header only", v4[:14], ErrShort},
		{"IPv4 header truncated", v4[:offIP+19], ErrShort},
		{"IPv6 header truncated", v6[:offIP+39], ErrShort},
		{"IPv4 IHL 4", put8(clone(v4), offIP, 0x44), ErrIPHeader},
		{"IPv4 IHL 0", put8(clone(v4), offIP, 0x40), ErrIPHeader},
		{"IPv4 IHL beyond frame", put8(clone(v4[:offIP+24]), offIP, 0x47), ErrIPHeader},
		{"IPv4 total length > frame", put16(clone(v4), offIP+2, uint16(len(v4)-offIP+1)), ErrLength},
		{"IPv4 total length < IHL", put16(clone(v4), offIP+2, 19), ErrLength},
		{"IPv4 total length leaves no UDP header", put16(clone(v4), offIP+2, 27), ErrShort},
		{"UDP length 7", put16(clone(v4), offUDP+4, 7), ErrLength},
		{"UDP length 0", put16(clone(v4), offUDP+4, 0), ErrLength},
		{"UDP length > IP payload", put16(clone(v4), offUDP+4, uint16(len(v4)-offUDP+1)), ErrLength},
		{"IPv6 UDP length > IP payload", put16(clone(v6), v6udp+4, uint16(len(v6)-v6udp+1)), ErrLength},
		{"IPv4 MF fragment", put16(clone(v4), offIP+6, 0x2000), ErrFragment},
		{"IPv4 offset fragment", put16(clone(v4), offIP+6, 0x00b9), ErrFragment},
		{"IPv4 last fragment with DF", put16(clone(v4), offIP+6, 0x4001), ErrFragment},
		{"TCP protocol", put8(clone(v4), offIP+9, 6), ErrNotUDP},
		{"IPv4 header checksum wrong", put16(clone(v4), offIP+10, 0xdead), ErrChecksum},
		{"IPv4 TTL changed, checksum not", put8(clone(v4), offIP+8, 1), ErrChecksum},
		{"IPv6 TCP", put8(clone(v6), offIP+6, 6), ErrNotUDP},
		{"IPv6 hop-by-hop", put8(clone(v6), offIP+6, 0), ErrIPv6Ext},
		{"IPv6 fragment header", put8(clone(v6), offIP+6, 44), ErrIPv6Ext},
		{"IPv6 destination options", put8(clone(v6), offIP+6, 60), ErrIPv6Ext},
		{"IPv6 payload length > frame", put16(clone(v6), offIP+4, uint16(len(v6)-offIP-40+1)), ErrLength},
		{"IPv6 payload length < 8", put16(clone(v6), offIP+4, 7), ErrShort},
		{"IPv6 v4-mapped source", mapped(v6, offIP+8), ErrV4Mapped},
		{"IPv6 v4-mapped destination", mapped(v6, offIP+24), ErrV4Mapped},
		{"version 6 in IPv4 EtherType", put8(clone(v4), offIP, 0x65), ErrIPVersion},
		{"version 4 in IPv6 EtherType", put8(clone(v6), offIP, 0x40), ErrIPVersion},
		{"IPv4 EtherType, IPv6 packet", put16(clone(v6), 12, 0x0800), ErrIPVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Header
			payload, err := Decode(tt.frame, &h)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			if payload != nil {
				t.Errorf("payload = %x on error, want nil", payload)
			}
		})
	}
}

// TestDecodeTrailingBytes checks that bytes after the IP datagram are taken
// as padding, and bytes after the UDP datagram inside the IP one are cut.
func TestDecodeTrailingBytes(t *testing.T) {
	tf := testFrames()["ipv4"]
	b := append(tf.bytes(), 0xee, 0xee, 0xee)
	var h Header
	payload, err := Decode(b, &h)
	if err != nil || !bytes.Equal(payload, tf.payload) {
		t.Fatalf("with Ethernet padding: %x, %v", payload, err)
	}
	binary.BigEndian.PutUint16(b[offUDP+4:], uint16(8+10))
	binary.BigEndian.PutUint16(b[offUDP+6:], 0) // IPv4: no checksum
	payload, err = Decode(b, &h)
	if err != nil || !bytes.Equal(payload, tf.payload[:10]) {
		t.Fatalf("short UDP length: %x, %v; want %x", payload, err, tf.payload[:10])
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// withTags returns an untagged frame with VLAN tags inserted after the MACs.
func withTags(untagged []byte, tpids ...uint16) []byte {
	b := clone(untagged[:12])
	for i, tpid := range tpids {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i))
	}
	return append(b, untagged[12:]...)
}

// mapped returns v6 with the address at off replaced by ::ffff:192.0.2.1.
func mapped(v6 []byte, off int) []byte {
	b := clone(v6)
	copy(b[off:off+16], []byte{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1})
	return b
}

// TestDecodeChecksum: a wrong UDP checksum is dropped as the kernel drops
// it; the partial form a local sender leaves on veth and (IPv4 only) no
// checksum are accepted.
func TestDecodeChecksum(t *testing.T) {
	for _, name := range []string{"ipv4", "ipv6"} {
		tf := testFrames()[name]
		off := offIP + 20
		if name == "ipv6" {
			off = offIP + 40
		}
		good := tf.bytes()
		udpLength := len(good) - off
		partial := ^refChecksum(refPseudo(tf.src, tf.dst, udpLength)) // the folded pseudo-header sum
		for _, c := range []struct {
			what string
			csum uint16
			want error
		}{
			{"off by one", binary.BigEndian.Uint16(good[off+6:]) + 1, ErrChecksum},
			{"partial", partial, nil},
			{"zero", 0, map[string]error{"ipv4": nil, "ipv6": ErrChecksum}[name]},
		} {
			b := clone(good)
			binary.BigEndian.PutUint16(b[off+6:], c.csum)
			var h Header
			if _, err := Decode(b, &h); !errors.Is(err, c.want) {
				t.Errorf("%s, %s checksum %#04x: %v, want %v", name, c.what, c.csum, err, c.want)
			}
		}
		if _, err := Decode(good, new(Header)); err != nil {
			t.Errorf("%s with its full checksum: %v", name, err)
		}
	}
}
