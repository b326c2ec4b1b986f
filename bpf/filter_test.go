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
	serverMAC = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	bridgeMAC = [6]byte{0x02, 0, 0, 0, 0, 0xb1}
	clientMAC = [6]byte{0x02, 0, 0, 0, 0, 0x02}
	server4   = netip.MustParseAddr("198.18.0.1")
	client4   = netip.MustParseAddr("198.18.0.2")
	server6   = netip.MustParseAddr("fd00::1")
	client6   = netip.MustParseAddr("fd00::2")
)

func query4(mut func(*pkt.Frame)) []byte {
	f := pkt.Frame{Dst: serverMAC, Src: clientMAC, SrcIP: client4, DstIP: server4, SrcPort: 40000, DstPort: 53, Payload: pkt.Query("example.org.", 1)}
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
	f := loadHost(t)
	for _, a := range []netip.Addr{server4, server6} {
		if err := f.Serve(a, 53); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// loadHost loads the filter and tells it what user space would: the MACs
// and local addresses of modelHost.
func loadHost(tb testing.TB) *Filter {
	tb.Helper()
	priv.Require(tb)
	f, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if err := f.SetMACs(serverMAC[:], bridgeMAC[:]); err != nil {
		tb.Fatal(err)
	}
	if err := f.SetLocalAddrs(localAddrs); err != nil {
		tb.Fatal(err)
	}
	setRoutes(tb, f, modelRoutes())
	return f
}

// setRoutes gives the verdicts as user space would, in the current
// generation.
func setRoutes(tb testing.TB, f *Filter, rs []modelRoute) {
	tb.Helper()
	for _, r := range rs {
		if err := f.SetRoute(RouteRequest{Src: r.src, VLAN: r.vlan, Gen: f.cfg.RouteGen}, r.Route); err != nil {
			tb.Fatal(err)
		}
	}
}

// forgetRoute deletes a source's verdict (pending included).
func (f *Filter) forgetRoute(src netip.Addr, vlan uint16) {
	if src.Is4() {
		b := src.As4()
		f.objs.Routes4.Delete(filterRouteKey4{Addr: binary.NativeEndian.Uint32(b[:]), Vlan: vlan})
		return
	}
	f.objs.Routes6.Delete(filterRouteKey6{Addr: src.As16(), Vlan: vlan})
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

// TestFilterVerdicts runs every seed case (seedCases in fuzz_test.go: each
// parsing outcome and the edges between them) once and checks the verdict
// and the one counter that moved. With no socket bound, a frame that would
// be redirected is passed and counted as no_socket: that proves it got
// through every check.
func TestFilterVerdicts(t *testing.T) {
	f := loadModelFilter(t)
	for _, c := range seedCases() {
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
