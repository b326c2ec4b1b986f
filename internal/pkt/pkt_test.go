package pkt_test

import (
	"net/netip"
	"testing"

	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

// TestBuildDecodes cross-checks the builder with the codec: lengths and
// checksums of built frames hold.
func TestBuildDecodes(t *testing.T) {
	for _, dst := range []string{"198.18.0.1", "fd00::1"} {
		src := map[string]string{"198.18.0.1": "198.18.0.2", "fd00::1": "fd00::2"}[dst]
		for _, vlans := range [][]uint16{nil, {0x8100}} {
			f := pkt.Frame{SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr(dst), SrcPort: 40000, DstPort: 53,
				Payload: pkt.Query("www.example.org.", 1), VLANs: vlans, Padding: 6}
			var h frame.Header
			payload, err := frame.Decode(f.Build(), &h)
			if err != nil {
				t.Fatalf("%s vlans %v: %v", dst, vlans, err)
			}
			if string(payload) != string(f.Payload) || h.DstPort != 53 || h.Dst != f.DstIP {
				t.Fatalf("%s: decoded %+v, payload %x", dst, h, payload)
			}
		}
	}
}
