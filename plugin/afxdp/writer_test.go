package afxdp

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/afxdp/afxdp/plugin/afxdp/datapath"
	"github.com/afxdp/afxdp/plugin/afxdp/frame"
)

func TestWriterNewUDPAddr(t *testing.T) {
	tests := []struct {
		ip   string
		port uint16
	}{
		{"198.18.0.1", 53},
		{"fd00::1", 5353},
		{"::ffff:198.18.0.1", 65535}, // 16 bytes as given: no unmapping here
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			src := netip.MustParseAddr(tc.ip).AsSlice()
			want := append([]byte(nil), src...)
			a := newUDPAddr(src, tc.port)
			if len(a.addr.IP) != len(want) || cap(a.addr.IP) != len(want) {
				t.Errorf("IP len/cap = %d/%d, want %d/%d", len(a.addr.IP), cap(a.addr.IP), len(want), len(want))
			}
			if string(a.addr.IP) != string(want) {
				t.Errorf("IP = %v, want %v", []byte(a.addr.IP), want)
			}
			if a.addr.Port != int(tc.port) {
				t.Errorf("Port = %d, want %d", a.addr.Port, tc.port)
			}
			if a.addr.Zone != "" {
				t.Errorf("Zone = %q, want none", a.addr.Zone)
			}
			// The address owns its bytes: the frame they came from is reused.
			for i := range src {
				src[i] ^= 0xff
			}
			if string(a.addr.IP) != string(want) {
				t.Errorf("IP changed with the source slice: %v", []byte(a.addr.IP))
			}
			// Appending to the IP must not write into the rest of the array.
			_ = append(a.addr.IP, 0xaa)
			for i := len(want); i < len(a.ip); i++ {
				if a.ip[i] != 0 {
					t.Errorf("append to IP wrote into the backing array at %d", i)
				}
			}
		})
	}

	// Each call is a separate object: plugins (dnstap, log) may keep one.
	ip := []byte{198, 18, 0, 1}
	a, b := newUDPAddr(ip, 53), newUDPAddr(ip, 53)
	if a == b || &a.addr == &b.addr || &a.addr.IP[0] == &b.addr.IP[0] {
		t.Fatal("newUDPAddr returned shared storage")
	}
	b.addr.IP[3] = 99
	b.addr.Port = 1
	if !a.addr.IP.Equal(net.IPv4(198, 18, 0, 1)) || a.addr.Port != 53 {
		t.Errorf("changing one address changed another: %v", &a.addr)
	}
	if !b.addr.IP.Equal(net.IPv4(198, 18, 0, 99)) {
		t.Errorf("b = %v, want 198.18.0.99", &b.addr)
	}
}

func testRequest(src, dst string, sport, dport uint16) *datapath.Request {
	return &datapath.Request{Header: frame.Header{
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		SrcPort: sport, DstPort: dport,
	}}
}

func TestWriterAddrs(t *testing.T) {
	tests := []struct {
		src, dst     string
		sport, dport uint16
		family       int
	}{
		{"198.18.0.2", "198.18.0.1", 40000, 53, 1},
		{"fd00::2", "fd00::1", 1024, 5353, 2},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			w := &writer{}
			w.reset(testRequest(tc.src, tc.dst, tc.sport, tc.dport), nil)

			ra, ok := w.RemoteAddr().(*net.UDPAddr)
			if !ok {
				t.Fatalf("RemoteAddr is %T, want *net.UDPAddr", w.RemoteAddr())
			}
			la, ok := w.LocalAddr().(*net.UDPAddr)
			if !ok {
				t.Fatalf("LocalAddr is %T, want *net.UDPAddr", w.LocalAddr())
			}
			if got := ra.AddrPort(); got != netip.AddrPortFrom(netip.MustParseAddr(tc.src), tc.sport) {
				t.Errorf("RemoteAddr = %v, want %s port %d", got, tc.src, tc.sport)
			}
			if got := la.AddrPort(); got != netip.AddrPortFrom(netip.MustParseAddr(tc.dst), tc.dport) {
				t.Errorf("LocalAddr = %v, want %s port %d", got, tc.dst, tc.dport)
			}
			if w.RemoteAddr() != net.Addr(ra) || w.LocalAddr() != net.Addr(la) {
				t.Error("a second call made a new address within one query")
			}

			// CoreDNS's request decides udp vs tcp (and truncation) by the
			// address type.
			st := request.Request{W: w}
			if p := st.Proto(); p != "udp" {
				t.Errorf("request.Proto() = %q, want udp", p)
			}
			if f := st.Family(); f != tc.family {
				t.Errorf("request.Family() = %d, want %d", f, tc.family)
			}
			if ip := st.IP(); ip != tc.src {
				t.Errorf("request.IP() = %q, want %q", ip, tc.src)
			}
			if ip := st.LocalIP(); ip != tc.dst {
				t.Errorf("request.LocalIP() = %q, want %q", ip, tc.dst)
			}
		})
	}
}

func TestWriterReset(t *testing.T) {
	w := &writer{}
	r1 := testRequest("198.18.0.2", "198.18.0.1", 40000, 53)
	l1 := &listener{key: listenKey{scope: scopeAll, port: 53}}
	w.reset(r1, l1)
	ra1 := w.RemoteAddr().(*net.UDPAddr)
	la1 := w.LocalAddr().(*net.UDPAddr)
	w.buf = make([]byte, 0, 4096)
	w.writes = 2
	w.tsigStatus = dns.ErrSig
	w.tsigMAC = "mac"
	w.TsigTimersOnly(true)
	if !w.tsigTimersOnly {
		t.Fatal("TsigTimersOnly(true) not recorded")
	}
	if !errors.Is(w.TsigStatus(), dns.ErrSig) {
		t.Fatalf("TsigStatus() = %v, want %v", w.TsigStatus(), dns.ErrSig)
	}

	r2 := testRequest("fd00::2", "fd00::1", 1234, 5353)
	l2 := &listener{key: listenKey{scope: scopeAll, port: 5353}}
	w.reset(r2, l2)
	if w.req != r2 || w.l != l2 {
		t.Error("reset did not take the new request and listener")
	}
	if w.remote != nil || w.local != nil {
		t.Error("reset kept the previous query's addresses")
	}
	if w.writes != 0 {
		t.Errorf("writes = %d after reset", w.writes)
	}
	if w.tsigStatus != nil || w.TsigStatus() != nil || w.tsigMAC != "" || w.tsigTimersOnly {
		t.Errorf("reset kept TSIG state: %v %q %v", w.tsigStatus, w.tsigMAC, w.tsigTimersOnly)
	}
	if cap(w.buf) != 4096 {
		t.Errorf("reset dropped the pack buffer (cap %d), which is reused across queries", cap(w.buf))
	}

	// The new query gets new addresses; the old ones, which a plugin may
	// have kept, still say what they said.
	ra2 := w.RemoteAddr().(*net.UDPAddr)
	la2 := w.LocalAddr().(*net.UDPAddr)
	if ra2 == ra1 || la2 == la1 {
		t.Fatal("addresses reused across queries")
	}
	if got := ra2.AddrPort().String(); got != "[fd00::2]:1234" {
		t.Errorf("RemoteAddr after reset = %s", got)
	}
	if got := la2.AddrPort().String(); got != "[fd00::1]:5353" {
		t.Errorf("LocalAddr after reset = %s", got)
	}
	if got := ra1.AddrPort().String(); got != "198.18.0.2:40000" {
		t.Errorf("previous RemoteAddr changed to %s", got)
	}
	if got := la1.AddrPort().String(); got != "198.18.0.1:53" {
		t.Errorf("previous LocalAddr changed to %s", got)
	}

	if err := w.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}
