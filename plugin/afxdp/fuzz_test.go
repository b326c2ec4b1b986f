package afxdp

import (
	"bytes"
	"net/netip"
	"os"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/whoami"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

// capture is a datapath.Sender that keeps what it is asked to send.
type capture struct {
	max     int
	replies [][]byte
	to      []frame.Header
}

func (c *capture) Send(h *frame.Header, payload []byte) error {
	if len(payload) > c.max {
		return datapath.ErrTooLarge
	}
	c.replies = append(c.replies, bytes.Clone(payload))
	c.to = append(c.to, *h)
	return nil
}

func (c *capture) MaxPayload(*frame.Header) int { return c.max }

// testServer is a real in-process CoreDNS server: example.org from the
// repository's zone with the file plugin, everything else whoami (whose
// answer depends on the client's address).
func testServer(tb testing.TB) *dnsserver.Server {
	tb.Helper()
	f, err := os.Open("../../run/example.org.zone")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	z, err := file.Parse(f, "example.org.", "example.org.zone", 0)
	if err != nil {
		tb.Fatal(err)
	}
	fp := file.File{Zones: file.Zones{Z: map[string]*file.Zone{"example.org.": z}, Names: []string{"example.org."}}}
	org := &dnsserver.Config{Zone: "example.org.", Port: "53", Transport: "dns", ListenHosts: []string{""},
		Plugin: []plugin.Plugin{func(plugin.Handler) plugin.Handler { return fp }}}
	root := &dnsserver.Config{Zone: ".", Port: "53", Transport: "dns", ListenHosts: []string{""},
		Plugin: []plugin.Plugin{func(plugin.Handler) plugin.Handler { return whoami.Whoami{} }}}
	s, err := dnsserver.NewServer("dns://:53", []*dnsserver.Config{org, root})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func testBridge(tb testing.TB) *bridge {
	b := newBridge()
	k := listenKey{scope: scopeAll, port: 53}
	b.table.Store(newTable(map[listenKey]*listener{k: newListener(k, testServer(tb), nil, nil, xdpTier{})}))
	return b
}

var fuzzHeader = frame.Header{
	Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"),
	SrcPort: 40000, DstPort: 53, HopLimit: 64,
}

// FuzzServeFrame feeds arbitrary DNS payloads through the bridge into a
// real CoreDNS server and checks every reply: at most one per query, within
// the size the sender allows, addressed back to the client, a response with
// the query's ID that unpacks.
func FuzzServeFrame(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{{"www.example.org.", dns.TypeA, false}, {"big.example.org.", dns.TypeTXT, true}, {"nosuch.example.org.", dns.TypeAAAA, true}, {"whoami.test.", dns.TypeA, false}, {".", dns.TypeNS, true}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(4096, true)
		}
		b, _ := m.Pack()
		f.Add(b, uint16(1232))
	}
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, uint16(512)) // compression loop
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, uint16(512))                         // question missing
	b := testBridge(f)
	f.Fuzz(func(t *testing.T, payload []byte, max uint16) {
		if len(payload) < 12 || max < 512 {
			return // the XDP program passes these to the kernel
		}
		c := &capture{max: int(max)}
		b.ServeFrame(datapath.NewRequest(fuzzHeader, payload, c))
		if len(c.replies) > 1 {
			t.Fatalf("%d replies to one query", len(c.replies))
		}
		for i, r := range c.replies {
			if len(r) > c.max {
				t.Fatalf("reply of %d bytes, sender allows %d", len(r), c.max)
			}
			if c.to[i].Dst != fuzzHeader.Src || c.to[i].DstPort != fuzzHeader.SrcPort || c.to[i].SrcPort != 53 {
				t.Fatalf("reply addressed to %v:%d from port %d", c.to[i].Dst, c.to[i].DstPort, c.to[i].SrcPort)
			}
			m := new(dns.Msg)
			if err := m.Unpack(r); err != nil {
				t.Fatalf("reply does not unpack: %v", err)
			}
			if !m.Response || m.Id != uint16(payload[0])<<8|uint16(payload[1]) {
				t.Fatalf("reply: response=%v id=%d for query id %d", m.Response, m.Id, uint16(payload[0])<<8|uint16(payload[1]))
			}
		}
	})
}

// TestServeFrameSizes: a whoami answer names the client from RemoteAddr;
// an answer too large for the sender is truncated, not dropped.
func TestServeFrameSizes(t *testing.T) {
	b := testBridge(t)
	m := new(dns.Msg)
	m.SetQuestion("who.test.", dns.TypeA)
	q, _ := m.Pack()
	c := &capture{max: 1472}
	b.ServeFrame(datapath.NewRequest(fuzzHeader, q, c))
	if len(c.replies) != 1 {
		t.Fatalf("%d replies", len(c.replies))
	}
	r := new(dns.Msg)
	if err := r.Unpack(c.replies[0]); err != nil || len(r.Extra) == 0 || r.Extra[0].(*dns.A).A.String() != "198.18.0.2" {
		t.Fatalf("whoami answer %v (%v): want the client address", r, err)
	}

	m.SetQuestion("big.example.org.", dns.TypeTXT)
	m.SetEdns0(4096, false)
	q, _ = m.Pack()
	c = &capture{max: 1472}
	b.ServeFrame(datapath.NewRequest(fuzzHeader, q, c))
	if len(c.replies) != 1 {
		t.Fatalf("%d replies to big TXT", len(c.replies))
	}
	if err := r.Unpack(c.replies[0]); err != nil || !r.Truncated || len(c.replies[0]) > 1472 {
		t.Fatalf("big TXT with a 1472-byte limit: %d bytes, TC=%v, %v", len(c.replies[0]), r.Truncated, err)
	}
}
