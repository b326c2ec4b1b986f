package bpf

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/afxdp/afxdp/internal/fibtest"
	"github.com/afxdp/afxdp/internal/pkt"
	"github.com/afxdp/afxdp/internal/priv"
)

const (
	xdpDrop = 1
	xdpPass = 2
)

var (
	serverMAC = fibtest.ServerMAC
	bridgeMAC = [6]byte{0x02, 0, 0, 0, 0, 0xb1}
	clientMAC = fibtest.ClientMAC
	server4   = fibtest.Server4
	client4   = fibtest.Client4
	server6   = fibtest.Server6
	client6   = fibtest.Client6
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

// host is a loaded filter and the namespace its test runs look routes up
// in (fibtest.Standard).
type host struct {
	*Filter
	fx *fibtest.Fixture
}

// run test-runs the program inside the namespace, the frame arriving on
// srv.
func (h *host) run(opts *ebpf.RunOptions) (uint32, error) {
	return h.fx.Run(h.Program(), opts)
}

func loadServing(t *testing.T) *host {
	t.Helper()
	f := loadHost(t)
	for _, a := range []netip.Addr{server4, server6} {
		if err := f.Serve(a, 53); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// loadHost makes the namespace, loads the filter and tells it what user
// space would: the MACs, local addresses and delivering devices
// (testDevices).
func loadHost(tb testing.TB) *host {
	tb.Helper()
	priv.Require(tb)
	fx := fibtest.New(tb, fibtest.Standard())
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
	if err := f.SetDevices(devicesOf(fx)); err != nil {
		tb.Fatal(err)
	}
	return &host{f, fx}
}

// devicesOf is testDevices with the namespace's ifindexes.
func devicesOf(fx *fibtest.Fixture) Devices {
	d := Devices{}
	for _, t := range testDevices {
		d[t.tag] = Device{Index: fx.Index(t.dev), MAC: t.mac, Bridge: t.bridge}
	}
	return d
}

// run test-runs the program once on frame and returns its verdict and the
// one counter that moved; it fails if none or several moved.
func run(t *testing.T, f *host, frame []byte) (uint32, Counter) {
	t.Helper()
	before, err := f.Counters()
	if err != nil {
		t.Fatal(err)
	}
	ret, err := f.run(&ebpf.RunOptions{Data: frame, Repeat: 1})
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
// parsing and routing outcome and the edges between them) once and checks
// the verdict and the one counter that moved. With no socket bound, a
// frame that would be redirected is passed and counted as no_socket: that
// proves it got through every check.
func TestFilterVerdicts(t *testing.T) {
	f := loadModelFilter(t)
	for _, c := range seedCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.noFwd {
				f.fx.SetForwarding(t, false)
				defer f.fx.SetForwarding(t, true)
			}
			ret, got := run(t, f, c.frame)
			if want := modelVerdict(c.want); ret != want {
				t.Errorf("verdict %d, want %d", ret, want)
			}
			if got != c.want {
				t.Errorf("counted as %s, want %s", got, c.want)
			}
		})
	}
}

// TestPolicyRules: a policy rule of the user's (replies from the served
// address to the client leave by oth) is followed from the next query
// on, as the kernel's own reply would follow it.
func TestPolicyRules(t *testing.T) {
	f := loadServing(t)
	bindSocket(t, f.Filter)
	f.fx.Exec(t, "route", "add", client4.String()+"/32", "via", "198.18.1.2", "dev", "oth", "table", "100")
	f.fx.Exec(t, "-6", "route", "add", client6.String()+"/128", "via", "fd00:1::2", "dev", "oth", "table", "100")
	expect(t, f, query4(nil), xdpRedirect, Redirect)
	expect(t, f, query6(nil), xdpRedirect, Redirect)
	f.fx.Exec(t, "rule", "add", "from", server4.String(), "lookup", "100", "pref", "100")
	f.fx.Exec(t, "-6", "rule", "add", "from", server6.String(), "lookup", "100", "pref", "100")
	expect(t, f, query4(nil), xdpPass, PassElsewhere)
	expect(t, f, query6(nil), xdpPass, PassElsewhere)
	f.fx.Exec(t, "rule", "del", "pref", "100")
	f.fx.Exec(t, "-6", "rule", "del", "pref", "100")
	expect(t, f, query4(nil), xdpRedirect, Redirect)
	expect(t, f, query6(nil), xdpRedirect, Redirect)
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
