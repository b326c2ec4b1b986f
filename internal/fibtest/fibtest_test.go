package fibtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/afxdp/afxdp/internal/priv"
)

const self = "github.com/afxdp/afxdp/internal/fibtest"

// TestTestsOnly: no package's own code depends on this one (tests may).
func TestTestsOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/afxdp/afxdp/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] == self {
			continue
		}
		n++
		if slices.Contains(f[1:], self) {
			t.Errorf("%s depends on %s, which is for tests only", f[0], self)
		}
	}
	if n < 5 {
		t.Fatalf("go list found %d packages: it did not list the module", n)
	}
}

// TestStandard: the kernel holds the routes FIB lists for the standard
// table, no more, and its neighbours.
func TestStandard(t *testing.T) {
	priv.Require(t)
	tab := Standard()
	f := New(t, tab)
	var want []string
	for _, r := range tab.FIB() {
		want = append(want, r.String())
	}
	got := f.Kernel(t)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the kernel's routes:\n\t%s\nthe table's:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	wantN, gotN := tab.NeighStrings(), f.KernelNeighs(t)
	slices.Sort(wantN)
	slices.Sort(gotN)
	if !slices.Equal(gotN, wantN) {
		t.Errorf("the kernel's neighbours:\n\t%s\nthe table's:\n\t%s", strings.Join(gotN, "\n\t"), strings.Join(wantN, "\n\t"))
	}
	for _, l := range tab.Links {
		if f.Index(l.Name) <= 1 {
			t.Errorf("%s: ifindex %d", l.Name, f.Index(l.Name))
		}
	}
}

// The FIB helper's return codes (enum bpf_fib_lookup's BPF_FIB_LKUP_RET_*).
const (
	retSuccess     = 0
	retBlackhole   = 1
	retUnreachable = 2
	retProhibit    = 3
	retNotFwded    = 4
	retFwdDisabled = 5
	retNoNeigh     = 7
)

// probe is an XDP program that reads a struct bpf_fib_lookup from the
// frame's first 64 bytes, calls bpf_fib_lookup on it (flags 0, as the
// filter does) and writes it back, the return code behind it.
func probe(t *testing.T) *ebpf.Program {
	t.Helper()
	// frame: R2 = data, and out unless 72 bytes are there (re-proven after
	// the call, which invalidates packet pointers).
	frame := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 72),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
	}
	// copy64 moves 64 bytes from src+0 to dst+off, a word at a time.
	copy64 := func(src asm.Register, srcOff int16, dst asm.Register, dstOff int16) (out asm.Instructions) {
		for i := int16(0); i < 64; i += 8 {
			out = append(out, asm.LoadMem(asm.R5, src, srcOff+i, asm.DWord), asm.StoreMem(dst, dstOff+i, asm.R5, asm.DWord))
		}
		return out
	}
	ins := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	ins = append(ins, frame...)
	ins = append(ins, copy64(asm.R2, 0, asm.RFP, -64)...)
	ins = append(ins,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -64),
		asm.Mov.Imm(asm.R3, 64),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnFibLookup.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
	)
	ins = append(ins, frame...)
	ins = append(ins, copy64(asm.RFP, -64, asm.R2, 0)...)
	ins = append(ins,
		asm.StoreMem(asm.R2, 64, asm.R7, asm.DWord),
		asm.Mov.Imm(asm.R0, 2),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, Instructions: ins, License: "GPL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// lookup is what the helper says of the reply from src (a served
// address) to dst.
type lookup struct {
	rc      int64
	ifindex int
	mtu     int
	dmac    [6]byte
	nextHop netip.Addr // the destination the helper left: the gateway if any
}

func (l lookup) String() string {
	return fmt.Sprintf("rc %d ifindex %d next hop %s MAC %x MTU %d", l.rc, l.ifindex, l.nextHop, l.dmac, l.mtu)
}

func (f *Fixture) lookup(t *testing.T, prog *ebpf.Program, src, dst netip.Addr) lookup {
	t.Helper()
	in := make([]byte, 72)
	in[1] = 17 // UDP
	binary.BigEndian.PutUint16(in[2:], 53)
	binary.BigEndian.PutUint16(in[4:], 40000)
	binary.NativeEndian.PutUint32(in[8:], 1) // from loopback
	if src.Is4() {
		in[0] = 2
		s, d := src.As4(), dst.As4()
		copy(in[16:], s[:])
		copy(in[32:], d[:])
	} else {
		in[0] = 10
		s, d := src.As16(), dst.As16()
		copy(in[16:], s[:])
		copy(in[32:], d[:])
	}
	out := make([]byte, len(in))
	ret, err := f.Run(prog, &ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil || ret != 2 {
		t.Fatalf("probe: %d, %v", ret, err)
	}
	l := lookup{
		rc:      int64(binary.NativeEndian.Uint64(out[64:])),
		ifindex: int(binary.NativeEndian.Uint32(out[8:])),
		mtu:     int(binary.NativeEndian.Uint16(out[6:])),
		dmac:    [6]byte(out[58:64]),
	}
	if src.Is4() {
		l.nextHop = netip.AddrFrom4([4]byte(out[32:36]))
	} else {
		l.nextHop = netip.AddrFrom16([16]byte(out[32:48]))
	}
	return l
}

// TestHelper pins down what bpf_fib_lookup (flags 0, from loopback, as
// the filter asks) answers in the standard table on this kernel, the
// facts the program and its model build on: the outcome for each kind of
// route, the device and next hop, the neighbour's MAC and the MTU.
func TestHelper(t *testing.T) {
	priv.Require(t)
	f := New(t, Standard())
	prog := probe(t)
	srv, oth := f.Index("srv"), f.Index("oth")
	type want struct {
		rc      int64
		ifindex int // 0: not looked at
		nextHop netip.Addr
		dmac    [6]byte
		mtu     int
	}
	for _, c := range []struct {
		dst  netip.Addr
		want want
	}{
		{Client4, want{retSuccess, srv, Client4, ClientMAC, LinkMTU}},
		{Client6, want{retSuccess, srv, Client6, ClientMAC, LinkMTU}},
		{Via4, want{retSuccess, srv, Router4, RouterMAC, LinkMTU}},
		{Via6, want{retSuccess, srv, Router6, RouterMAC, LinkMTU}},
		{addr("198.19.1.1"), want{retSuccess, srv, Router4, RouterMAC, LinkMTU}}, // the default route
		{Elsewhere4, want{retSuccess, oth, addr("198.18.1.2"), OtherRouterMAC, LinkMTU}},
		{Elsewhere6, want{retSuccess, oth, addr("fd00:1::2"), OtherRouterMAC, LinkMTU}},
		{SmallMTU4, want{retSuccess, srv, Router4, RouterMAC, SmallMTU}},
		{SmallMTU6, want{retSuccess, srv, Router6, RouterMAC, SmallMTU}},
		{NoNeigh4, want{rc: retNoNeigh, ifindex: srv, nextHop: NoNeigh4}},
		{NoNeigh6, want{rc: retNoNeigh, ifindex: srv, nextHop: NoNeigh6}},
		{ViaGone4, want{rc: retNoNeigh, ifindex: srv, nextHop: Gone4}},
		{ViaGone6, want{rc: retNoNeigh, ifindex: srv, nextHop: Gone6}},
		{ViaGoneOth4, want{rc: retNoNeigh, ifindex: oth, nextHop: GoneOther4}},
		{ViaGoneOth6, want{rc: retNoNeigh, ifindex: oth, nextHop: GoneOther6}},
		{Unreach4, want{rc: retUnreachable}},
		{Unreach6, want{rc: retUnreachable}},
		{Blackhole4, want{rc: retBlackhole}},
		{Blackhole6, want{rc: retBlackhole}},
		{Prohibit4, want{rc: retProhibit}},
		{Prohibit6, want{rc: retProhibit}},
		{Throw4, want{rc: retNotFwded}},
		{Throw6, want{rc: retNotFwded}},
		{addr("fd00:ff::1"), want{rc: retNotFwded}}, // no IPv6 route at all
		{Server4, want{rc: retNotFwded}},            // local
		{Other6, want{rc: retNotFwded}},
		{addr("198.18.1.255"), want{rc: retNotFwded}}, // directed broadcast
		{addr("fe80::1"), want{rc: retNotFwded}},      // link-local: never forwarded
	} {
		src := Server4
		if c.dst.Is6() {
			src = Server6
		}
		got := f.lookup(t, prog, src, c.dst)
		w := c.want
		if got.rc != w.rc || w.ifindex != 0 && got.ifindex != w.ifindex ||
			w.nextHop.IsValid() && got.nextHop != w.nextHop || w.rc == retSuccess && (got.dmac != w.dmac || got.mtu != w.mtu) {
			t.Errorf("%s: %s, want %s", c.dst, got, lookup{w.rc, w.ifindex, w.mtu, w.dmac, w.nextHop})
		}
	}

	// An unlocked route MTU is not the helper's: it reports the device's,
	// though the kernel's own output path would use the route's (and so it
	// does with net.ipv4.ip_forward_use_pmtu=1, for IPv4).
	f.Exec(t, "route", "add", "198.18.12.0/24", "via", Router4.String(), "dev", "srv", "mtu", fmt.Sprint(SmallMTU))
	f.Exec(t, "route", "add", "fd00:12::/64", "via", Router6.String(), "dev", "srv", "mtu", fmt.Sprint(SmallMTU))
	for _, dst := range []netip.Addr{addr("198.18.12.1"), addr("fd00:12::1")} {
		src := Server4
		if dst.Is6() {
			src = Server6
		}
		if got := f.lookup(t, prog, src, dst); got.rc != retSuccess || got.mtu != LinkMTU {
			t.Errorf("%s behind an unlocked route MTU: %s, want success with the link's %d", dst, got, LinkMTU)
		}
	}
	f.NS.Run("sysctl", "-q", "-w", "net.ipv4.ip_forward_use_pmtu=1")
	if got := f.lookup(t, prog, Server4, addr("198.18.12.1")); got.rc != retSuccess || got.mtu != SmallMTU {
		t.Errorf("with ip_forward_use_pmtu: %s, want the route's MTU %d", got, SmallMTU)
	}

	// Forwarding off on loopback: no lookup at all.
	f.SetForwarding(t, false)
	for _, dst := range []netip.Addr{Client4, Client6} {
		src := Server4
		if dst.Is6() {
			src = Server6
		}
		if got := f.lookup(t, prog, src, dst); got.rc != retFwdDisabled {
			t.Errorf("%s, forwarding off: %s, want FWD_DISABLED", dst, got)
		}
	}
}
