package frame

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives Reply and Encode: the reply decodes to the swapped header with
// the identical payload and carries checksums the reference agrees with.
func FuzzDecode(f *testing.F) {
	for _, tf := range testFrames() {
		f.Add(tf.bytes())
	}
	f.Add(capturedIPv4)
	f.Add(capturedIPv6)
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		payload, err := Decode(b, &h)
		if err != nil {
			if payload != nil {
				t.Fatalf("payload %x with error %v", payload, err)
			}
			return
		}
		if !within(payload, b) {
			t.Fatal("payload is not a sub-slice of the frame")
		}
		checkFamily(t, &h)
		r := h.Reply()
		// Reply headers are never longer than the query's (IPv4 options are
		// dropped), so a frame-sized buffer always suffices.
		buf := make([]byte, max(64<<10, len(b)))
		copy(buf[r.Len():], payload)
		n, err := Encode(buf, &r, len(payload))
		if err != nil {
			t.Fatalf("Encode of decoded %+v: %v", r, err)
		}
		if n > len(b) {
			t.Fatalf("reply of %d bytes to a %d-byte query", n, len(b))
		}
		var got Header
		p2, err := Decode(buf[:n], &got)
		if err != nil {
			t.Fatalf("Decode of reply: %v", err)
		}
		if got != r {
			t.Fatalf("decoded reply\n got %+v\nwant %+v", got, r)
		}
		if !bytes.Equal(p2, payload) {
			t.Fatalf("reply payload %x, want %x", p2, payload)
		}
		checkWire(t, buf[:n], &r)
	})
}

func checkFamily(t *testing.T, h *Header) {
	t.Helper()
	v4 := h.Src.Is4() && h.Dst.Is4()
	v6 := h.Src.Is6() && h.Dst.Is6() && !h.Src.Is4In6() && !h.Dst.Is4In6()
	if !v4 && !v6 {
		t.Fatalf("decoded addresses %v, %v are not of one family", h.Src, h.Dst)
	}
}
